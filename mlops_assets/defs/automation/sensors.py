"""The two sensors that close the loop in `dagster-daemon` with no human:

- `landing_sensor`: a batch file appears in the landing folder -> `new_batch_job` for it
  (ingest, features, score, drift report); contiguous new batches go into one run.
- `drift_retrain_sensor`: a drift check fails on enough consecutive batches -> `train_job`
  (a challenger on a recent window, compared with the champion, promoted only if better).

Both are thin: the decisions are pure functions (`core.retrain_policy`, `new_batch_ranges`).
"""

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from mlops_assets.core.check_names import (
    META_BATCHES,
    META_DRIFTED_BATCHES,
    META_DRIFTED_FEATURES,
    META_OUT_OF_BOUNDS,
    RETRAIN_TRIGGER_CHECKS,
)
from mlops_assets.core.retrain_policy import (
    CheckEvaluation,
    RetrainPolicy,
    RetrainState,
    decide_retrain,
)
from mlops_assets.defs.ingest.landing import BATCH_SUFFIXES, LandingResource
from mlops_assets.defs.partitions import range_tags

TRIGGER_CHECKS = RETRAIN_TRIGGER_CHECKS
HISTORY_PAGE = 100  # check evaluations read per storage call


@dataclass(frozen=True)
class AutomationSettings:
    """Set from the environment in definitions.py (see README, "Automation")."""

    interval_seconds: int = 30
    retrain_train_days: int = 30
    retrain_eval_days: int = 7
    policy: RetrainPolicy = field(default_factory=RetrainPolicy)


def automation_settings_from_env(
    environ: Mapping[str, str] = os.environ,
) -> AutomationSettings:
    """Sensor settings (sensors take no run config, so they are set where the code loads)."""
    defaults = AutomationSettings()
    return AutomationSettings(
        interval_seconds=int(environ.get("MLOPS_ASSETS_SENSOR_INTERVAL_SECONDS",
                                         defaults.interval_seconds)),
        retrain_train_days=int(environ.get("MLOPS_ASSETS_RETRAIN_TRAIN_DAYS",
                                           defaults.retrain_train_days)),
        retrain_eval_days=int(environ.get("MLOPS_ASSETS_RETRAIN_EVAL_DAYS",
                                          defaults.retrain_eval_days)),
        policy=RetrainPolicy(
            min_drifted_batches=int(environ.get("MLOPS_ASSETS_RETRAIN_MIN_DRIFTED_BATCHES",
                                                defaults.policy.min_drifted_batches)),
            cooldown_seconds=float(environ.get("MLOPS_ASSETS_RETRAIN_COOLDOWN_SECONDS",
                                               defaults.policy.cooldown_seconds)),
        ),
    )


def new_batch_ranges(new_keys: set[str], ordered_keys: list[str]) -> list[tuple[str, str]]:
    """Group new partition keys into runs of consecutive batches (one run per range)."""
    ranges: list[tuple[str, str]] = []
    start = prev = None
    position = {k: i for i, k in enumerate(ordered_keys)}
    for key in sorted(new_keys, key=position.__getitem__):
        if prev is not None and position[key] == position[prev] + 1:
            prev = key
            continue
        if start is not None:
            ranges.append((start, prev))
        start = prev = key
    if start is not None:
        ranges.append((start, prev))
    return ranges


