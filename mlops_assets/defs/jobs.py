"""Jobs: named selections of the asset graph, runnable from the UI and `dagster job execute`.

Batch-partitioned jobs take one batch (`--tags '{"dagster/partition": "2013-11-01"}'`) or a range
in a single run (`dagster/asset_partition_range_start` / `_end` tags; see README). They run in
process: on a laptop, a process per step costs more than the steps themselves.
"""

import os

import dagster as dg

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


# The stages of the lifecycle, as asset names (one dataset per code location).
INGEST = ["raw_batch", "validated_batch"]
FEATURES = ["features"]
TRAIN = ["model", "reference_summary", "evaluation", "model_card", "champion"]
SCORE = ["predictions"]
MONITOR = ["drift_report"]


def build_pipeline_jobs(dataset: str) -> list:
    def job(name: str, assets: list[str], description: str):  # -> an unresolved asset job
        return dg.define_asset_job(
            name,
            selection=dg.AssetSelection.assets(*assets),
            description=description,
            executor_def=dg.in_process_executor,
            run_tags=LOCATION_RUN_TAGS,
        )

    return [
        job("ingest_job", INGEST,
            f"Land {dataset} batches on a run branch, audit them, publish them to main."),
        job("features_job", FEATURES, "(Re)build the feature table for batches."),
        job("train_job", TRAIN,
            "Train a challenger on published features, evaluate it on later batches, and "
            "promote it only if it beats the champion."),
        job("score_job", SCORE, "Score batches with the champion model."),
        # The job the README's first command runs: the platform's whole current capability.
        job("main_job", INGEST + FEATURES + TRAIN + SCORE + MONITOR,
            f"Everything on {dataset}: ingest, features, train, evaluate, promote, score, "
            "drift reports."),
        job("monitor_job", MONITOR, "Drift reports of batches against the champion."),
        # What the landing sensor launches for newly arrived batches.
        job("new_batch_job", INGEST + FEATURES + SCORE + MONITOR,
            "A new batch end to end: ingest, features, score, drift report."),
    ]
