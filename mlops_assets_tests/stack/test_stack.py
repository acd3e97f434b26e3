"""Items 3 and 5: `mlops-assets stack` runs the production topology on 127.0.0.1, each server its
own process (PostgreSQL, SeaweedFS, lakeFS, gRPC code server, webserver, daemon), reports health,
runs a job submitted to the queue through the daemon and the code server, and keeps everything
across a full restart."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from mlops_assets.cli.main import main as cli_main
from mlops_assets.settings import Settings
from mlops_assets.stack.s3 import list_keys
from mlops_assets.stack.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack():
    home = Path(tempfile.mkdtemp(prefix="mlops-assets-stack-"))
    os.chmod(home, 0o711)  # the PostgreSQL cluster inside runs as an unprivileged account
    settings = dataclasses.replace(Settings.from_env(), home=home, dagster_home=home / "unused",
                                   external_lakefs=None, repository="stack-repo")
    stack = Stack(settings, dataset="synthetic")
    env = stack.up(progress=lambda _line: None)
    yield stack, env
    stack.down(progress=lambda _line: None)
    stack.postgres.destroy()


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def _wait_run(stack: Stack, timeout: float = 240) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = stack.postgres.psql("SELECT run_id, status FROM runs ORDER BY create_timestamp "
                                  "DESC LIMIT 1", database="dagster")
        run_id, _, status = row.partition("|")
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return run_id, status
        time.sleep(1)
    raise AssertionError(f"run not finished within {timeout} s: {row}")


def test_every_server_is_its_own_healthy_process(stack):
    stack, _env = stack
    statuses = {s.name: s for s in stack.status()}
    assert set(statuses) == {"postgres", "seaweedfs", "lakefs", "code_server", "webserver",
                             "daemon"}
    assert all(s.healthy for s in statuses.values()), statuses
    pids = [s.pid for s in statuses.values() if s.pid]
    assert len(set(pids)) == len(pids) == 6
    workspace = yaml.safe_load((stack.dagster_home / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["grpc_server"]["port"] == \
        int(statuses["code_server"].endpoint.rsplit(":", 1)[1])


def test_webserver_loads_the_location_from_the_code_server(stack):
    stack, _env = stack
    port = int({s.name: s for s in stack.status()}["webserver"].endpoint.rsplit(":", 1)[1])
    data = _graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name "
                          "loadStatus locationOrLoadError { __typename } } } } }")
    [entry] = data["workspaceOrError"]["locationEntries"]
    assert entry["name"] == "mlops_assets" and entry["loadStatus"] == "LOADED"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"


def test_status_command_reports_json(stack, capsys, monkeypatch):
    stack, _env = stack
    monkeypatch.setenv("MLOPS_ASSETS_HOME", str(stack.settings.home))
    assert cli_main(["stack", "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] and len(report["services"]) == 6


def test_queued_run_survives_a_restart_of_every_server(stack):
    stack, env = stack
    workspace = stack.dagster_home / "workspace.yaml"
    subprocess.run([str(Path(sys.executable).parent / "dagster"), "job", "launch", "-w",
                    str(workspace), "-j", "hello_job"], env=env, check=True,
                   capture_output=True, timeout=120)
    run_id, status = _wait_run(stack)
    assert status == "SUCCESS", (stack.root / "logs" / "daemon.log").read_text()[-3000:]
    s3 = stack.seaweed.info().s3
    keys_before = list_keys(s3.endpoint, s3.bucket, s3.access_key_id, s3.secret_access_key,
                            prefix="stack-repo/")
    assert keys_before, "lakeFS wrote nothing to S3"

    stack.down(progress=lambda _line: None)
    assert not any(s.healthy for s in stack.status())
    stack.up(progress=lambda _line: None)
    assert all(s.healthy for s in stack.status())
    # Dagster's run (PostgreSQL), lakeFS's commits (PostgreSQL) and objects (S3) are all back.
    assert stack.postgres.psql(f"SELECT status FROM runs WHERE run_id = '{run_id}'",
                               database="dagster") == "SUCCESS"
    s3 = stack.seaweed.info().s3
    assert set(keys_before) <= set(list_keys(s3.endpoint, s3.bucket, s3.access_key_id,
                                             s3.secret_access_key, prefix="stack-repo/"))
    from mlops_assets.platform.lakefs_client import LakeFSClient

    info = stack.lakefs.info()
    client = LakeFSClient(info.endpoint, info.access_key_id, info.secret_access_key,
                          repository="stack-repo")
    greetings = client.get_frame("main", "hello/greetings.parquet")
    assert greetings.height == 4 and set(greetings["run_id"]) == {run_id}
