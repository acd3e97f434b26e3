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
from dataclasses import dataclass, field, replace
from pathlib import Path

import dagster as dg

from mlops_assets.core.batch_keys import key_problem
from mlops_assets.core.check_names import (
    META_DRIFTED_FEATURES,
    META_VERDICTS,
    RETRAIN_TRIGGER_CHECKS,
)
from mlops_assets.core.retrain_policy import RetrainPolicy, plan_retrain
from mlops_assets.core.spec import DatasetSpec, resolve_monitoring
from mlops_assets.defs.automation.state import DRIFT_EVENT_TAG, SensorState
from mlops_assets.defs.ingest.landing import BATCH_SUFFIXES, LandingResource
from mlops_assets.defs.naming import asset_key, op_name, scoped_name
from mlops_assets.defs.partitions import batch_partitions, range_tags

TRIGGER_CHECKS = RETRAIN_TRIGGER_CHECKS
HISTORY_PAGE = 100  # check evaluations read per storage call
# Only for AutomationSettings built without windows (tests); the code location resolves them.
DEFAULT_TRAIN_BATCHES, DEFAULT_EVAL_BATCHES = 30, 7


@dataclass(frozen=True)
class AutomationSettings:
    """Set from the environment in definitions.py (see README, "Automation"). The retrain
    windows are in batches; None: the dataset's own (its spec's `monitoring`, adapted to its
    batch size; see `settings_for_dataset`)."""

    interval_seconds: int = 30
    retrain_train_days: int | None = None
    retrain_eval_days: int | None = None
    policy: RetrainPolicy = field(default_factory=RetrainPolicy)


def automation_settings_from_env(
    environ: Mapping[str, str] = os.environ,
) -> AutomationSettings:
    """Sensor settings (sensors take no run config, so they are set where the code loads)."""
    defaults = AutomationSettings()
    return AutomationSettings(
        interval_seconds=int(environ.get("MLOPS_ASSETS_SENSOR_INTERVAL_SECONDS",
                                         defaults.interval_seconds)),
        retrain_train_days=_optional_int(environ.get("MLOPS_ASSETS_RETRAIN_TRAIN_DAYS")),
        retrain_eval_days=_optional_int(environ.get("MLOPS_ASSETS_RETRAIN_EVAL_DAYS")),
        policy=RetrainPolicy(
            min_drifted_batches=int(environ.get("MLOPS_ASSETS_RETRAIN_MIN_DRIFTED_BATCHES",
                                                defaults.policy.min_drifted_batches)),
            cooldown_seconds=float(environ.get("MLOPS_ASSETS_RETRAIN_COOLDOWN_SECONDS",
                                               defaults.policy.cooldown_seconds)),
            rule=environ.get("MLOPS_ASSETS_RETRAIN_RULE", defaults.policy.rule),  # type: ignore[arg-type]
            cusum_k=float(environ.get("MLOPS_ASSETS_RETRAIN_CUSUM_K", defaults.policy.cusum_k)),
            cusum_h=float(environ.get("MLOPS_ASSETS_RETRAIN_CUSUM_H", defaults.policy.cusum_h)),
        ),
    )


def _optional_int(value: str | None) -> int | None:
    return int(value) if value else None


def settings_for_dataset(spec: DatasetSpec, settings: AutomationSettings) -> AutomationSettings:
    """The retrain windows of one dataset, in batches: its spec's `monitoring` windows (rows or
    days converted with its batch size) win; else the deployment's environment; else a default
    adapted to the batch size (core.spec.monitoring)."""
    resolved = resolve_monitoring(spec)
    return replace(
        settings,
        retrain_train_days=resolved.retrain_batches if resolved.retrain_from_spec
        else settings.retrain_train_days or resolved.retrain_batches,
        retrain_eval_days=resolved.eval_batches if resolved.eval_from_spec
        else settings.retrain_eval_days or resolved.eval_batches,
    )


def sensors_for_spec(
    spec: DatasetSpec, settings: AutomationSettings, scoped: bool = False
) -> list[dg.SensorDefinition]:
    """The dataset's sensors as the code location builds them (the demo ticks the same one)."""
    return build_sensors(spec.name, batch_partitions(spec), settings_for_dataset(spec, settings),
                         scoped)


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


def landing_files(
    folder: Path, dataset: str, calendar: list[str]
) -> tuple[dict[str, int], list[str]]:
    """Batch files in the landing folder (key -> mtime), and why each other file is ignored:
    a file whose name is not a batch of the calendar gets the platform's key message, naming
    the file (it is never ingested, so a `../x.csv` or a day outside the spec reaches nothing)."""
    current: dict[str, int] = {}
    ignored: list[str] = []
    if not folder.is_dir():
        return current, ignored
    known = set(calendar)
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in BATCH_SUFFIXES or not path.is_file():
            continue
        problem = key_problem(path.stem, calendar, dataset, known)
        if problem:
            ignored.append(f"landing file {path}: {problem}")
            continue
        current[path.stem] = path.stat().st_mtime_ns
    return current, ignored


