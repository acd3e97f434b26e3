"""Sensors against a real Dagster instance (no lakeFS needed): evaluate_tick on built contexts."""

import json
import os

import dagster as dg
import pytest

from mlops_assets.core.retrain_policy import RetrainPolicy
from mlops_assets.core.spec import load_spec
from mlops_assets.defs.automation.sensors import (
    AutomationSettings,
    automation_settings_from_env,
    build_sensors,
    new_batch_ranges,
)
from mlops_assets.defs.ingest.landing import LandingResource
from mlops_assets.defs.partitions import batch_partitions

SPEC = load_spec("synthetic")
SETTINGS = AutomationSettings(interval_seconds=1, retrain_train_days=8, retrain_eval_days=2,
                              policy=RetrainPolicy(min_drifted_batches=2, cooldown_seconds=3600))
LANDING_SENSOR, RETRAIN_SENSOR = build_sensors("synthetic", batch_partitions(SPEC), SETTINGS)


@pytest.fixture
def instance(dagster_home):
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        yield instance


def report_drift(instance, verdicts: dict[str, bool | None], check="no_data_drift",
                 model="m1", in_sample=(), dataset="synthetic"):
    """A drift check evaluation as the drift_report asset writes it: one verdict per batch."""
    failed = [b for b, d in verdicts.items() if d and b not in in_sample]
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey([dataset, "drift_report"]),
        check_name=check,
        passed=not failed,
        metadata={
            "batches": dg.MetadataValue.json(sorted(verdicts)),
            "verdicts": dg.MetadataValue.json({
                b: {"drifted": d, "in_sample": b in in_sample, "batch_score": 3.0 if d else 0.1,
                    "model_version": model} for b, d in verdicts.items()}),
            "drifted_batches": dg.MetadataValue.json(failed),
            "drifted_features": dg.MetadataValue.json({b: {"x1": 0.9} for b in failed}),
        },
    ))


def days(first: int, last: int) -> list[str]:
    return [f"2024-02-{d:02d}" for d in range(first, last + 1)]


def tick(sensor, instance, cursor=None, **resources):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources or None)
    return sensor.evaluate_tick(ctx)


def launch(instance, request: dg.RunRequest) -> None:
    """What the daemon (or the demo) does with a request: a train_job run with its tags."""
    instance.create_run_for_job(
        dg.Definitions(jobs=[dg.define_asset_job("train_job")]).resolve_job_def("train_job"),
        tags=request.tags)


def test_consecutive_drifted_batches_request_exactly_one_retrain(instance):
    report_drift(instance, {d: False for d in days(1, 3)})
    result = tick(RETRAIN_SENSOR, instance)
    assert not result.run_requests  # all passing: nothing

    report_drift(instance, {days(4, 4)[0]: True, days(5, 5)[0]: True})
    result = tick(RETRAIN_SENSOR, instance, result.cursor)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.tags["mlops/check"] == "no_data_drift"
    assert request.tags["mlops/batches"] == "2024-02-04,2024-02-05"
    assert request.tags["mlops/reason"] == (
        "no_data_drift failed on 2 consecutive batches 2024-02-04, 2024-02-05")
    assert request.tags["mlops/drifted_features"] == "x1"
    assert request.tags["mlops/drift_event"] == "m1/no_data_drift:2024-02-04..2024-02-05"
    config = request.run_config["ops"]["synthetic__model"]["config"]
    assert config == {"train_days": 8, "eval_days": 2}
    launch(instance, request)

    again = tick(RETRAIN_SENSOR, instance, result.cursor)  # nothing new: nothing
    assert not again.run_requests


def test_one_event_one_retrain_however_launched(instance):
    """The demo ticks a fresh copy of the sensor and launches the run itself; the daemon's
    sensor (another cursor) must recognise the event as answered."""
    report_drift(instance, {d: True for d in days(4, 6)})
    demo = tick(RETRAIN_SENSOR, instance)
    assert len(demo.run_requests) == 1
    launch(instance, demo.run_requests[0])
    daemon = tick(RETRAIN_SENSOR, instance)  # no cursor: the daemon never saw the demo's tick
    assert not daemon.run_requests and "already handled" in daemon.skip_message


