"""Process helpers shared by the stack's servers: ports, pids, health polling, run-as user."""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from mlops_assets.lakefs_server.launcher import (
    HOST,
    _free_port,
    _pid_alive,
    _port_free,
    _terminate,
)

__all__ = [
    "HOST",
    "StackError",
    "free_port",
    "free_ports",
    "http_ok",
    "pid_alive",
    "port_free",
    "read_json",
    "service_user",
    "spawn",
    "tcp_open",
    "terminate",
    "wait_until",
    "write_private",
]

free_port = _free_port
pid_alive = _pid_alive
port_free = _port_free
terminate = _terminate


class StackError(RuntimeError):
    """A server of the stack could not be built, started, reached or stopped."""


def free_ports(count: int, offset: int = 0) -> list[int]:
    """`count` distinct free ports on HOST; with `offset`, port+offset is free too (SeaweedFS
    derives its gRPC ports as HTTP port + 10000)."""
    ports: list[int] = []
    for _ in range(200):
        port = free_port()
        if port + offset > 65535 or port in ports:
            continue
        if offset and (not port_free(port + offset) or port + offset in ports):
            continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise StackError(f"could not find {count} free ports on {HOST}")


def tcp_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 400
    except urllib.error.HTTPError as error:
        return error.code < 500 and error.code != 404
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until(check: Callable[[], bool], what: str, timeout: float,
               alive: Callable[[], bool] | None = None, log: Path | None = None) -> None:
    """Poll `check` until it holds; fail early when `alive` says the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            raise StackError(f"{what} exited during start-up{_tail(log)}")
        time.sleep(0.25)
    raise StackError(f"{what} not ready within {timeout:.0f} s{_tail(log)}")


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.is_file():
        return ""
    text = "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return f"; last lines of {log}:\n{text}"


def service_user() -> str | None:
    """The unprivileged account servers run as when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("MLOPS_ASSETS_SERVICE_USER", "nobody")
    pwd.getpwnam(name)  # KeyError: no such user
    return name


def spawn(command: Sequence[str], log: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None, user: str | None = None) -> subprocess.Popen:
    """Start a long-running server detached from this process (own session), logging to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        return subprocess.Popen(
            list(command), env=dict(env) if env is not None else None, cwd=cwd, user=user,
            stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
