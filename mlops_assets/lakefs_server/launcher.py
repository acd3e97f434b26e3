"""Run a real lakeFS server beside the platform, without Docker.

The server keeps everything under one state directory: a local (badger) metadata store, a local
blockstore, its log, the generated admin credentials and the connection settings that the Dagster
resource (``lakefs.env``) and a user's lakectl (``lakectl.yaml``) read. Starting is idempotent
(a healthy server that is already running is reused) and a restart keeps every repository,
branch, commit and object, because the state directory and the encryption secret persist.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


class LakeFSServerError(RuntimeError):
    """The local lakeFS server could not be started, reached or stopped."""


@dataclass(frozen=True)
class ServerInfo:
    """How to reach a running server: everything a client needs, plus the process."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    pid: int
    port: int
    state_dir: str

    def client_env(self) -> dict[str, str]:
        """The connection as lakectl's standard variables, which the Dagster resource reads."""
        return {
            "LAKECTL_SERVER_ENDPOINT_URL": self.endpoint,
            "LAKECTL_CREDENTIALS_ACCESS_KEY_ID": self.access_key_id,
            "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY": self.secret_access_key,
        }


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    endpoint: str | None
    pid: int | None
    state_dir: str
    detail: str


class LocalLakeFS:
    """A lakeFS server process owned by one state directory."""

    def __init__(self, state_dir: Path, binary: Path | None = None,
                 backend_env: Mapping[str, str] | None = None, args: Sequence[str] = ()) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.binary = binary
        # Production backends (lakefs_server.production): LAKEFS_* settings that replace the
        # local metadata store and blockstore, and e.g. ("--config", file).
        self.backend_env = dict(backend_env or {})
        self.args = tuple(args)

    # -- files -------------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.state_dir / "lakefs.log"

    @property
    def env_path(self) -> Path:
        return self.state_dir / "lakefs.env"

    @property
    def lakectl_config_path(self) -> Path:
        return self.state_dir / "lakectl.yaml"

    @property
    def _server_file(self) -> Path:
        return self.state_dir / "server.json"

    @property
    def _credentials_file(self) -> Path:
        return self.state_dir / "credentials.json"

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two `up` calls at once must not start two servers on one badger directory.
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _credentials(self) -> dict[str, str]:
        """Admin keys and the encryption secret, generated once: a new secret would make the
        stored credentials unreadable after a restart."""
        if self._credentials_file.is_file():
            return json.loads(self._credentials_file.read_text())
        creds = {
            "access_key_id": "AKIA" + secrets.token_hex(8).upper(),
            "secret_access_key": secrets.token_urlsafe(30),
            "encrypt_secret_key": secrets.token_urlsafe(32),
        }
        self._write_private(self._credentials_file, json.dumps(creds, indent=2))
        return creds

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # the mode above only applies to a new file
        with os.fdopen(fd, "w") as handle:
            handle.write(text)

    def _make_private(self) -> None:
        """Connection files hold secrets: back to 0600 at every start, whatever changed them."""
        for path in (self._credentials_file, self.env_path, self.lakectl_config_path):
            if path.is_file():
                os.chmod(path, 0o600)

    def _recorded(self) -> dict | None:
        if not self._server_file.is_file():
            return None
        try:
            return json.loads(self._server_file.read_text())
        except json.JSONDecodeError:
            return None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, port: int | None = None, timeout: float = 60.0) -> ServerInfo:
        """Start the server, or return the one already running from this state directory."""
        with self._lock():
            self._make_private()
            running = self._running_info()
            if running is not None:
                return running
            if self.binary is None:
                raise LakeFSServerError("no lakeFS binary given: call ensure_lakefs_binary()")
            creds = self._credentials()
            recorded = self._recorded() or {}
            # Reuse the previous port when it is free so saved settings stay valid.
            if port is None:
                previous = recorded.get("port")
                port = previous if previous and _port_free(previous) else _free_port()
            elif not _port_free(port):
                raise LakeFSServerError(f"port {HOST}:{port} is already in use")
            (self.state_dir / "metadata").mkdir(parents=True, exist_ok=True)
            (self.state_dir / "blockstore").mkdir(parents=True, exist_ok=True)
            env = {
                **_without_lakefs_settings(os.environ),
                "LAKEFS_LISTEN_ADDRESS": f"{HOST}:{port}",
                "LAKEFS_DATABASE_TYPE": "local",
                "LAKEFS_DATABASE_LOCAL_PATH": str(self.state_dir / "metadata"),
                "LAKEFS_BLOCKSTORE_TYPE": "local",
                "LAKEFS_BLOCKSTORE_LOCAL_PATH": str(self.state_dir / "blockstore"),
                "LAKEFS_AUTH_ENCRYPT_SECRET_KEY": creds["encrypt_secret_key"],
                # No outbound calls: telemetry, newsletter and version checks off.
                "LAKEFS_STATS_ENABLED": "false",
                "LAKEFS_EMAIL_SUBSCRIPTION_ENABLED": "false",
                "LAKEFS_SECURITY_CHECK_LATEST_VERSION": "false",
                "LAKEFS_LOGGING_LEVEL": "INFO",
                # Creates the admin at first start without prompts (skipped once set up).
                "LAKEFS_INSTALLATION_USER_NAME": "admin",
                "LAKEFS_INSTALLATION_ACCESS_KEY_ID": creds["access_key_id"],
                "LAKEFS_INSTALLATION_SECRET_ACCESS_KEY": creds["secret_access_key"],
                **self.backend_env,
            }
            with open(self.log_path, "ab") as log:
                process = subprocess.Popen(
                    [str(self.binary), "run", *self.args],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # survives the CLI that started it; own signal group
                )
            endpoint = f"http://{HOST}:{port}"
            info = ServerInfo(
                endpoint=endpoint,
                access_key_id=creds["access_key_id"],
                secret_access_key=creds["secret_access_key"],
                pid=process.pid,
                port=port,
                state_dir=str(self.state_dir),
            )
            self._wait_healthy(process, endpoint, timeout)
            if self.backend_env:
                _setup_admin(endpoint, creds)
            self._server_file.write_text(
                json.dumps(
                    {
                        "pid": process.pid,
                        "port": port,
                        "endpoint": endpoint,
                        "binary": str(self.binary),
                        "started_at": time.time(),
                    },
                    indent=2,
                )
            )
            self._write_settings(info)
            return info

    def _wait_healthy(self, process: subprocess.Popen, endpoint: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LakeFSServerError(
                    f"lakeFS exited with code {process.returncode} during start-up; "
                    f"last lines of {self.log_path}:\n{self._log_tail()}"
                )
            if _healthy(endpoint):
                return
            time.sleep(0.2)
        _terminate(process.pid)
        raise LakeFSServerError(
            f"lakeFS did not become healthy at {endpoint}/_health within {timeout:.0f} s; "
            f"last lines of {self.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        if not self.log_path.is_file():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _running_info(self) -> ServerInfo | None:
        recorded = self._recorded()
        if not recorded or not _pid_alive(recorded["pid"]) or not _healthy(recorded["endpoint"]):
            return None
        creds = self._credentials()
        return ServerInfo(
            endpoint=recorded["endpoint"],
            access_key_id=creds["access_key_id"],
            secret_access_key=creds["secret_access_key"],
            pid=recorded["pid"],
            port=recorded["port"],
            state_dir=str(self.state_dir),
        )

    def info(self) -> ServerInfo | None:
        """The running server's connection, or None."""
        return self._running_info()

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the server if it runs; True when a process was stopped."""
        with self._lock():
            recorded = self._recorded()
            if not recorded or not _pid_alive(recorded["pid"]):
                return False
            _terminate(recorded["pid"], timeout)
            return True

    def status(self) -> ServerStatus:
        recorded = self._recorded()
        if recorded is None:
            return ServerStatus(False, None, None, str(self.state_dir), "never started")
        if not _pid_alive(recorded["pid"]):
            return ServerStatus(False, recorded["endpoint"], None, str(self.state_dir), "stopped")
        if not _healthy(recorded["endpoint"]):
            return ServerStatus(
                False,
                recorded["endpoint"],
                recorded["pid"],
                str(self.state_dir),
                "process alive but not answering /_health",
            )
        return ServerStatus(
            True, recorded["endpoint"], recorded["pid"], str(self.state_dir), "healthy"
        )

    def _write_settings(self, info: ServerInfo) -> None:
        env_lines = [f"{key}={value}" for key, value in info.client_env().items()]
        self._write_private(self.env_path, "\n".join(env_lines) + "\n")
        self._write_private(
            self.lakectl_config_path,
            "credentials:\n"
            f"  access_key_id: {info.access_key_id}\n"
            f"  secret_access_key: {info.secret_access_key}\n"
            "server:\n"
            f"  endpoint_url: {info.endpoint}\n",
        )


def read_env_file(path: Path) -> dict[str, str]:
    """Parse the KEY=VALUE file written by the launcher."""
    values: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def _without_lakefs_settings(environ: os._Environ | dict) -> dict[str, str]:
    # A user's own LAKEFS_* variables would silently reconfigure our embedded server.
    return {k: v for k, v in environ.items() if not k.startswith("LAKEFS_")}


def _setup_admin(endpoint: str, creds: dict[str, str]) -> None:
    """lakeFS creates the admin from LAKEFS_INSTALLATION_* only on a local or mem database; on
    PostgreSQL, set it up through the API (409 once done)."""
    body = json.dumps({"username": "admin", "key": {
        "access_key_id": creds["access_key_id"], "secret_access_key": creds["secret_access_key"]}})
    request = urllib.request.Request(f"{endpoint}/api/v1/setup_lakefs", data=body.encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as error:
        if error.code != 409:
            detail = f"{error.code} {error.read()[:300]!r}"
            raise LakeFSServerError(f"lakeFS setup failed: {detail}") from None


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_health", timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (started by this very process) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _terminate(pid: int, timeout: float = 15.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap when it is our own child
        if not _pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


__all__ = ["LakeFSServerError", "LocalLakeFS", "ServerInfo", "ServerStatus", "read_env_file"]
