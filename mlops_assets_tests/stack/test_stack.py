"""Items 3 and 5: `mlops-assets stack` runs the production topology on 127.0.0.1, each server its
own process (PostgreSQL, SeaweedFS, lakeFS, gRPC code server, webserver, daemon), reports health,
and (test_stack_loop.py, on the same stack) runs the synthetic loop and survives a restart."""

from __future__ import annotations

import json
import urllib.request

import pytest
import yaml

from mlops_assets.cli.main import main as cli_main

pytestmark = pytest.mark.e2e


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


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