def build_sensors(
    dataset: str,
    partitions_def: dg.PartitionsDefinition,
    settings: AutomationSettings,
    scoped: bool = False,
) -> list[dg.SensorDefinition]:
    """The dataset's landing and retrain sensors; each reads only this dataset's landing folder,
    check history (`<dataset>/drift_report`) and train_job runs."""
    train_job = scoped_name(dataset, "train_job", scoped)

    @dg.sensor(
        name=scoped_name(dataset, "landing_sensor", scoped),
        job_name=scoped_name(dataset, "new_batch_job", scoped),
        minimum_interval_seconds=settings.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Launches new_batch_job for new files in <landing>/{dataset}/.",
    )
    def landing_sensor(
        context: dg.SensorEvaluationContext, landing: LandingResource
    ) -> dg.SensorResult | dg.SkipReason:
        seen: dict[str, int] = json.loads(context.cursor or "{}")
        folder = landing.dataset_dir(dataset)
        current, ignored = landing_files(folder, dataset, partitions_def.get_partition_keys())
        new = {k for k, mtime in current.items() if seen.get(k) != mtime}
        for problem in ignored:
            context.log.warning(f"ignoring {problem}")
        if not new:
            note = f"; ignored: {'; '.join(ignored[:3])}" if ignored else ""
            return dg.SkipReason(f"no new batch files in {folder}{note}")
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
        name=scoped_name(dataset, "drift_retrain_sensor", scoped),
        job_name=train_job,
        minimum_interval_seconds=settings.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Launches {train_job} ({dataset} challenger vs champion) when a drift "
        "check fails on "
        + (f"{settings.policy.min_drifted_batches} consecutive batches"
           if settings.policy.rule == "consecutive" else
           f"CUSUM (k={settings.policy.cusum_k:g}, h={settings.policy.cusum_h:g})")
        + " the champion has not seen; one retrain per drift event, however launched.",
    )
    def drift_retrain_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        state = SensorState.from_cursor(context.cursor)
        for check in TRIGGER_CHECKS:
            state.absorb(check, _new_evaluations(context.instance, dataset, check,
                                                 state.after(check)))
        verdicts, champion = state.current_verdicts()
        handled = handled_events(context.instance, champion, train_job)
        plan = plan_retrain(verdicts, settings.policy, handled_events=handled,
                            last_request_at=state.last_request_at, now=time.time())
        if plan.request is None:
            return dg.SensorResult(skip_reason=plan.reason, cursor=state.to_cursor())
        event = plan.request
        state.last_request_at = time.time()
        features = state.drifted_features(event.batches)
        context.log.info(f"requesting a retrain: {event.reason}")
        run = dg.RunRequest(
            run_key=f"retrain-{champion}-{event.event_id}",
            run_config={"ops": {op_name(dataset, "model"): {"config": {
                "train_days": settings.retrain_train_days or DEFAULT_TRAIN_BATCHES,
                "eval_days": settings.retrain_eval_days or DEFAULT_EVAL_BATCHES,
            }}}},
            tags={
                "mlops/trigger": "drift_retrain_sensor",
                DRIFT_EVENT_TAG: f"{champion}/{event.event_id}"[:255],
                "mlops/reason": event.reason[:200],
                "mlops/check": event.check,
                "mlops/batches": ",".join(event.batches)[:200],
                "mlops/drifted_features": ",".join(features)[:200],
            },
        )
        return dg.SensorResult(run_requests=[run], cursor=state.to_cursor())

    return [landing_sensor, drift_retrain_sensor]


def handled_events(instance: dg.DagsterInstance, champion: str | None,
                   train_job: str = "train_job", limit: int = 1000) -> set[str]:
    """Drift events of `champion` some run of the dataset's `train_job` already answered,
    whoever launched it (the daemon's sensor, the demo, a person replaying the sensor's tags)."""
    prefix = f"{champion}/"
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=train_job), limit=limit)
    return {run.tags[DRIFT_EVENT_TAG][len(prefix):] for run in runs
            if run.tags.get(DRIFT_EVENT_TAG, "").startswith(prefix)}


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
    instance: dg.DagsterInstance, dataset: str, check: str, after_id: int,
    page: int = HISTORY_PAGE,
) -> list[tuple[int, dict[str, dict]]]:
    """(record id, batch -> verdict) of every completed evaluation of a drift check newer than
    `after_id`, oldest first (the check history, so an evaluation between two ticks is never
    missed)."""
    key = dg.AssetCheckKey(asset_key(dataset, "drift_report"), check)
    out = []
    for record in _history_since(instance, key, after_id, page):
        evaluation = record.evaluation
        # The history also holds planned (not yet run) evaluations: skip them.
        if record.id <= after_id or not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue
        meta = {k: v.value for k, v in evaluation.metadata.items()}
        verdicts = dict(meta.get(META_VERDICTS) or {})
        features = meta.get(META_DRIFTED_FEATURES) or {}
        for batch, verdict in verdicts.items():
            verdict["features"] = sorted(features.get(batch) or {})
        out.append((record.id, verdicts))
    return sorted(out, key=lambda item: item[0])
