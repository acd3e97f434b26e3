"""The code location: assembles assets, checks, jobs and resources (from mlops_assets.defs).

One code location serves every dataset spec it is given (core.spec.specs_from_env): each *.yaml
in MLOPS_ASSETS_DATASETS_DIR and each entry of MLOPS_ASSETS_DATASET (comma-separated bundled
names or paths); default nycflights13 alone. Onboarding a dataset is a spec file, not code.
Each dataset is its own group of `<dataset>/...` assets with its own jobs and sensors
(defs/naming.py): two datasets never share a check history, a sensor or a job.

A plain factory rather than Dagster components: a spec is already a validated YAML document with
its own loader (used by the CLI and tests without Dagster), and one environment variable picks
the specs; a component per YAML would duplicate that schema in a `defs.yaml` per dataset.
"""

import warnings
from collections.abc import Sequence

import dagster as dg

from mlops_assets.core.spec import DEFAULT_DATASET, DatasetSpec, specs_from_env
from mlops_assets.defs import hello
from mlops_assets.defs.automation.sensors import (
    AutomationSettings,
    automation_settings_from_env,
    sensors_for_spec,
)
from mlops_assets.defs.features.assets import build_features_asset
from mlops_assets.defs.ingest.assets import build_ingest_assets
from mlops_assets.defs.ingest.checks import build_batch_checks
from mlops_assets.defs.jobs import LOCATION_RUN_TAGS, build_pipeline_jobs, hello_job
from mlops_assets.defs.monitoring.assets import build_drift_report_asset
from mlops_assets.defs.partitions import batch_partitions
from mlops_assets.defs.resources import lakefs_resource_from_env, landing_resource_from_env
from mlops_assets.defs.scoring.assets import build_predictions_asset
from mlops_assets.defs.serving import build_serving_status_asset
from mlops_assets.defs.training.assets import build_training_assets
from mlops_assets.defs.wap_prune import build_abandoned_branch_sensor

__all__ = ["DEFAULT_DATASET", "build_definitions", "build_pipeline", "defs"]

# Single-run backfills (one run per batch range) are beta in Dagster 1.13; we rely on them on
# purpose, so the warning would only be noise on every command.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)


def build_pipeline(
    spec: DatasetSpec, automation: AutomationSettings | None = None, scoped: bool = False
) -> dg.Definitions:
    """The lifecycle graph of one dataset: raw -> validated -> features -> model -> evaluation
    -> predictions -> drift reports; `scoped` names its jobs and sensors after the dataset."""
    partitions_def = batch_partitions(spec)
    raw_batch, validated_batch = build_ingest_assets(spec, partitions_def)
    features = build_features_asset(spec, partitions_def, validated_batch)
    model, reference_summary, evaluation, model_card, champion = build_training_assets(
        spec, features
    )
    predictions = build_predictions_asset(spec, partitions_def, features, champion)
    drift_report = build_drift_report_asset(spec, partitions_def, predictions, champion)
    return dg.Definitions(
        assets=[raw_batch, validated_batch, features, model, reference_summary, evaluation,
                model_card, champion, predictions, drift_report, build_serving_status_asset(spec)],
        asset_checks=[build_batch_checks(spec, partitions_def, raw_batch)],
        jobs=build_pipeline_jobs(spec.name, scoped),
        sensors=sensors_for_spec(spec, automation or AutomationSettings(), scoped),
    )


def build_definitions(
    specs: DatasetSpec | Sequence[DatasetSpec],
    resources: dict | None = None,
    automation: AutomationSettings | None = None,
) -> dg.Definitions:
    """Every dataset's pipeline, the hello graph, the shared sensors and resources. With one
    dataset its jobs and sensors keep their bare names (`main_job`); with several they are
    `<dataset>__main_job`."""
    specs = [specs] if isinstance(specs, DatasetSpec) else list(specs)
    scoped = len(specs) > 1
    hello_defs = dg.Definitions(
        assets=dg.load_assets_from_modules([hello]),
        asset_checks=dg.load_asset_checks_from_modules([hello]),
        jobs=[hello_job],
    )
    return dg.Definitions.merge(
        hello_defs,
        *(build_pipeline(spec, automation, scoped) for spec in specs),
        dg.Definitions(
            # one per code location, for every run of its jobs
            sensors=[build_abandoned_branch_sensor(
                LOCATION_RUN_TAGS[".dagster/repository"],
                (automation or AutomationSettings()).interval_seconds)],
            resources=resources
            or {"lakefs": lakefs_resource_from_env(), "landing": landing_resource_from_env()}
        ),
    )


defs = build_definitions(specs_from_env(), automation=automation_settings_from_env())
