"""The hello graph: write on a run branch, audit, publish, through Dagster for real."""

import os

import dagster as dg
import polars as pl
import pytest

from mlops_assets.defs import hello
from mlops_assets.testing import dagster_job_execute, lakefs_env

pytestmark = pytest.mark.lakefs


def test_materialize_hello_graph_publishes_to_main(lakefs, dagster_home):
    instance = dg.DagsterInstance.get()
    result = dg.materialize(
        [hello.hello_greetings, hello.hello_published, hello.greetings_are_complete],
        resources={"lakefs": lakefs},
        instance=instance,
    )
    assert result.success
    published = result.asset_materializations_for_node("hello_published")[0]
    commit_id = published.metadata["lakefs_commit"].value
    assert lakefs.resolve("main") == commit_id
    frame = lakefs.get_frame("main", hello.HELLO_PATH)
    assert frame.get_column("run_id").unique().to_list() == [result.run_id]
    # Every platform commit names its run and asset; the run branch is gone after publishing.
    written = lakefs.get_commit(
        result.asset_materializations_for_node("hello_greetings")[0].metadata["lakefs_commit"].value
    )
    assert written.metadata["dagster_run_id"] == result.run_id
    assert written.metadata["dagster_asset_key"] == "hello_greetings"
    assert written.metadata["code_version"] == hello.CODE_VERSION  # a hash of its code
    assert f"run-{result.run_id}" not in lakefs.list_branches()
    # The data version of the lakeFS-backed asset is its commit id.
    record = instance.get_latest_materialization_event(dg.AssetKey("hello_published"))
    assert record.asset_materialization.tags["dagster/data_version"] == commit_id


def test_failed_audit_keeps_data_off_main(lakefs, dagster_home, monkeypatch):
    monkeypatch.setattr(
        hello,
        "greetings_frame",
        lambda run_id: pl.DataFrame({"language": ["en"], "greeting": [""], "run_id": [run_id]}),
    )
    main_before = lakefs.resolve("main")
    result = dg.materialize(
        [hello.hello_greetings, hello.hello_published, hello.greetings_are_complete],
        resources={"lakefs": lakefs},
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
    )
    assert not result.success
    assert lakefs.resolve("main") == main_before
    assert not lakefs.exists("main", hello.HELLO_PATH)
    assert lakefs.exists(f"run-{result.run_id}", hello.HELLO_PATH)  # quarantined on its branch


def test_dagster_job_execute_with_persistent_home(lakefs, lakefs_server, dagster_home):
    env = {**os.environ, **lakefs_env(lakefs, lakefs_server), "DAGSTER_HOME": str(dagster_home)}
    for _ in range(2):  # a second run in the same home sees the first one's history
        done = dagster_job_execute("hello_job", env)
        assert done.returncode == 0, done.stderr[-3000:]
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="hello_job"))
    assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    log = lakefs.log("main", max_amount=10)
    merges = [c for c in log if c.metadata.get("dagster_asset_key") == "hello_published"]
    assert {c.metadata["dagster_run_id"] for c in merges} == {r.run_id for r in runs}
