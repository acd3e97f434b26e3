"""The code location: assembles assets, checks, jobs and resources (from mlops_assets.defs).

One dataset per code location, chosen by MLOPS_ASSETS_DATASET (a bundled spec name or a path to
a spec YAML; default nycflights13): onboarding a dataset is a spec file, not code.
"""

import os
import warnings

import dagster as dg

from mlops_assets.core.spec import DatasetSpec, load_spec
from mlops_assets.defs import hello
from mlops_assets.defs.automation.sensors import (
    AutomationSettings,
    automation_settings_from_env,
    build_sensors,
)
from mlops_assets.defs.features.assets import build_features_asset
from mlops_assets.defs.ingest.assets import build_ingest_assets
from mlops_assets.defs.ingest.checks import build_batch_checks
from mlops_assets.defs.jobs import build_pipeline_jobs, hello_job
from mlops_assets.defs.monitoring.assets import build_drift_report_asset
from mlops_assets.defs.partitions import batch_partitions
from mlops_assets.defs.resources import lakefs_resource_from_env, landing_resource_from_env
from mlops_assets.defs.scoring.assets import build_predictions_asset
from mlops_assets.defs.serving import build_serving_status_asset
from mlops_assets.defs.training.assets import build_training_assets
from mlops_assets.defs.wap_prune import report_abandoned_run_branches

DEFAULT_DATASET = "nycflights13"

# Single-run backfills (one run per batch range) are beta in Dagster 1.13; we rely on them on
# purpose, so the warning would only be noise on every command.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)


def build_pipeline(
    spec: DatasetSpec, automation: AutomationSettings | None = None
) -> dg.Definitions:
    """The lifecycle graph of one dataset: raw -> validated -> features -> model -> evaluation
    -> predictions."""
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
        jobs=build_pipeline_jobs(spec.name),
        sensors=[*build_sensors(spec.name, partitions_def, automation or AutomationSettings()),
                 report_abandoned_run_branches],
    )


def build_definitions(
    spec: DatasetSpec,
    resources: dict | None = None,
    automation: AutomationSettings | None = None,
) -> dg.Definitions:
    hello_defs = dg.Definitions(
        assets=dg.load_assets_from_modules([hello]),
        asset_checks=dg.load_asset_checks_from_modules([hello]),
        jobs=[hello_job],
    )
    return dg.Definitions.merge(
        hello_defs,
        build_pipeline(spec, automation),
        dg.Definitions(
            resources=resources
            or {"lakefs": lakefs_resource_from_env(), "landing": landing_resource_from_env()}
        ),
    )


defs = build_definitions(
    load_spec(os.environ.get("MLOPS_ASSETS_DATASET") or DEFAULT_DATASET),
    automation=automation_settings_from_env(),
)
