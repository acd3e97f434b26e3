"""Jobs: named selections of the asset graph, runnable from the UI and `dagster job execute`.

Batch-partitioned jobs take one batch (`--tags '{"dagster/partition": "2013-11-01"}'`) or a range
in a single run (`dagster/asset_partition_range_start` / `_end` tags; see README). They run in
process: on a laptop, a process per step costs more than the steps themselves.
"""

import dagster as dg

hello_job = dg.define_asset_job(
    "hello_job",
    selection=dg.AssetSelection.groups("hello"),
    description="Write greetings on a run branch, audit them, merge into main.",
    executor_def=dg.in_process_executor,
)


def build_pipeline_jobs(dataset: str) -> list:
    def job(name: str, assets: list[str], description: str):  # -> an unresolved asset job
        return dg.define_asset_job(
            name,
            selection=dg.AssetSelection.assets(*assets),
            description=description,
            executor_def=dg.in_process_executor,
        )

    return [
        job(
            "ingest_job",
            ["raw_batch", "validated_batch"],
            f"Land {dataset} batches on a run branch, audit them, publish them to main.",
        ),
        job("features_job", ["features"], "(Re)build the feature table for batches."),
        job(
            "train_job",
            ["model", "evaluation"],
            "Train a model on published features and evaluate it on later batches.",
        ),
        job("score_job", ["predictions"], "Score batches with the current model."),
        # The job the README's first command runs: the platform's whole current capability.
        job(
            "main_job",
            ["raw_batch", "validated_batch", "features", "model", "evaluation", "predictions"],
            f"Everything on {dataset}: ingest, features, train, evaluate, score.",
        ),
    ]
