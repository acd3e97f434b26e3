"""A PostgreSQL server from the distribution's packages (Debian: ``postgresql``), run locally.

The cluster lives in one directory (``initdb``), listens on 127.0.0.1 only (no Unix socket) and
requires a password (scram-sha-256). PostgreSQL refuses to run as root: as root, the server runs
as an unprivileged account (``nobody`` or ``MLOPS_ASSETS_SERVICE_USER``) that owns the data
directory. Restarts keep every database; the password and port are recorded beside the data.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlops_assets.stack.procs import (
    HOST,
    StackError,
    free_port,
    port_free,
    read_json,
    service_user,
    tcp_open,
    write_private,
)

SUPERUSER = "mlops"


@dataclass(frozen=True)
class PostgresInfo:
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        return (f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"
                "?sslmode=disable")

    def dagster_env(self, database: str = "dagster") -> dict[str, str]:
        """The variables infra/dagster/dagster.yaml reads (secrets only from the environment)."""
        return {"DAGSTER_PG_HOST": self.host, "DAGSTER_PG_PORT": str(self.port),
                "DAGSTER_PG_USERNAME": self.user, "DAGSTER_PG_PASSWORD": self.password,
                "DAGSTER_PG_DB": database}


def postgres_bin_dir() -> Path:
    """Directory holding initdb/pg_ctl/psql: PATH first, else the newest Debian install."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not candidates:
        raise StackError("PostgreSQL server binaries not found: install them (Debian: "
                         "`apt-get install -y postgresql`; scripts/test does this) or put "
                         "pg_ctl and initdb on PATH.")
    return Path(candidates[-1]).parent


def _traversable_by(path: Path, user: str) -> bool:
    account = pwd.getpwnam(user)
    for part in [path, *path.parents]:
        if not part.exists():
            continue
        mode = part.stat()
        if mode.st_uid != account.pw_uid and not mode.st_mode & stat.S_IXOTH:
            return False
    return True


class LocalPostgres:
    """One PostgreSQL cluster: credentials/port in `state_dir`, data where the server may write."""

    def __init__(self, state_dir: Path, bin_dir: Path | None = None) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve()
        self._bin_dir = bin_dir
        self.user = service_user()

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = postgres_bin_dir()
        return self._bin_dir

    @property
    def data_root(self) -> Path:
        """Owned by the server's account. As root with a private state_dir (e.g. under /root),
        the cluster goes under /var/lib/mlops-assets, keyed by state_dir."""
        root = self.state_dir / "cluster"
        if self.user is None or _traversable_by(self.state_dir, self.user):
            return root
        key = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]
        return Path("/var/lib/mlops-assets") / f"postgres-{key}"

    @property
    def data_dir(self) -> Path:
        return self.data_root / "data"

    @property
    def log_path(self) -> Path:
        return self.data_root / "postgres.log"

    def _run(self, *args: str, as_service: bool = True, check: bool = True,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        user = self.user if as_service else None
        result = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], user=user, cwd=self.data_root,
            env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False,
        )
        if check and result.returncode != 0:
            raise StackError(f"{args[0]} failed ({result.returncode}): "
                             f"{(result.stderr or result.stdout)[-2000:]}")
        return result

    def _credentials(self) -> dict:
        path = self.state_dir / "postgres.json"
        recorded = read_json(path)
        if recorded is None:
            recorded = {"password": secrets.token_hex(16), "port": None}
            write_private(path, _dump(recorded))
        return recorded

    def _record_port(self, port: int) -> None:
        creds = self._credentials()
        creds["port"] = port
        write_private(self.state_dir / "postgres.json", _dump(creds))

    def _init_cluster(self, password: str) -> None:
        self.data_root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            account = pwd.getpwnam(self.user)
            os.chown(self.data_root, account.pw_uid, account.pw_gid)
        os.chmod(self.data_root, 0o700)
        pwfile = self.data_root / ".pwfile"
        write_private(pwfile, password + "\n")
        if self.user is not None:
            os.chown(pwfile, pwd.getpwnam(self.user).pw_uid, -1)
        try:
            self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8",
                      "--no-locale", "--auth=scram-sha-256", f"--pwfile={pwfile}")
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# mlops-assets: loopback TCP only, no Unix socket\n"
                       f"listen_addresses = '{HOST}'\nunix_socket_directories = ''\n"
                       "max_connections = 200\n")

    def info(self) -> PostgresInfo | None:
        creds = read_json(self.state_dir / "postgres.json")
        if not creds or not creds.get("port") or not self._alive(creds["port"]):
            return None
        return PostgresInfo(HOST, creds["port"], SUPERUSER, creds["password"])

    def pid(self) -> int | None:
        """The postmaster's pid (first line of postmaster.pid), or None."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _alive(self, port: int) -> bool:
        return (self.data_dir / "postmaster.pid").is_file() and tcp_open(port)

    def start(self, port: int | None = None, timeout: int = 60) -> PostgresInfo:
        running = self.info()
        if running is not None:
            return running
        creds = self._credentials()
        if not (self.data_dir / "PG_VERSION").is_file():
            self._init_cluster(creds["password"])
        if port is None:
            previous = creds.get("port")
            port = previous if previous and port_free(previous) else free_port()
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w",
                  "-t", str(timeout), "-o", f"-p {port}", "start")
        self._record_port(port)
        return PostgresInfo(HOST, port, SUPERUSER, creds["password"])

    def stop(self) -> bool:
        if not (self.data_dir / "postmaster.pid").is_file():
            return False
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", check=False)
        return True

    def psql(self, sql: str, database: str = "postgres") -> str:
        info = self.info()
        if info is None:
            raise StackError("PostgreSQL is not running")
        result = self._run("psql", "-h", info.host, "-p", str(info.port), "-U", info.user,
                           "-d", database, "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql,
                           as_service=False, env={"PGPASSWORD": info.password})
        return result.stdout.strip()

    def ensure_database(self, name: str) -> None:
        if not name.replace("_", "").isalnum():
            raise StackError(f"invalid database name {name!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists != "1":
            self.psql(f'CREATE DATABASE "{name}"')

    def destroy(self) -> None:
        """Stop and delete the cluster (tests)."""
        self.stop()
        shutil.rmtree(self.data_root, ignore_errors=True)


def _dump(value: dict) -> str:
    return json.dumps(value, indent=2)
