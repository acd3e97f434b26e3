"""A real `dagster-daemon` over a temp DAGSTER_HOME, for end-to-end automation tests."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg

DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
"""

WORKSPACE_YAML = """\
load_from:
  - python_module:
      module_name: mlops_assets.definitions
      location_name: mlops_assets
"""

TERMINAL = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
            dg.DagsterRunStatus.CANCELED}


def land_batches(landing: Path, dataset: str, keys: list[str]) -> None:
    """Drop batches of a bundled dataset into the landing folder, each file appearing whole
    (written aside, then renamed), as a real upload should."""
    from mlops_assets.core.sources import extract_batch
    from mlops_assets.core.spec import load_spec

    spec = load_spec(dataset)
    folder = landing / dataset
    folder.mkdir(parents=True, exist_ok=True)
    for key in keys:
        tmp = folder / f".{key}.parquet.tmp"
        extract_batch(spec, key).write_parquet(tmp)
        tmp.rename(folder / f"{key}.parquet")


def prepare_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    (home / "workspace.yaml").write_text(WORKSPACE_YAML)
    return home


@contextlib.contextmanager
def running_daemon(home: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` in its own process group; stopped with everything it started."""
    log = open(home / "daemon.log", "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run",
         "-w", str(home / "workspace.yaml")],
        env={**os.environ, **env, "DAGSTER_HOME": str(home)},
        cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, home: Path, poll: float = 1.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    tail = (home / "daemon.log").read_text(errors="replace").splitlines()[-40:]
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; daemon log:\n"
                         + "\n".join(tail))


def runs_of(instance: dg.DagsterInstance, job: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(job_name=job)))


def all_finished(instance: dg.DagsterInstance, job: str, count: int) -> bool:
    runs = runs_of(instance, job)
    return len(runs) >= count and all(r.status in TERMINAL for r in runs)
