"""WarmRunLauncher (issue 16): runs forked from a warm zygote behave like runs in a fresh
interpreter (`dagster api execute_run`), and forked children compute what the parent computes."""

import os
import subprocess
import sys
import time

import dagster as dg
import pytest
from dagster._core.definitions.reconstruct import ReconstructableRepository

from mlops_assets.launcher.warm import LAUNCH_TAG, WarmRunLauncher
from mlops_assets.testing import TERMINAL, lakefs_env

LAUNCHER = {"module": "mlops_assets.launcher.warm", "class": "WarmRunLauncher"}

FORK_PARITY = """
import os, sys, pickle
import numpy as np, polars as pl, scipy.stats, torch

def work():
    rng = np.random.default_rng(0)
    a = rng.random((300, 300))
    # Integers: a parallel float sum may add in another order in any two runs, fork or not.
    frame = pl.DataFrame({"k": np.arange(200_000) % 97, "v": rng.integers(0, 1000, 200_000)})
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    x = torch.randn(256, 20)
    loss = net(x).pow(2).mean()
    loss.backward()
    return (float((a @ a).sum()), frame.group_by("k").agg(pl.col("v").sum()).sort("k")["v"]
            .to_list(), float(loss), [p.grad.sum().item() for p in net.parameters()],
            scipy.stats.ks_2samp(a[0], a[1]).pvalue)

read, write = os.pipe()
pid = os.fork()  # before the parent computed anything: as the zygote forks
if pid == 0:
    os.write(write, pickle.dumps(work()))
    os._exit(0)
os.close(write)
child = pickle.loads(os.fdopen(read, "rb").read())
os.waitpid(pid, 0)
parent = work()
assert child[1] == parent[1], "polars differs in a forked child"
assert np.allclose([child[0], child[2], *child[3], child[4]],
                   [parent[0], parent[2], *parent[3], parent[4]], rtol=1e-12, atol=0), (
    "numpy/torch/scipy differ in a forked child")
print("same")
"""


def test_forked_children_compute_like_a_fresh_process():
    """numpy (BLAS), polars (its thread pool), torch (autograd) and scipy after a fork."""
    out = subprocess.run([sys.executable, "-c", FORK_PARITY], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "same"


def test_config_round_trip(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides={"run_launcher": {
            **LAUNCHER, "config": {"preload_modules": ["mlops_assets.definitions"]}}}) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, WarmRunLauncher)
        assert launcher.preload_modules == ["mlops_assets.definitions"]


@pytest.mark.lakefs
def test_warm_run_matches_a_cold_run(lakefs, lakefs_server, tmp_path, monkeypatch):
    """The first launch starts cold while the zygote warms up; once it is up, a run is forked.
    Both succeed with the same event types and the same materializations."""
    for key, value in lakefs_env(lakefs, lakefs_server).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    repo = ReconstructableRepository.for_module("mlops_assets.definitions", "defs",
                                                working_directory=os.getcwd())
    origin = repo.get_reconstructable_job("hello_job").get_python_origin()
    from mlops_assets.definitions import defs

    job = defs.resolve_job_def("hello_job")
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home"),
                              overrides={"run_launcher": {**LAUNCHER, "config": {
                                  "preload_modules": ["mlops_assets.definitions"],
                                  "wait_for_zygote_seconds": 0}}}) as instance:  # 1st: cold
        def launch() -> dg.DagsterRun:
            run = instance.create_run_for_job(job_def=job, job_code_origin=origin)
            instance.launch_run(run.run_id, workspace=None)  # ty: ignore[invalid-argument-type]
            deadline = time.monotonic() + 240
            while instance.get_run_by_id(run.run_id).status not in TERMINAL:
                assert time.monotonic() < deadline, "run did not finish"
                time.sleep(0.2)
            return instance.get_run_by_id(run.run_id)

        cold = launch()
        assert instance.run_launcher.wait_for_zygote()
        warm = launch()
        assert [cold.tags[LAUNCH_TAG], warm.tags[LAUNCH_TAG]] == ["cold", "warm"]
        assert cold.status == warm.status == dg.DagsterRunStatus.SUCCESS

        def events(run: dg.DagsterRun) -> list[str]:
            kinds = (e.dagster_event.event_type_value for e in instance.all_logs(run.run_id)
                     if e.dagster_event)
            return sorted(kind for kind in kinds if kind != "LOGS_CAPTURED")

        def materialized(run: dg.DagsterRun) -> list[str]:
            return sorted(e.asset_materialization.asset_key.to_user_string()
                          for e in instance.all_logs(run.run_id) if e.asset_materialization)

        assert events(cold) == events(warm)
        assert materialized(cold) == materialized(warm) == ["hello_greetings", "hello_published"]
        instance.run_launcher.dispose()
