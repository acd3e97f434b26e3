"""Shared machinery of the fault trials: processes started as a user starts them (`dagster job
execute`, `python -m mlops_assets.cli`), killed with SIGKILL on a trigger, and a tally that the
suite prints at the end (tried / rejected / main untouched / recovered without a person).

N trials per kind: MLOPS_ASSETS_FAULTS_N (default 3); seed: MLOPS_ASSETS_FAULTS_SEED (13)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from mlops_assets.platform.lakefs_client import LakeFSClient, LakeFSError
from mlops_assets.settings import ensure_dagster_home
from mlops_assets.testing import (
    FAST_TRAINING,
    failure_messages,
    lakefs_env,
    pipeline_definitions,
    run_job,
)

DS = "synthetic"
N = int(os.environ.get("MLOPS_ASSETS_FAULTS_N", "3"))
SEED = int(os.environ.get("MLOPS_ASSETS_FAULTS_SEED", "13"))

# kind -> counters; printed by conftest at the end of the session.
TALLY: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))


def count(kind: str, **what: int) -> None:
    for name, value in what.items():
        TALLY[kind][name] += value


def job_env(client: LakeFSClient, info, tmp_path: Path, home: str = "dagster_home"
            ) -> dict[str, str]:
    dagster_home = ensure_dagster_home(tmp_path / home)
    return {**os.environ, **lakefs_env(client, info), "DAGSTER_HOME": str(dagster_home),
            "MLOPS_ASSETS_DATASET": DS, "MLOPS_ASSETS_LANDING_DIR": str(tmp_path / "landing")}


# A policy under which every challenger that passed evaluation replaces the champion, so each
# trial moves the alias (the state a kill can tear between the merge and the version tag).
ALWAYS_PROMOTE = {"min_improvement": -1.0, "alpha": 1.0}
# CIs and model quality are not what these trials check: tiny 3-epoch models may trail the
# logistic baseline, so the non-inferiority leg of the quality bar is off here.
FAST_EVALUATION = {"n_bootstrap": 20, "must_not_lose_to": []}


def train_config(tmp_path: Path, seed: int = 0, always_promote: bool = False) -> Path:
    """Run config for `dagster job execute -j train_job`: tiny models (behaviour, not quality)."""
    path = tmp_path / f"train-{seed}.json"  # JSON is YAML
    champion = ALWAYS_PROMOTE if always_promote else {}
    path.write_text(json.dumps({"ops": {  # op names are dataset-scoped (defs/naming.py)
        f"{DS}__model": {"config": {**FAST_TRAINING, "seed": seed}},
        f"{DS}__evaluation": {"config": FAST_EVALUATION},
        f"{DS}__champion": {"config": champion},
    }}))
    return path


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A child in its own process group (killed whole), its output in `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def dagster_job(job: str, config: Path | None = None, tags: dict[str, str] | None = None
                ) -> list[str]:
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m",
               "mlops_assets.definitions", "-j", job]
    if config:
        command += ["-c", str(config)]
    if tags:
        command += ["--tags", json.dumps(tags)]
    return command


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlops_assets.cli", *args]


def kill9(process: subprocess.Popen) -> bool:
    """SIGKILL the process group; True when it was still running."""
    alive = process.poll() is None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return alive


def run(command: list[str], env: dict[str, str], log: Path, timeout: float = 300
        ) -> tuple[int, str]:
    process = start(command, env, log)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill9(process)
        code = -9
    return code, log.read_text(errors="replace")[-3000:]


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout: float,
             poll: float = 0.02) -> bool:
    """Poll `condition` until true (True), the process ends or the timeout passes (False).
    lakeFS errors while polling count as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if condition():
                return True
        except LakeFSError:
            pass
        time.sleep(poll)
    return False


def branch_appears(client: LakeFSClient, prefix: str) -> Callable[[], bool]:
    return lambda: any(b.startswith(prefix) for b in client.list_branches())


def main_moves(client: LakeFSClient) -> Callable[[], bool]:
    before = client.resolve("main")
    return lambda: client.resolve("main") != before


def seed_features(client: LakeFSClient, tmp_path: Path, start_key: str, end_key: str) -> None:
    """Published batches and features, in process (fast): what train_job needs."""
    defs = pipeline_definitions(client, tmp_path / "landing-inprocess", DS)
    assert run_job(defs, "ingest_job", start_key, end_key).success
    assert run_job(defs, "features_job", start_key, end_key).success


def train_in_process(client: LakeFSClient, tmp_path: Path, seed: int = 0,
                     always_promote: bool = False) -> None:
    """A train_job run in this process: the same code path as `dagster job execute`, without
    paying a new interpreter (dagster, torch) per run."""
    defs = pipeline_definitions(client, tmp_path / "landing-inprocess", DS)
    ops = {"evaluation": FAST_EVALUATION, **({"champion": ALWAYS_PROMOTE} if always_promote
                                              else {})}
    result = run_job(defs, "train_job", training={"seed": seed}, ops_config=ops)
    assert result.success, failure_messages(result)
