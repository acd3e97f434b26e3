"""Jobs: named selections of the asset graph, runnable from the UI and `dagster job execute`.

Batch-partitioned jobs take one batch (`--tags '{"dagster/partition": "2013-11-01"}'`) or a range
in a single run (`dagster/asset_partition_range_start` / `_end` tags; see README). They run in
process: on a laptop, a process per step costs more than the steps themselves.
"""

import os

import dagster as dg

from mlops_assets.defs.naming import asset_key, scoped_name

# The UI lists a job's runs by job name AND the run tag `.dagster/repository` =
# `<repository>@<code location>`. Runs the UI or the daemon launch get it from their origin; runs
# of `dagster job execute -m mlops_assets.definitions` (the README's CLI path, the demo) have no
# origin, so they would show under /runs only. Every job carries the label of the workspace's
# location (workspace.yaml: `mlops_assets`; set MLOPS_ASSETS_CODE_LOCATION if yours differs:
# a run's own tags win over the origin's).
CODE_LOCATION = os.environ.get("MLOPS_ASSETS_CODE_LOCATION") or "mlops_assets"
LOCATION_RUN_TAGS = {".dagster/repository": f"__repository__@{CODE_LOCATION}"}


hello_job = dg.define_asset_job(
    "hello_job",
    selection=dg.AssetSelection.groups("hello"),
    description="Write greetings on a run branch, audit them, merge into main.",
    executor_def=dg.in_process_executor,
    run_tags=LOCATION_RUN_TAGS,
)


# The stages of the lifecycle, as asset names within a dataset (keys are `<dataset>/<name>`).
INGEST = ["raw_batch", "validated_batch"]
FEATURES = ["features"]
TRAIN = ["model", "reference_summary", "evaluation", "model_card", "champion"]
SCORE = ["predictions"]
MONITOR = ["drift_report"]


def build_pipeline_jobs(dataset: str, scoped: bool = False) -> list:
    """The dataset's jobs; `scoped` (several datasets in the code location) prefixes their names
    with the dataset (defs/naming.py)."""

    def job(name: str, assets: list[str], description: str):  # -> an unresolved asset job
        return dg.define_asset_job(
            scoped_name(dataset, name, scoped),
            selection=dg.AssetSelection.assets(*(asset_key(dataset, a) for a in assets)),
            description=description,
            executor_def=dg.in_process_executor,
            run_tags=LOCATION_RUN_TAGS,
        )

    return [
        job("ingest_job", INGEST,
            f"Land {dataset} batches on a run branch, audit them, publish them to main."),
        job("features_job", FEATURES, f"(Re)build the {dataset} feature table for batches."),
        job("train_job", TRAIN,
            f"Train a {dataset} challenger on published features, evaluate it on later "
            "batches, and promote it only if it beats the champion."),
        job("score_job", SCORE, f"Score {dataset} batches with the champion model."),
        # The job the README's first command runs: the platform's whole current capability.
        job("main_job", INGEST + FEATURES + TRAIN + SCORE + MONITOR,
            f"Everything on {dataset}: ingest, features, train, evaluate, promote, score, "
            "drift reports."),
        job("monitor_job", MONITOR, f"Drift reports of {dataset} batches against the champion."),
        # What the landing sensor launches for newly arrived batches.
        job("new_batch_job", INGEST + FEATURES + SCORE + MONITOR,
            f"A new {dataset} batch end to end: ingest, features, score, drift report."),
    ]
