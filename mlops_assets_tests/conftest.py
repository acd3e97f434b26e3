"""Shared fixtures: a real lakeFS server per test session and a fresh repository per test.

The server is the real binary (found or built by mlops_assets.lakefs_server), on 127.0.0.1 and a
free port, with a local metadata store and blockstore in a temp directory.
"""

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_assets.lakefs_server import LocalLakeFS, ServerInfo, ensure_lakefs_binary
from mlops_assets.resources.lakefs import LakeFSResource
from mlops_assets.settings import Settings, ensure_dagster_home


@pytest.fixture(scope="session")
def lakefs_binary() -> Path:
    settings = Settings.from_env()
    return ensure_lakefs_binary(settings.cache_dir, settings.lakefs_binary)


@pytest.fixture(scope="session")
def lakefs_server(tmp_path_factory, lakefs_binary) -> Iterator[ServerInfo]:
    server = LocalLakeFS(tmp_path_factory.mktemp("lakefs"), binary=lakefs_binary)
    info = server.start()
    yield info
    server.stop()


def make_resource(info: ServerInfo, repository: str | None = None) -> LakeFSResource:
    return LakeFSResource(
        endpoint=info.endpoint,
        access_key_id=info.access_key_id,
        secret_access_key=info.secret_access_key,
        repository=repository or f"t-{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
def lakefs(lakefs_server) -> LakeFSResource:
    """A resource on a new, empty repository (tests never share lakeFS state)."""
    resource = make_resource(lakefs_server)
    resource.ensure_repository()
    return resource


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    home = ensure_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def lakefs_env(resource: LakeFSResource, info: ServerInfo) -> dict[str, str]:
    """Environment for a `dagster` subprocess that should use ``resource``'s repository."""
    return {**info.client_env(), "MLOPS_ASSETS_REPOSITORY": resource.repository}


def dagster_job_execute(
    job: str, env: dict[str, str], tags: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`dagster job execute` on the code location, as a user or CI runs it."""
    command = [sys.executable, "-m", "dagster", "job", "execute",
               "-m", "mlops_assets.definitions", "-j", job]
    if tags:
        command += ["--tags", json.dumps(tags)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
