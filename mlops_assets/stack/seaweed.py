"""SeaweedFS as the stack's S3-compatible object store: one ``weed mini`` process (master,
volume server, filer and S3 gateway) on 127.0.0.1, its data in one directory.

Why SeaweedFS: Apache-2.0, a single Go binary built from the Go module proxy like lakeFS (no
Docker), S3 with signature checks and path-style buckets, and persistence across restarts.
MinIO's server is AGPL-3.0 and its community edition no longer ships binaries.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from mlops_assets.lakefs_server.production import S3Backend
from mlops_assets.stack.procs import (
    HOST,
    StackError,
    free_ports,
    pid_alive,
    port_free,
    read_json,
    spawn,
    terminate,
    wait_until,
    write_private,
)
from mlops_assets.stack.s3 import ensure_bucket, s3_request

GRPC_OFFSET = 10000  # SeaweedFS serves gRPC on HTTP port + 10000
DEFAULT_BUCKET = "mlops-assets"


@dataclass(frozen=True)
class SeaweedInfo:
    s3: S3Backend
    pid: int
    ports: dict[str, int]


class LocalSeaweedFS:
    def __init__(self, state_dir: Path, binary: Path | None = None,
                 bucket: str = DEFAULT_BUCKET) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.binary = binary
        self.bucket = bucket

    @property
    def log_path(self) -> Path:
        return self.state_dir / "seaweedfs.log"

    @property
    def _server_file(self) -> Path:
        return self.state_dir / "server.json"

    def _credentials(self) -> dict[str, str]:
        path = self.state_dir / "credentials.json"
        creds = read_json(path)
        if creds is None:
            creds = {"access_key_id": "SW" + secrets.token_hex(8).upper(),
                     "secret_access_key": secrets.token_urlsafe(30)}
            write_private(path, json.dumps(creds, indent=2))
        return creds

    def _backend(self, s3_port: int) -> S3Backend:
        creds = self._credentials()
        return S3Backend(f"http://{HOST}:{s3_port}", creds["access_key_id"],
                         creds["secret_access_key"], self.bucket)

    def _ready(self, backend: S3Backend) -> bool:
        try:
            status, _ = s3_request("HEAD", backend.endpoint, f"/{self.bucket}",
                                   backend.access_key_id, backend.secret_access_key, timeout=2)
        except OSError:
            return False
        return status == 200

    def info(self) -> SeaweedInfo | None:
        recorded = read_json(self._server_file)
        if not recorded or not pid_alive(recorded["pid"]):
            return None
        backend = self._backend(recorded["ports"]["s3"])
        if not self._ready(backend):
            return None
        return SeaweedInfo(backend, recorded["pid"], recorded["ports"])

    def start(self, timeout: float = 90.0) -> SeaweedInfo:
        running = self.info()
        if running is not None:
            return running
        if self.binary is None:
            raise StackError("no SeaweedFS binary given: call ensure_binary(seaweedfs_tool())")
        creds = self._credentials()
        recorded = read_json(self._server_file) or {}
        previous = recorded.get("ports") or {}
        names = ("s3", "master", "volume", "filer")
        if previous and all(port_free(p) and port_free(p + GRPC_OFFSET)
                            for p in previous.values()):
            ports = previous  # keep the endpoint stable across restarts
        else:
            ports = dict(zip(names, free_ports(len(names), offset=GRPC_OFFSET), strict=True))
        data = self.state_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.binary), "mini", f"-dir={data}", f"-ip={HOST}", f"-ip.bind={HOST}",
            f"-s3.port={ports['s3']}", f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
            "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false", f"-bucket={self.bucket}",
        ]
        # An admin identity from these variables; requests must be signed with it.
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.state_dir),
               "AWS_ACCESS_KEY_ID": creds["access_key_id"],
               "AWS_SECRET_ACCESS_KEY": creds["secret_access_key"]}
        process = spawn(command, self.log_path, env=env, cwd=self.state_dir)
        write_private(self._server_file, json.dumps({"pid": process.pid, "ports": ports}))
        backend = self._backend(ports["s3"])

        def ready() -> bool:
            if not self._ready(backend):
                try:  # -bucket creates it at start-up; create it ourselves if that lagged
                    ensure_bucket(backend.endpoint, self.bucket, backend.access_key_id,
                                  backend.secret_access_key)
                except (OSError, RuntimeError):
                    return False
            return self._ready(backend)

        try:
            wait_until(ready, "SeaweedFS (S3)", timeout, alive=lambda: process.poll() is None,
                       log=self.log_path)
        except StackError:
            terminate(process.pid)
            raise
        return SeaweedInfo(backend, process.pid, ports)

    def stop(self) -> bool:
        recorded = read_json(self._server_file)
        if not recorded or not pid_alive(recorded["pid"]):
            return False
        terminate(recorded["pid"], timeout=20)
        return True
