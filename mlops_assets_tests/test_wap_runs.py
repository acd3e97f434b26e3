"""Issue #13 items 4-6 and 9 through Dagster against a real lakeFS: per-partition metadata in a
range run, a failed audit visible on its partition, re-execution from failure on the root run's
branch, gates and publishes that fail closed, range commits naming their batches."""

import os

import dagster as dg
import polars as pl
import pytest

from mlops_assets.core.sources import extract_batch
from mlops_assets.core.spec import load_spec
from mlops_assets.defs.partitions import range_tags
from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_client import LakeFSClient, LakeFSError
from mlops_assets.testing import failure_messages, pipeline_definitions, run_job

pytestmark = pytest.mark.lakefs

DS = "synthetic"
KEYS = ["2024-01-03", "2024-01-04", "2024-01-05"]


@pytest.fixture
def defs(lakefs, tmp_path):
    return pipeline_definitions(lakefs, tmp_path / "landing")


def _mats(result, asset: str) -> dict[str, dg.AssetMaterialization]:
    return {m.partition: m for m in result.asset_materializations_for_node(f"{DS}__{asset}")}


def test_range_run_metadata_is_per_partition(lakefs, defs):
    ingest = run_job(defs, "ingest_job", KEYS[0], KEYS[-1])
    assert ingest.success, failure_messages(ingest)
    features = run_job(defs, "features_job", KEYS[0], KEYS[-1])
    assert features.success, failure_messages(features)
    for result, asset, path in ((ingest, "raw_batch", layout.raw_batch),
                                (ingest, "validated_batch", layout.raw_batch),
                                (features, "features", layout.features)):
        mats = _mats(result, asset)
        assert sorted(mats) == KEYS
        for key, mat in mats.items():
            meta = mat.metadata
            commit = meta["lakefs_commit"].value
            uri = meta["lakefs_uri"].value
            # commit and URI agree, and the URI is this partition's own object
            assert uri == f"lakefs://{lakefs.repository}/{commit}/{path(DS, key)}"
            rows = lakefs.get_frame(commit, path(DS, key)).height
            assert meta["dagster/row_count"].value == rows, (asset, key)
            assert key in meta["summary"].value and "waiting" not in meta["summary"].value
    # A range publish names its batches in the commit metadata.
    merges = [c for c in lakefs.log("main", max_amount=10)
              if c.metadata.get("dagster_asset_key") == "validated_batch"]
    assert merges and merges[0].metadata["dagster_partitions"] == ",".join(KEYS)
    assert merges[0].metadata["dagster_partition_first"] == KEYS[0]
    assert merges[0].metadata["run_branch"].startswith("run-")


def test_failed_audit_shows_on_its_partition_with_its_reason(lakefs, defs, tmp_path):
    folder = tmp_path / "landing" / DS
    folder.mkdir(parents=True)
    bad = extract_batch(load_spec(DS), KEYS[1]).with_columns(pl.lit(99.0).alias("x3"))
    bad.write_parquet(folder / f"{KEYS[1]}.parquet")
    head = lakefs.resolve("main")
    instance = dg.DagsterInstance.ephemeral()
    result = run_job(defs, "ingest_job", KEYS[0], KEYS[-1], instance=instance)
    assert not result.success and lakefs.resolve("main") == head
    first = next(e for e in result.all_events if e.is_step_failure)
    message = first.step_failure_data.error.message
    assert "range" in message and KEYS[1] in message and "x3" in message
    assert "blocking asset check" not in message.lower()
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed and e.partition]
    assert {e.partition for e in failed} == {KEYS[1]}
    observations = [e.event_specific_data.asset_observation for e in result.all_events
                    if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION]
    assert [(o.partition, o.metadata["published"].value) for o in observations] == \
        [(KEYS[1], False)]
    assert not _mats(result, "validated_batch")


def test_gate_without_batches_fails_and_publish_without_data_fails(lakefs, defs):
    job = dg.define_asset_job(
        "audit_only", selection=dg.AssetSelection.checks_for_assets(dg.AssetKey([DS, "raw_batch"])),
        executor_def=dg.in_process_executor)
    audit = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("audit_only")
    result = audit.execute_in_process(tags={"dagster/partition": KEYS[0]}, raise_on_error=False)
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and not any(e.passed for e in evaluations)
    assert "not on run branch" in failure_messages(result)

    publish = dg.define_asset_job("publish_only", selection=[f"{DS}/validated_batch"],
                                  executor_def=dg.in_process_executor)
    job = dg.Definitions.merge(defs, dg.Definitions(jobs=[publish])).resolve_job_def(
        "publish_only")
    head = lakefs.resolve("main")
    result = job.execute_in_process(tags=range_tags(KEYS[0], KEYS[1]), raise_on_error=False)
    assert not result.success and lakefs.resolve("main") == head
    assert "nothing to publish" in failure_messages(result)


def test_partition_keys_outside_the_calendar_get_our_message(lakefs, defs):
    result = run_job(defs, "ingest_job", "2023-06-01")
    messages = failure_messages(result)
    assert not result.success
    assert ("run tags dagster/asset_partition_range_start/_end: '2023-06-01' is outside the "
            "batch calendar of synthetic (60 batches, 2024-01-01..2024-02-29)") in messages


# -- re-execution from failure through Dagster's API (a reconstructable job) ---------------------
def ingest_job_from_env() -> dg.JobDefinition:
    from pathlib import Path

    client = LakeFSClient(endpoint=os.environ["T_ENDPOINT"], access_key_id=os.environ["T_KEY"],
                          secret_access_key=os.environ["T_SECRET"], repository=os.environ["T_REPO"])
    return pipeline_definitions(client, Path(os.environ["T_LANDING"])).resolve_job_def(
        "ingest_job")


def test_reexecution_from_failure_publishes_the_root_runs_branch(lakefs, monkeypatch, tmp_path):
    for name, value in (("T_ENDPOINT", lakefs.endpoint), ("T_KEY", lakefs.access_key_id),
                        ("T_SECRET", lakefs.secret_access_key), ("T_REPO", lakefs.repository),
                        ("T_LANDING", str(tmp_path / "landing"))):
        monkeypatch.setenv(name, value)
    calls = {"n": 0}
    original = LakeFSClient.get_frames

    def flaky(self, ref, paths):  # the audit's first read fails (lakeFS hiccup)
        calls["n"] += 1
        if calls["n"] == 1:
            raise LakeFSError("injected: lakeFS unavailable")
        return original(self, ref, paths)

    monkeypatch.setattr(LakeFSClient, "get_frames", flaky)
    job = dg.reconstructable(ingest_job_from_env)
    with dg.instance_for_test() as instance:
        with dg.execute_job(job, instance, tags=range_tags(KEYS[0], KEYS[-1])) as first:
            assert not first.success
        head = lakefs.resolve("main")
        options = dg.ReexecutionOptions.from_failure(first.run_id, instance)
        with dg.execute_job(job, instance, reexecution_options=options,
                            tags=instance.get_run_by_id(first.run_id).tags) as second:
            assert second.success
            checks = second.get_asset_check_evaluations()
            assert checks and all(c.passed for c in checks)
            assert all(f"all {len(KEYS)} batch(es) pass" in (c.description or "")
                       for c in checks if not c.partition)
    assert lakefs.resolve("main") != head
    assert layout.keys_in(lakefs.list_objects("main", layout.raw_prefix(DS))) == KEYS
    merge = lakefs.get_commit("main")
    assert merge.metadata["run_branch"] == f"run-{first.run_id}"  # the root run's branch

