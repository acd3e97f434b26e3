"""Issue #13 item 5: a quarantined batch is visible as not published in the UI. Checked through
the GraphQL API the Dagster UI itself reads (a real `dagster-webserver` on the test instance):
the failed audit check on that batch's partition, `validated_batch` not materialized for it,
and the run's first error is the audit's reason, not a stack trace."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from mlops_assets.core.sources import extract_batch
from mlops_assets.core.spec import load_spec
from mlops_assets.settings import ensure_dagster_home
from mlops_assets.testing import lakefs_env, pipeline_definitions, run_job

pytestmark = [pytest.mark.lakefs, pytest.mark.e2e]

REPO_ROOT = Path(__file__).resolve().parents[1]
DS, BAD = "synthetic", "2024-01-05"

ASSET = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) {
  ... on AssetNode { assetPartitionStatuses {
    ... on TimePartitionStatuses { ranges { status startKey endKey } } } } } }"""
CHECK = """query($path: [String!]!, $check: String!, $partition: String) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $check, partition: $partition,
                       limit: 5) {
    runId status partition evaluation { success description partition } } }"""
RUN = """query($runId: ID!) { runOrError(runId: $runId) { ... on Run { status
  eventConnection { events { __typename
    ... on ExecutionStepFailureEvent { stepKey error { message } } } } } } }"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(base: str, query: str, **variables) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql", data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body["errors"]
    return body["data"]


def _statuses(base: str, asset: str) -> dict[str, str]:
    """Partition key -> status (MATERIALIZED / FAILED / ...) as the UI's partition bar shows."""
    node = _graphql(base, ASSET, path=[DS, asset])["assetNodeOrError"]
    keys = load_spec(DS).partition_keys()
    out = {}
    for r in node["assetPartitionStatuses"]["ranges"]:
        for key in keys[keys.index(r["startKey"]):keys.index(r["endKey"]) + 1]:
            out[key] = r["status"]
    return out


def _wait_for_webserver(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=2):
                pass
            node = _graphql(base, "{ assetNodes { id } }")["assetNodes"]
            if node:  # the code location has loaded
                return
        except OSError:
            pass
        assert process.poll() is None, "dagster-webserver exited"
        assert time.monotonic() < deadline, "dagster-webserver did not serve the assets in 120 s"
        time.sleep(1)


def test_quarantined_batch_is_shown_as_not_published(lakefs, lakefs_server, tmp_path):
    home = ensure_dagster_home(tmp_path / "dagster_home")
    landing = tmp_path / "landing"
    (landing / DS).mkdir(parents=True)
    good = extract_batch(load_spec(DS), BAD)
    bad = good.with_columns(  # one value far outside x3's declared range
        pl.when(pl.int_range(pl.len()) == 0).then(99.0).otherwise(pl.col("x3")).alias("x3"))
    bad.write_parquet(landing / DS / f"{BAD}.parquet")

    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = pipeline_definitions(lakefs, landing, DS)
        assert run_job(defs, "ingest_job", "2024-01-01", "2024-01-03", instance=instance).success
        failed = run_job(defs, "ingest_job", "2024-01-04", "2024-01-06", instance=instance)
        assert not failed.success
    run_id = failed.run_id

    port = _free_port()
    env = {**os.environ, **lakefs_env(lakefs, lakefs_server), "DAGSTER_HOME": str(home),
           "MLOPS_ASSETS_DATASET": DS, "MLOPS_ASSETS_LANDING_DIR": str(landing)}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w",
         str(REPO_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_webserver(base, process)

        # validated_batch: the good batches are materialized (published), the bad one is not.
        published = _statuses(base, "validated_batch")
        assert {published.get(k) for k in ("2024-01-01", "2024-01-02", "2024-01-03")} == {
            "MATERIALIZED"}
        assert published.get(BAD) != "MATERIALIZED"

        # raw_batch's failed check is on the bad batch's own partition, with the reason.
        executions = _graphql(base, CHECK, path=[DS, "raw_batch"], check="batch_range",
                              partition=BAD)["assetCheckExecutions"]
        mine = [e for e in executions if e["runId"] == run_id]
        assert mine, executions
        assert mine[0]["status"] == "FAILED"
        assert mine[0]["evaluation"]["success"] is False
        assert mine[0]["evaluation"]["partition"] == BAD
        reason = mine[0]["evaluation"]["description"]
        assert BAD in reason and "x3" in reason, reason

        # The run's first error is the audit's reason, not a stack trace.
        run = _graphql(base, RUN, runId=run_id)["runOrError"]
        assert run["status"] == "FAILURE"
        failures = [e for e in run["eventConnection"]["events"]
                    if e["__typename"] == "ExecutionStepFailureEvent"]
        assert failures, run
        first = failures[0]["error"]["message"]
        assert "audit_raw_batch" in failures[0]["stepKey"]
        assert f"audit of {DS} rejected 1 of 3 batch(es); nothing was published" in first, first
        assert reason in first, (reason, first)
        assert not first.lstrip().startswith("Traceback"), first
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
