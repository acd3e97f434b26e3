"""`mlops-assets stack`: the production topology on 127.0.0.1, one process per server.

PostgreSQL (Dagster's storage and lakeFS's key-value store), SeaweedFS (lakeFS's S3
blockstore), lakeFS, and Dagster as production runs it: the code location in a gRPC code server
(`dagster code-server start`), with `dagster-webserver` and `dagster-daemon` as their own
processes reading one workspace.yaml that points at it. State lives under
$MLOPS_ASSETS_HOME/stack, so `down` then `up` keeps every run, commit and object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mlops_assets.lakefs_server import LocalLakeFS, ensure_lakefs_binary
from mlops_assets.lakefs_server.production import production_args, production_env
from mlops_assets.settings import Settings
from mlops_assets.stack.binaries import ensure_binary, seaweedfs_tool
from mlops_assets.stack.dagster_instance import (
    CODE_MODULE,
    LOCATION_NAME,
    TRAINING_POOL,
    prepare_dagster_home,
)
from mlops_assets.stack.postgres import LocalPostgres
from mlops_assets.stack.procs import (
    HOST,
    StackError,
    free_port,
    http_ok,
    pid_alive,
    port_free,
    read_json,
    spawn,
    tcp_open,
    terminate,
    wait_until,
    write_private,
)
from mlops_assets.stack.seaweed import LocalSeaweedFS

DAGSTER_PROCESSES = ("code_server", "webserver", "daemon")
HEARTBEAT_STALE_SECONDS = 120


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    healthy: bool
    detail: str
    endpoint: str = ""
    pid: int | None = None


class Stack:
    def __init__(self, settings: Settings, dataset: str = "nycflights13") -> None:
        self.settings = settings
        self.dataset = dataset
        self.root = settings.home / "stack"
        self.postgres = LocalPostgres(self.root / "postgres")
        self.seaweed = LocalSeaweedFS(self.root / "seaweedfs")
        self.lakefs = LocalLakeFS(self.root / "lakefs")
        self.dagster_home = self.root / "dagster"

    @property
    def env_path(self) -> Path:
        return self.root / "stack.env"

    @property
    def _processes_file(self) -> Path:
        return self.dagster_home / "processes.json"

    def _bin(self, name: str) -> str:
        return str(Path(sys.executable).parent / name)

    # -- up ----------------------------------------------------------------------------------
    def up(self, max_training: int | None = None, webserver_port: int | None = None,
           progress=print, extra_env: dict[str, str] | None = None) -> dict[str, str]:
        """Start every server that is not running; returns the platform's environment."""
        pg = self.postgres.start()
        for db in ("dagster", "lakefs"):
            self.postgres.ensure_database(db)
        progress(f"PostgreSQL   {pg.host}:{pg.port}")
        self.seaweed.binary = ensure_binary(seaweedfs_tool(), self.settings.cache_dir, progress)
        sw = self.seaweed.start()
        progress(f"SeaweedFS S3 {sw.s3.endpoint} (bucket {sw.s3.bucket})")
        self.lakefs.binary = ensure_lakefs_binary(self.settings.cache_dir,
                                                  self.settings.lakefs_binary)
        self.lakefs.backend_env = production_env(pg.url("lakefs"), sw.s3)
        self.lakefs.args = production_args()
        lakefs = self.lakefs.start(timeout=120)
        progress(f"lakeFS       {lakefs.endpoint} (KV on PostgreSQL, blockstore on S3)")
        platform = {
            **pg.dagster_env("dagster"), **lakefs.client_env(),
            "DAGSTER_HOME": str(self.dagster_home),
            "MLOPS_ASSETS_HOME": str(self.settings.home),
            "MLOPS_ASSETS_REPOSITORY": self.settings.repository,
            "MLOPS_ASSETS_DATASET": self.dataset,
            "MLOPS_ASSETS_STORAGE_NAMESPACE": sw.s3.storage_namespace(self.settings.repository),
            **(extra_env or {}),  # e.g. sensor and retrain settings for the code location
        }
        env = {**os.environ, **platform}
        # The servers import the same mlops_assets as this process (a checkout or a worktree
        # may shadow an installed copy only through PYTHONPATH).
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
        self._start_dagster(env, webserver_port, progress)
        if max_training is not None:
            subprocess.run([self._bin("dagster"), "instance", "concurrency", "set",
                            TRAINING_POOL, str(max_training)], env=env, check=True,
                           capture_output=True)
        # The connection for other shells (`set -a; . stack.env`): secrets, so 0600.
        write_private(self.env_path, "".join(f"{k}={v}\n" for k, v in platform.items()))
        return env

    def _start_dagster(self, env: dict[str, str], webserver_port: int | None, progress) -> None:
        recorded = read_json(self._processes_file) or {}
        running = {n: p for n, p in recorded.items() if pid_alive(p["pid"])}
        grpc_port = running.get("code_server", recorded.get("code_server", {})).get("port")
        if "code_server" not in running and (grpc_port is None or not port_free(grpc_port)):
            grpc_port = free_port()
        workspace = prepare_dagster_home(self.dagster_home, grpc_port)
        logs = self.root / "logs"
        commands = {
            "code_server": [self._bin("dagster"), "code-server", "start", "-m", CODE_MODULE,
                            "-h", HOST, "-p", str(grpc_port), "--location-name", LOCATION_NAME],
            "webserver": [self._bin("dagster-webserver"), "-w", str(workspace), "-h", HOST,
                          "-p", "{port}"],
            "daemon": [self._bin("dagster-daemon"), "run", "-w", str(workspace)],
        }
        for name in DAGSTER_PROCESSES:
            if name in running:
                continue
            port = grpc_port if name == "code_server" else None
            if name == "webserver":
                previous = recorded.get("webserver", {}).get("port")
                port = webserver_port or (previous if previous and port_free(previous)
                                          else free_port())
            command = [part.replace("{port}", str(port)) for part in commands[name]]
            process = spawn(command, logs / f"{name}.log", env=env, cwd=self.root)
            running[name] = {"pid": process.pid, "port": port}
            write_private(self._processes_file, json.dumps(running, indent=2))
            self._wait_dagster(name, running[name], process, logs / f"{name}.log")
            where = f" {HOST}:{port}" if port else ""
            progress(f"Dagster {name:<12}{where} (pid {process.pid})")

    def _wait_dagster(self, name: str, proc: dict, process: subprocess.Popen, log: Path) -> None:
        alive = lambda: process.poll() is None  # noqa: E731
        if name == "code_server":
            wait_until(lambda: self._grpc_serving(proc["port"]), "dagster code server", 180,
                       alive, log)
        elif name == "webserver":
            wait_until(lambda: http_ok(f"http://{HOST}:{proc['port']}/server_info"),
                       "dagster-webserver", 120, alive, log)
        else:
            wait_until(lambda: bool(self._heartbeats()), "dagster-daemon heartbeat", 120,
                       alive, log)

    def _grpc_serving(self, port: int) -> bool:
        if not tcp_open(port):
            return False
        result = subprocess.run([self._bin("dagster"), "api", "grpc-health-check", "-p",
                                 str(port), "-h", HOST], capture_output=True, check=False)
        return result.returncode == 0

    def _heartbeats(self) -> dict[str, float]:
        """Daemon heartbeats recorded in PostgreSQL (type -> seconds since the last one)."""
        try:
            rows = self.postgres.psql("SELECT daemon_type, extract(epoch from now() - "
                                      "timestamp) FROM daemon_heartbeats", database="dagster")
        except StackError:
            return {}
        out = {}
        for line in rows.splitlines():
            kind, _, age = line.partition("|")
            out[kind] = float(age)
        return out

    # -- down / status -----------------------------------------------------------------------
    def down(self, progress=print) -> None:
        recorded = read_json(self._processes_file) or {}
        for name in reversed(DAGSTER_PROCESSES):
            proc = recorded.get(name)
            if proc and pid_alive(proc["pid"]):
                terminate(proc["pid"], timeout=30)
                progress(f"stopped Dagster {name}")
        if self.lakefs.stop():
            progress("stopped lakeFS")
        if self.seaweed.stop():
            progress("stopped SeaweedFS")
        if self.postgres.stop():
            progress("stopped PostgreSQL")

    def status(self) -> list[ServiceStatus]:
        out = []
        pg = self.postgres.info()
        out.append(ServiceStatus("postgres", pg is not None, "accepting TCP" if pg else "down",
                                 f"{pg.host}:{pg.port}" if pg else "",
                                 self.postgres.pid() if pg else None))
        sw = self.seaweed.info()
        out.append(ServiceStatus("seaweedfs", sw is not None,
                                 f"bucket {sw.s3.bucket} reachable" if sw else "down",
                                 sw.s3.endpoint if sw else "", sw.pid if sw else None))
        lk = self.lakefs.status()
        out.append(ServiceStatus("lakefs", lk.running, lk.detail, lk.endpoint or "", lk.pid))
        recorded = read_json(self._processes_file) or {}
        beats = self._heartbeats() if pg else {}
        for name in DAGSTER_PROCESSES:
            proc = recorded.get(name)
            alive = bool(proc) and pid_alive(proc["pid"])
            endpoint = f"{HOST}:{proc['port']}" if proc and proc.get("port") else ""
            if not alive:
                out.append(ServiceStatus(name, False, "down", endpoint))
                continue
            if name == "code_server":
                ok, detail = tcp_open(proc["port"]), "gRPC port open"
            elif name == "webserver":
                ok = http_ok(f"http://{HOST}:{proc['port']}/server_info")
                detail = "/server_info answers"
            else:
                fresh = {k for k, age in beats.items() if age < HEARTBEAT_STALE_SECONDS}
                ok, detail = bool(fresh), f"heartbeats: {', '.join(sorted(fresh)) or 'none'}"
            out.append(ServiceStatus(name, ok, detail if ok else f"unhealthy: {detail}",
                                     endpoint, proc["pid"]))
        return out


def status_json(statuses: list[ServiceStatus]) -> str:
    return json.dumps({"services": [asdict(s) for s in statuses],
                       "healthy": all(s.healthy for s in statuses), "at": time.time()}, indent=2)
