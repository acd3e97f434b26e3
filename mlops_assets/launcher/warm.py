"""WarmRunLauncher: Dagster runs forked from a warm process instead of a fresh interpreter.

Dagster's default launcher asks the code server to *spawn* a new Python per run, which imports
Dagster, the code location and (at its first step) torch and scipy again: 5-8 s of every run on
2 cores, longer than most of this platform's runs compute. This launcher keeps one zygote
process (zygote.py) next to the daemon with those imports done, and each run is a fork of it
that executes the run exactly as `dagster api execute_run` does (the path the Docker and
Kubernetes launchers use), so run storage, events, checks and failures are Dagster's own.

    run_launcher:
      module: mlops_assets.launcher.warm
      class: WarmRunLauncher
      config:
        preload_modules: [mlops_assets.definitions, torch, scipy.stats]   # the default

Use it where the daemon (or `dagster dev`) runs with the code location's environment (the local
instance, the tests, the benchmarks): the zygote loads the code in the daemon's environment. A
code server with its own environment (the production stack) keeps the default launcher. When a
source file of the package changes, the zygote notices at the next launch and is replaced; while
a new zygote warms up, runs are started cold (`dagster api execute_run` in a new process).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.launcher import (
    CheckRunHealthResult,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClass, ConfigurableClassData

DEFAULT_PRELOAD = ["mlops_assets.definitions", "torch", "scipy.stats"]
PID_TAG = "mlops/run_pid"  # the run's process, for termination from any process
LAUNCH_TAG = "mlops/launch"  # warm (forked) or cold (new interpreter): visible per run


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    def __init__(self, inst_data: ConfigurableClassData | None = None,
                 preload_modules: Sequence[str] | None = None,
                 wait_for_zygote_seconds: float = 120) -> None:
        self._inst_data = inst_data
        self.preload_modules = list(preload_modules or DEFAULT_PRELOAD)
        # The first run waits for the zygote rather than importing everything a second time
        # next to it (on 2 cores the two imports would only slow each other down).
        self.wait_for_zygote_seconds = wait_for_zygote_seconds
        self._lock = threading.Lock()
        self._zygote: subprocess.Popen | None = None
        self._dir: str | None = None
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {"preload_modules": dg.Field([str], is_required=False),
                "wait_for_zygote_seconds": dg.Field(float, is_required=False, default_value=120)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData,
                          config_value: Mapping[str, Any]) -> WarmRunLauncher:
        return cls(inst_data=inst_data, preload_modules=config_value.get("preload_modules"),
                   wait_for_zygote_seconds=config_value.get("wait_for_zygote_seconds", 120))

    # ------------------------------------------------------------------------ launching
    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = context.job_code_origin
        if origin is None:
            raise dg.DagsterInvariantViolationError(f"run {run.run_id} has no code origin")
        args = ExecuteRunArgs(job_origin=origin, run_id=run.run_id,
                              instance_ref=self._instance.get_ref())
        pid = None
        for _ in range(2):  # a stale zygote is replaced once, then this run waits for the new one
            if self.wait_for_zygote_seconds > 0:
                self.wait_for_zygote(self.wait_for_zygote_seconds)
            with self._lock:
                pid = self._fork(args)
            if pid is not None or self.wait_for_zygote_seconds <= 0:
                break
        mode = "warm" if pid is not None else "cold"
        if pid is None:
            from dagster._serdes import serialize_value

            command = [sys.executable, "-m", "dagster", "api", "execute_run",
                       serialize_value(args)]  # what the code server's spawn does, uncached
            pid = subprocess.Popen(command, stdin=subprocess.DEVNULL).pid
        self._instance.add_run_tags(run.run_id, {PID_TAG: str(pid), LAUNCH_TAG: mode})

    def _fork(self, args: ExecuteRunArgs) -> int | None:
        """The pid of the run forked from the zygote, or None (not ready yet, or gone)."""
        if not self._zygote_ready():
            return None
        from dagster._serdes import serialize_value

        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(30)
                conn.connect(self._socket_path())
                conn.sendall(json.dumps({"input_json": serialize_value(args)}).encode() + b"\n")
                reply = json.loads(conn.makefile().readline() or "{}")
        except (OSError, ValueError):
            reply = {}
        if "pid" in reply:
            return int(reply["pid"])
        self._stop_zygote()  # stale code, refused to fork or broken: replace it
        self._start_zygote()
        return None

    def _socket_path(self) -> str:
        return os.path.join(self._dir or "", "zygote.sock")

    def _zygote_ready(self) -> bool:
        if self._zygote is None or self._zygote.poll() is not None:
            self._stop_zygote()
            self._start_zygote()
            return False
        return os.path.exists(self._socket_path())

    def _start_zygote(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="mlops-zygote-")  # short: socket paths max ~100
        self._zygote = subprocess.Popen(
            [sys.executable, "-m", "mlops_assets.launcher.zygote", self._socket_path(),
             *self.preload_modules],
            stdin=subprocess.DEVNULL,
        )

    def _stop_zygote(self) -> None:
        if self._zygote is not None and self._zygote.poll() is None:
            self._zygote.terminate()
            try:
                self._zygote.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._zygote.kill()
        self._zygote = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def dispose(self) -> None:
        self._stop_zygote()

    # ------------------------------------------------------------------------ termination
    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished or PID_TAG not in run.tags:
            return False
        self._instance.report_run_canceling(run)
        try:
            os.kill(int(run.tags[PID_TAG]), signal.SIGINT)  # Dagster turns it into a cancel
        except ProcessLookupError:
            return False
        return True

    # ------------------------------------------------------------------------ run monitoring
    # A run's process is no code server's child here, so nothing else notices when it is
    # killed (kill -9, OOM): run monitoring asks this launcher and fails the run at its next poll.
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        pid = run.tags.get(PID_TAG)
        if pid is None:  # not launched here (`dagster job execute`): max_runtime ends it
            return CheckRunHealthResult(WorkerStatus.RUNNING, "not launched by this launcher")
        if not _process_alive(int(pid)):
            return CheckRunHealthResult(
                WorkerStatus.FAILED, f"the run's process {pid} is gone (killed or crashed)")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def wait_for_zygote(self, timeout: float = 120) -> bool:
        """Start the zygote now and wait until it accepts runs (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._zygote is None or self._zygote.poll() is not None:
                self._stop_zygote()
                self._start_zygote()
            zygote, socket_path = self._zygote, self._socket_path()
        while time.monotonic() < deadline:
            if os.path.exists(socket_path):
                return True
            if zygote is None or zygote.poll() is not None:  # it failed to start: go cold
                return False
            time.sleep(0.1)
        return False


def _process_alive(pid: int) -> bool:
    """Whether `pid` still runs; a finished child of ours (a cold launch) is reaped here."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    except ChildProcessError:  # not our child (forked by the zygote, which reaps it)
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's (should not happen; do not fail the run)
        return True
    return True
