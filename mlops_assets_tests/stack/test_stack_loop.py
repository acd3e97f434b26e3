"""Item 5: the synthetic loop on the production topology (the session's `stack`). Dagster on
PostgreSQL, lakeFS on PostgreSQL + S3, the code in a gRPC code server and the daemon as its own
process: a champion from a queued main_job, drifted batches landed (landing sensor ->
new_batch_job), one drift-triggered retrain; then every server restarts and nothing is lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.core.spec import load_spec
from mlops_assets.definitions import build_definitions
from mlops_assets.defs.partitions import range_tags
from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_client import LakeFSClient
from mlops_assets.stack.stack import Stack
from mlops_assets.testing import FAST_TRAINING, all_finished, land_batches, runs_of, wait_for

pytestmark = pytest.mark.e2e
DS = "synthetic"


def _client(stack: Stack) -> LakeFSClient:
    info = stack.lakefs.info()
    assert info is not None
    return LakeFSClient(info.endpoint, info.access_key_id, info.secret_access_key,
                        repository=stack.settings.repository)


def _model_op() -> str:
    """The training op's name in main_job (`model`, or `<dataset>__model` with scoped keys)."""
    defs = build_definitions(load_spec(DS), resources={"lakefs": object(), "landing": object()})
    nodes = defs.resolve_job_def("main_job").nodes_in_topological_order
    [name] = [n.name for n in nodes if n.name == "model" or n.name.endswith("__model")]
    return name


def test_synthetic_loop_survives_a_restart_of_every_server(stack, monkeypatch):
    stack, env = stack
    for key in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME",
                "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(key, env[key])
    instance = dg.DagsterInstance.from_config(str(stack.dagster_home))
    logs = stack.root / "logs"  # wait_for shows <logs>/daemon.log on a timeout
    config = {"ops": {_model_op(): {"config": {**FAST_TRAINING, "train_days": 10,
                                                "eval_days": 3}}}}
    config_file = stack.root / "bootstrap.yaml"
    config_file.write_text(json.dumps(config))
    launched = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-w",
         str(stack.dagster_home / "workspace.yaml"), "-j", "main_job",
         "--tags", json.dumps(range_tags("2024-01-01", "2024-01-20")), "-c", str(config_file)],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert launched.returncode == 0, launched.stderr[-3000:]
    wait_for(lambda: all_finished(instance, "main_job", 1), 300, "the bootstrap", logs)
    assert runs_of(instance, "main_job")[0].status == dg.DagsterRunStatus.SUCCESS

    keys = load_spec(DS).partition_keys()
    land_batches(Path(env["MLOPS_ASSETS_LANDING_DIR"]), DS, keys[20:35])  # drift from day 31
    wait_for(lambda: all_finished(instance, "new_batch_job", 1), 300, "new batches", logs)
    wait_for(lambda: all_finished(instance, "train_job", 1), 300, "the retrain", logs)
    runs_before = {r.run_id: r.status for r in instance.get_runs()}
    assert set(runs_before.values()) == {dg.DagsterRunStatus.SUCCESS}, runs_before
    [retrain] = runs_of(instance, "train_job")
    assert retrain.tags["mlops/trigger"] == "drift_retrain_sensor"
    champion = _client(stack).get_json("main", layout.model_pointer(DS, "champion"))
    head = _client(stack).resolve("main")

    quiet = lambda _line: None  # noqa: E731
    stack.down(progress=quiet)
    assert not any(s.healthy for s in stack.status())
    stack.up(progress=quiet)
    assert all(s.healthy for s in stack.status())
    with dg.DagsterInstance.from_config(str(stack.dagster_home)) as again:
        assert {r.run_id: r.status for r in again.get_runs()} == runs_before
    assert _client(stack).resolve("main") == head
    assert _client(stack).get_json("main", layout.model_pointer(DS, "champion")) == champion
