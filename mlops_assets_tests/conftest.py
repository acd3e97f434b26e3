"""Shared fixtures: a real lakeFS server per test session and a fresh repository per test.

The server is the real binary (found or built by mlops_assets.lakefs_server), on 127.0.0.1 and a
free port, with a local metadata store and blockstore in a temp directory.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_assets.lakefs_server import LocalLakeFS, ServerInfo, ensure_lakefs_binary
from mlops_assets.platform.lakefs_client import LakeFSClient
from mlops_assets.settings import Settings, ensure_dagster_home
from mlops_assets.testing import make_client


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


@pytest.fixture
def lakefs(lakefs_server) -> LakeFSClient:
    """A client on a new, empty repository (tests never share lakeFS state)."""
    client = make_client(lakefs_server)
    client.ensure_repository()
    return client


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    home = ensure_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