def test_a_passing_or_missing_batch_breaks_the_run(instance):
    report_drift(instance, {"2024-02-01": True, "2024-02-02": False, "2024-02-03": True})
    result = tick(RETRAIN_SENSOR, instance)
    assert not result.run_requests
    # Performance "not assessable" (None) breaks a run of that check too.
    report_drift(instance, {"2024-02-05": True, "2024-02-06": None, "2024-02-07": True},
                 check="performance_within_bounds")
    assert not tick(RETRAIN_SENSOR, instance, result.cursor).run_requests


def test_in_sample_batches_never_count(instance):
    report_drift(instance, {d: True for d in days(1, 4)}, in_sample=days(1, 4))
    result = tick(RETRAIN_SENSOR, instance)
    assert not result.run_requests and "no new drift event" in result.skip_message


def test_runs_do_not_span_two_champions(instance):
    report_drift(instance, {"2024-02-01": True}, model="m1")
    report_drift(instance, {"2024-02-02": True}, model="m2")
    assert not tick(RETRAIN_SENSOR, instance).run_requests
    report_drift(instance, {"2024-02-03": True}, model="m2")
    request = tick(RETRAIN_SENSOR, instance).run_requests[0]
    assert request.tags["mlops/drift_event"] == "m2/no_data_drift:2024-02-02..2024-02-03"


def test_performance_drift_also_triggers(instance):
    report_drift(instance, {"2024-02-01": True, "2024-02-02": True},
                 check="performance_within_bounds")
    result = tick(RETRAIN_SENSOR, instance)
    assert [r.tags["mlops/check"] for r in result.run_requests] == ["performance_within_bounds"]


def test_cusum_rule_is_a_policy_option():
    settings = automation_settings_from_env({"MLOPS_ASSETS_RETRAIN_RULE": "cusum",
                                             "MLOPS_ASSETS_RETRAIN_CUSUM_H": "4"})
    assert settings.policy.rule == "cusum" and settings.policy.cusum_h == 4.0
    assert automation_settings_from_env({}).policy.min_drifted_batches == 3


def test_landing_sensor_launches_new_and_changed_batches_once(instance, tmp_path):
    landing = LandingResource(path=str(tmp_path))
    folder = tmp_path / "synthetic"
    folder.mkdir()
    for day in ("2024-01-05", "2024-01-06", "2024-01-09"):
        (folder / f"{day}.parquet").write_bytes(b"x")
    (folder / "notes.txt").write_text("ignored")
    (folder / "2031-01-01.csv").write_text("not a batch of this dataset")

    result = tick(LANDING_SENSOR, instance, landing=landing)
    tags = [(r.tags["dagster/asset_partition_range_start"],
             r.tags["dagster/asset_partition_range_end"]) for r in result.run_requests]
    assert tags == [("2024-01-05", "2024-01-06"), ("2024-01-09", "2024-01-09")]
    assert not tick(LANDING_SENSOR, instance, result.cursor, landing=landing).run_requests

    changed = folder / "2024-01-09.parquet"
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rerun = tick(LANDING_SENSOR, instance, result.cursor, landing=landing)
    assert [r.tags["mlops/batches"] for r in rerun.run_requests] == ["2024-01-09..2024-01-09"]
    assert json.loads(rerun.cursor)["2024-01-09"] == changed.stat().st_mtime_ns


def test_new_batch_ranges_groups_consecutive_keys():
    keys = [f"2024-01-{d:02d}" for d in range(1, 11)]
    assert new_batch_ranges({keys[0], keys[1], keys[2], keys[5], keys[7], keys[8]}, keys) == [
        (keys[0], keys[2]), (keys[5], keys[5]), (keys[7], keys[8])]
