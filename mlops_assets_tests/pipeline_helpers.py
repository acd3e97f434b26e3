"""Helpers for running the dataset pipeline in tests against the real lakeFS."""

from pathlib import Path

import dagster as dg

from mlops_assets.core.spec import load_spec
from mlops_assets.definitions import build_definitions
from mlops_assets.partitions import range_tags
from mlops_assets.resources.lakefs import LakeFSResource
from mlops_assets.resources.landing import LandingResource

# Tiny models: the tests check behaviour, not quality.
FAST_TRAINING = {"max_epochs": 3, "train_days": 20, "eval_days": 3, "hidden_sizes": [8]}


def pipeline_definitions(lakefs: LakeFSResource, landing_dir: Path, dataset: str = "synthetic"):
    return build_definitions(
        load_spec(dataset),
        resources={"lakefs": lakefs, "landing": LandingResource(path=str(landing_dir))},
    )


def run_job(
    defs: dg.Definitions,
    job_name: str,
    start: str | None = None,
    end: str | None = None,
    instance: dg.DagsterInstance | None = None,
    training: dict | None = None,
    ops_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(job_name)
    ops = {name: {"config": config} for name, config in (ops_config or {}).items()}
    if any(node.name == "model" for node in job.nodes_in_topological_order):
        ops["model"] = {"config": {**FAST_TRAINING, **(training or {})}}
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags=range_tags(start, end or start) if start else None,
        run_config={"ops": ops} if ops else None,
        raise_on_error=False,
    )


def failure_messages(result: dg.ExecuteInProcessResult) -> str:
    """Every step failure and failed check description of a run, as one string."""
    parts = [
        event.step_failure_data.error.message
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data.error
    ]
    parts += [
        evaluation.description or ""
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed
    ]
    return "\n".join(parts)