def build_sensors(
    dataset: str,
    partitions_def: dg.PartitionsDefinition,
    settings: AutomationSettings,
) -> list[dg.SensorDefinition]:
    @dg.sensor(
        name="landing_sensor",
        job_name="new_batch_job",
        minimum_interval_seconds=settings.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Launches new_batch_job for new files in <landing>/{dataset}/.",
    )
    def landing_sensor(
        context: dg.SensorEvaluationContext, landing: LandingResource
    ) -> dg.SensorResult | dg.SkipReason:
        seen: dict[str, int] = json.loads(context.cursor or "{}")
        folder = landing.dataset_dir(dataset)
        valid = set(partitions_def.get_partition_keys())
        current: dict[str, int] = {}
        ignored = []
        if folder.is_dir():
            for path in folder.iterdir():
                if path.suffix.lower() not in BATCH_SUFFIXES or not path.is_file():
                    continue
                if path.stem not in valid:
                    ignored.append(path.name)
                    continue
                current[path.stem] = path.stat().st_mtime_ns
        new = {k for k, mtime in current.items() if seen.get(k) != mtime}
        if ignored:
            context.log.warning(f"ignoring files that name no batch of {dataset}: {ignored[:5]}")
        if not new:
            return dg.SkipReason(f"no new batch files in {folder}")
        requests = [
            dg.RunRequest(
                run_key=f"landing-{start}-{end}-{max(current[k] for k in new)}",
                tags={**range_tags(start, end), "mlops/trigger": "landing_sensor",
                      "mlops/batches": f"{start}..{end}"},
            )
            for start, end in new_batch_ranges(new, partitions_def.get_partition_keys())
        ]
        return dg.SensorResult(run_requests=requests, cursor=json.dumps({**seen, **current}))

    @dg.sensor(
        name="drift_retrain_sensor",
        job_name="train_job",
        minimum_interval_seconds=settings.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launches train_job (challenger vs champion) when drift checks fail on "
        f"{settings.policy.min_drifted_batches}+ consecutive batches, at most once per "
        f"{settings.policy.cooldown_seconds:.0f} s.",
    )
    def drift_retrain_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        state = RetrainState.from_dict(json.loads(context.cursor) if context.cursor else None)
        evaluations = [
            ev for check in TRIGGER_CHECKS
            for ev in _new_evaluations(context.instance, check, state.seen.get(check, 0))
        ]
        state, request, reason = decide_retrain(state, evaluations, time.time(), settings.policy)
        cursor = json.dumps(state.to_dict())
        if request is None:
            return dg.SensorResult(skip_reason=reason, cursor=cursor)
        context.log.info(f"requesting a retrain: {request.reason}")
        run = dg.RunRequest(
            run_key=request.run_key,
            run_config={"ops": {"model": {"config": {
                "train_days": settings.retrain_train_days,
                "eval_days": settings.retrain_eval_days,
            }}}},
            tags={
                "mlops/trigger": "drift_retrain_sensor",
                "mlops/reason": request.reason[:200],
                "mlops/check": request.check,
                "mlops/batches": ",".join(request.batches)[:200],
                "mlops/drifted_features": ",".join(request.drifted_features)[:200],
            },
        )
        return dg.SensorResult(run_requests=[run], cursor=cursor)

    return [landing_sensor, drift_retrain_sensor]


def _history_since(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, after_id: int, page: int
) -> list:
    """Every execution record of `key` newer than `after_id`, newest first, page by page (a
    burst of evaluations between two ticks is never cut at a page size). Dagster 1.13 has no
    public instance method for a check's history (only the latest record), so this one place
    reads the event log storage, through its documented cursor."""
    out: list = []
    cursor: int | None = None
    while True:
        records = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=page, cursor=cursor
        )
        fresh = [r for r in records if r.id > after_id]
        out += fresh
        if len(records) < page or len(fresh) < len(records):
            return out
        cursor = records[-1].id


def _new_evaluations(
    instance: dg.DagsterInstance, check: str, after_id: int, page: int = HISTORY_PAGE
) -> list[CheckEvaluation]:
    """Completed evaluations of a drift check newer than `after_id` (the check history, so an
    evaluation between two ticks is never missed)."""
    key = dg.AssetCheckKey(dg.AssetKey("drift_report"), check)
    out = []
    for record in _history_since(instance, key, after_id, page):
        evaluation = record.evaluation
        # The history also holds planned (not yet run) evaluations: skip them.
        if record.id <= after_id or not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue
        meta = {k: v.value for k, v in evaluation.metadata.items()}
        out.append(CheckEvaluation(
            record_id=record.id,
            check=check,
            passed=evaluation.passed,
            batches=list(meta.get(META_BATCHES) or []),
            drifted_batches=list(meta.get(META_DRIFTED_BATCHES) or
                                 sorted((meta.get(META_OUT_OF_BOUNDS) or {}).keys())),
            drifted_features=dict(meta.get(META_DRIFTED_FEATURES) or {}),
            run_id=record.run_id,
        ))
    return out
