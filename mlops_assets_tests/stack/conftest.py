"""A real PostgreSQL (the distribution's package) per test session, on 127.0.0.1 and a free
port, in a temp directory; as root the server runs as an unprivileged account."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_assets.settings import Settings
from mlops_assets.stack.postgres import LocalPostgres, PostgresInfo
from mlops_assets.stack.stack import Stack


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    # Not pytest's tmp_path: its parents are private to root, and the server runs as `nobody`.
    state = Path(tempfile.mkdtemp(prefix="mlops-assets-pg-"))
    os.chmod(state, 0o711)
    server = LocalPostgres(state)
    server.start()
    yield server
    server.destroy()
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(postgres_server: LocalPostgres) -> PostgresInfo:
    info = postgres_server.info()
    assert info is not None
    return info


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A real SeaweedFS (`weed mini`, built from the Go module proxy and cached)."""
    from mlops_assets.settings import Settings
    from mlops_assets.stack.binaries import ensure_binary, seaweedfs_tool
    from mlops_assets.stack.seaweed import LocalSeaweedFS

    binary = ensure_binary(seaweedfs_tool(), Settings.from_env().cache_dir)
    server = LocalSeaweedFS(tmp_path_factory.mktemp("seaweedfs"), binary=binary)
    info = server.start()
    yield info
    server.stop()


@pytest.fixture(scope="session")
def stack():
    """The whole topology (`Stack.up`) on 127.0.0.1 in a temp home, shared by the stack
    tests; sensor and retrain settings make the synthetic loop quick."""
    home = Path(tempfile.mkdtemp(prefix="mlops-assets-stack-"))
    os.chmod(home, 0o711)  # the PostgreSQL cluster inside runs as an unprivileged account
    settings = dataclasses.replace(Settings.from_env(), home=home, dagster_home=home / "unused",
                                   external_lakefs=None, repository="stack-repo")
    stack = Stack(settings, dataset="synthetic")
    env = stack.up(progress=lambda _line: None, extra_env={
        "MLOPS_ASSETS_LANDING_DIR": str(home / "landing"),
        "MLOPS_ASSETS_SENSOR_INTERVAL_SECONDS": "2",
        "MLOPS_ASSETS_RETRAIN_TRAIN_DAYS": "6",
        "MLOPS_ASSETS_RETRAIN_EVAL_DAYS": "2",
        "MLOPS_ASSETS_RETRAIN_MIN_DRIFTED_BATCHES": "2",
    })
    yield stack, env
    stack.down(progress=lambda _line: None)
    stack.postgres.destroy()
    shutil.rmtree(home, ignore_errors=True)
