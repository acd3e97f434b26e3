"""Issue #13 item 8 for real: a run whose worker is killed with SIGKILL is marked failed by run
monitoring in a real `dagster-daemon` reading the generated dagster.yaml, and the failure sensor
reports its lakeFS run branch as abandoned.

What Dagster 1.13 offers (checked in its source): run monitoring fails a STARTED run whose
launcher reports its worker dead (`check_run_worker_health`), else only after
`max_runtime_seconds`. The generated instance launches daemon/UI runs with the warm launcher,
which reports its forked run processes (second test); a `dagster job execute` run (the CLI, the
demo) has no launcher, so the runtime limit is what ends it (first test). Poll interval and
limit are made small through `dagster_yaml`'s parameters.
"""

import os

import dagster as dg
import pytest
import yaml

from mlops_assets.defs.wap import run_branch_name
from mlops_assets.defs.wap_prune import RUN_BRANCH_TAG
from mlops_assets.platform import layout
from mlops_assets.registry.lock import registry_lock
from mlops_assets.settings import ensure_dagster_home
from mlops_assets.testing import WORKSPACE_YAML, lakefs_env, running_daemon, wait_for
from mlops_assets_tests.faults.harness import (
    DS,
    dagster_job,
    kill9,
    seed_features,
    start,
    train_config,
)

pytestmark = [pytest.mark.lakefs, pytest.mark.e2e]

# Longer than a train_job needs to reach its evaluation step on a loaded 2-core machine (32 s
# at load average 15), so the limit never ends a live run before the kill; short enough for
# the test.
MAX_RUNTIME_SECONDS = 45
# Killed once this step starts: the model is committed on the run branch, not on main (the run
# could not reach main anyway: its champion step would wait for the lock the test holds).
KILL_AT_STEP = f"{DS}__evaluation"


def _ticks(instance: dg.DagsterInstance, name: str) -> int:
    states = [s for s in instance.all_instigator_state() if s.name == name]
    return len(instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id,
                                  limit=10)) if states else 0


def _step_started(instance: dg.DagsterInstance, step_key: str) -> str | None:
    """The run id of the run whose `step_key` has started, if any."""
    for run in instance.get_runs():
        events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
        if any(e.step_key == step_key for e in events):
            return run.run_id
    return None


def test_killed_run_is_failed_by_run_monitoring_and_its_branch_reported(
    lakefs, lakefs_server, tmp_path
):
    home = ensure_dagster_home(tmp_path / "dagster_home", poll_interval_seconds=1,
                               max_runtime_seconds=MAX_RUNTIME_SECONDS)
    monitoring = yaml.safe_load((home / "dagster.yaml").read_text())["run_monitoring"]
    assert monitoring["enabled"] and monitoring["max_runtime_seconds"] == MAX_RUNTIME_SECONDS
    (home / "workspace.yaml").write_text(WORKSPACE_YAML)
    env = {**os.environ, **lakefs_env(lakefs, lakefs_server), "DAGSTER_HOME": str(home),
           "MLOPS_ASSETS_DATASET": DS, "MLOPS_ASSETS_LANDING_DIR": str(tmp_path / "landing"),
           "MLOPS_ASSETS_SENSOR_INTERVAL_SECONDS": "1"}
    instance = dg.DagsterInstance.from_config(str(home))

    with running_daemon(home, env):
        seed_features(lakefs, tmp_path, "2024-01-01", "2024-01-08")  # while the daemon starts
        # A run failure sensor ignores failures before its first tick: wait for it.
        wait_for(lambda: _ticks(instance, "report_abandoned_run_branches") >= 1, 60,
                 "the failure sensor's first tick", home)
        with registry_lock(lakefs, DS, holder="test_run_monitoring"):
            process = start(dagster_job("train_job", train_config(tmp_path)), env,
                            tmp_path / "train.log")
            wait_for(lambda: _step_started(instance, KILL_AT_STEP) is not None, 120,
                     "the evaluation step", home, poll=0.2)
            assert kill9(process), "train_job ended before it was killed"
            run_id = _step_started(instance, KILL_AT_STEP)
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
            wait_for(lambda: instance.get_run_by_id(run_id).status
                     == dg.DagsterRunStatus.FAILURE, MAX_RUNTIME_SECONDS + 30,
                     "run monitoring to mark the killed run failed", home)
            wait_for(lambda: RUN_BRANCH_TAG in instance.get_run_by_id(run_id).tags, 90,
                     "the abandoned-branch report", home)

    run = instance.get_run_by_id(run_id)
    messages = [e.message or "" for e in instance.all_logs(run_id)]
    assert any("maximum runtime" in m for m in messages), messages[-5:]
    branch = run_branch_name(run)
    fate = run.tags[RUN_BRANCH_TAG]
    assert fate.startswith(f"{branch}: abandoned by run {run_id} (FAILURE)"), fate
    assert "unpublished object(s), kept as quarantine" in fate
    # The quarantine is the model nobody published: on the branch, not on main.
    unpublished = lakefs.diff_since_base(branch)
    models = f"models/{DS}/"  # layout.model_dir's root
    assert any(change.path.startswith(models) for change in unpublished), unpublished
    assert not lakefs.exists("main", layout.model_pointer(DS, "champion"))


def test_killed_daemon_launched_run_is_failed_at_the_next_poll(lakefs, lakefs_server, tmp_path):
    """A run the daemon launches (the UI's path: `dagster job launch` queues it) is a fork of the
    warm launcher's zygote, no code server's child: the launcher's worker health check is what
    lets run monitoring see it die, long before max_runtime_seconds."""
    import signal
    import subprocess
    import sys

    from mlops_assets.launcher.warm import PID_TAG

    home = ensure_dagster_home(tmp_path / "dagster_home", poll_interval_seconds=1,
                               max_runtime_seconds=600)
    workspace = home / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML)
    env = {**os.environ, **lakefs_env(lakefs, lakefs_server), "DAGSTER_HOME": str(home),
           "MLOPS_ASSETS_DATASET": DS, "MLOPS_ASSETS_LANDING_DIR": str(tmp_path / "landing"),
           "MLOPS_ASSETS_SENSOR_INTERVAL_SECONDS": "1"}
    instance = dg.DagsterInstance.from_config(str(home))

    with running_daemon(home, env):
        seed_features(lakefs, tmp_path, "2024-01-01", "2024-01-08")
        with registry_lock(lakefs, DS, holder="test_run_monitoring"):
            subprocess.run([sys.executable, "-m", "dagster", "job", "launch", "-w",
                            str(workspace), "-j", "train_job", "-c",
                            str(train_config(tmp_path))], env=env, check=True,
                           capture_output=True, timeout=120)
            wait_for(lambda: _step_started(instance, KILL_AT_STEP) is not None, 240,
                     "the evaluation step of the launched run", home, poll=0.2)
            run_id = _step_started(instance, KILL_AT_STEP)
            run = instance.get_run_by_id(run_id)
            assert run.status == dg.DagsterRunStatus.STARTED and PID_TAG in run.tags
            os.kill(int(run.tags[PID_TAG]), signal.SIGKILL)
            wait_for(lambda: instance.get_run_by_id(run_id).status
                     == dg.DagsterRunStatus.FAILURE, 60,
                     "run monitoring to fail the killed run", home)

    messages = [e.message or "" for e in instance.all_logs(run_id)]
    assert any("is gone (killed or crashed)" in m for m in messages), messages[-5:]
    assert not any("maximum runtime" in m for m in messages)
    assert not lakefs.exists("main", layout.model_pointer(DS, "champion"))
