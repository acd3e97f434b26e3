"""Sensors against a real Dagster instance (no lakeFS needed): evaluate_tick on built contexts."""

import json
import os

import dagster as dg
import pytest

from mlops_assets.core.retrain_policy import RetrainPolicy
from mlops_assets.core.spec import load_spec
from mlops_assets.defs.automation.sensors import AutomationSettings, build_sensors, new_batch_ranges
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


def report_drift(instance, passed: bool, drifted: list[str], check="no_data_drift"):
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("drift_report"),
        check_name=check,
        passed=passed,
        metadata={
            "batches": dg.MetadataValue.json(drifted or ["2024-01-20"]),
            "drifted_batches": dg.MetadataValue.json(drifted),
            "drifted_features": dg.MetadataValue.json({b: {"x1": 0.9} for b in drifted}),
        },
    ))


def tick(sensor, instance, cursor=None, **resources):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources or None)
    return sensor.evaluate_tick(ctx)


def test_failed_drift_check_requests_exactly_one_retrain(instance):
    report_drift(instance, True, [])
    result = tick(RETRAIN_SENSOR, instance)
    assert not result.run_requests  # a pass: nothing

    report_drift(instance, False, ["2024-01-31", "2024-02-01"])
    result = tick(RETRAIN_SENSOR, instance, result.cursor)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.tags["mlops/check"] == "no_data_drift"
    assert request.tags["mlops/batches"] == "2024-01-31,2024-02-01"
    assert request.tags["mlops/drifted_features"] == "x1"
    assert request.run_config["ops"]["model"]["config"] == {"train_days": 8, "eval_days": 2}

    again = tick(RETRAIN_SENSOR, instance, result.cursor)  # the same evaluation again: none
    assert not again.run_requests

    report_drift(instance, False, ["2024-02-02", "2024-02-03"])  # persisting drift: cool-down
    cooled = tick(RETRAIN_SENSOR, instance, again.cursor)
    assert not cooled.run_requests and "cool-down" in cooled.skip_message


def test_single_drifted_batch_waits_for_persistence(instance):
    report_drift(instance, False, ["2024-01-31"])
    result = tick(RETRAIN_SENSOR, instance)
    assert not result.run_requests and "waiting for 2" in result.skip_message
    report_drift(instance, False, ["2024-02-01"])
    assert len(tick(RETRAIN_SENSOR, instance, result.cursor).run_requests) == 1


def test_performance_drift_also_triggers(instance):
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("drift_report"), check_name="performance_within_bounds",
        passed=False,
        metadata={"batches": dg.MetadataValue.json(["2024-02-01", "2024-02-02"]),
                  "out_of_bounds": dg.MetadataValue.json({"2024-02-01": {}, "2024-02-02": {}})},
    ))
    result = tick(RETRAIN_SENSOR, instance)
    assert [r.tags["mlops/check"] for r in result.run_requests] == ["performance_within_bounds"]


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
