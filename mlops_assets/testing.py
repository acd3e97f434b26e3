"""Helpers the test suite and the benchmarks share (shipped in the package, so the benchmarks
never import the tests): a client on a throwaway repository, the pipeline run in process with
tiny models, `dagster job execute` as a user runs it, and a real `dagster-daemon` over a temp
DAGSTER_HOME for end-to-end automation runs."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from mlops_assets.defs.partitions import range_tags
from mlops_assets.platform.lakefs_client import LakeFSClient

if TYPE_CHECKING:
    from mlops_assets.lakefs_server import ServerInfo

DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
    dequeue_interval_seconds: 1
run_launcher:
  module: mlops_assets.launcher.warm
  class: WarmRunLauncher
run_monitoring:
  enabled: true
  # As the local and production instances: a first run waits for the warm launcher's zygote to
  # import everything (tens of seconds on a loaded 2-core machine) while it is STARTING.
  start_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 5
"""

WORKSPACE_YAML = """\
load_from:
  - python_module:
      module_name: mlops_assets.definitions
      location_name: mlops_assets
"""

# Tiny models: the tests check behaviour, not quality. lr 1e-2: in 3 epochs the default 3e-4
# leaves the model far below the logistic baseline, which the quality bar rejects.
FAST_TRAINING = {"max_epochs": 3, "train_days": 20, "eval_days": 3, "hidden_sizes": [8],
                 "lr": 1e-2}

TERMINAL = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
            dg.DagsterRunStatus.CANCELED}


# ------------------------------------------------------------------------------------ lakeFS
def make_client(info: "ServerInfo", repository: str | None = None) -> LakeFSClient:
    """A client on `repository` (default: a fresh random name) of a running server."""
    return LakeFSClient(
        endpoint=info.endpoint,
        access_key_id=info.access_key_id,
        secret_access_key=info.secret_access_key,
        repository=repository or f"t-{uuid.uuid4().hex[:12]}",
    )


def lakefs_env(client: LakeFSClient, info: "ServerInfo") -> dict[str, str]:
    """Environment for a `dagster` subprocess that should use ``client``'s repository."""
    return {**info.client_env(), "MLOPS_ASSETS_REPOSITORY": client.repository}


def dagster_job_execute(
    job: str, env: dict[str, str], tags: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`dagster job execute` on the code location, as a user or CI runs it."""
    command = [sys.executable, "-m", "dagster", "job", "execute",
               "-m", "mlops_assets.definitions", "-j", job]
    if tags:
        command += ["--tags", json.dumps(tags)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------------------ pipeline
def pipeline_definitions(
    lakefs: LakeFSClient, landing_dir: Path, dataset: str | list[str] = "synthetic"
) -> dg.Definitions:
    """The code location over one dataset (bare job names) or several (`<ds>__main_job`);
    each entry is a bundled name or a spec path."""
    from mlops_assets.core.spec import load_specs
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.ingest.landing import LandingResource

    return build_definitions(
        load_specs([dataset] if isinstance(dataset, str) else dataset),
        resources={"lakefs": lakefs, "landing": LandingResource(path=str(landing_dir))},
    )


def run_job(
    defs: dg.Definitions,
    job_name: str,
    start: str | None = None,
    end: str | None = None,
    instance: dg.DagsterInstance | None = None,
    training: dict | None = None,
    ops_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a job in process. `ops_config` and `training` name ops by their asset name ("model");
    they are mapped to the job's op names (`<dataset>__model`)."""
    job = defs.resolve_job_def(job_name)
    nodes = {node.name.rsplit("__", 1)[-1]: node.name for node in job.nodes_in_topological_order}
    ops = {nodes.get(name, name): {"config": config}
           for name, config in (ops_config or {}).items()}
    if "model" in nodes:
        ops[nodes["model"]] = {"config": {**FAST_TRAINING, **(training or {})}}
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags=range_tags(start, end or start) if start else None,
        run_config={"ops": ops} if ops else None,
        raise_on_error=False,
    )


def failure_messages(result: dg.ExecuteInProcessResult) -> str:
    """Every step failure and failed check description of a run, as one string."""
    parts = [
        event.step_failure_data.error.message
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data.error
    ]
    parts += [
        evaluation.description or ""
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed
    ]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------ daemon
def land_batches(landing: Path, dataset: str, keys: list[str]) -> None:
    """Drop batches of a dataset (a bundled name or a spec path) into the landing folder, each
    file appearing whole (written aside, then renamed), as a real upload should."""
    from mlops_assets.core.sources import extract_batch
    from mlops_assets.core.spec import load_spec

    spec = load_spec(dataset)
    folder = landing / spec.name
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
