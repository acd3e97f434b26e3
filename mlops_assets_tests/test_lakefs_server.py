"""The embedded lakeFS launcher and the binary lookup, with the real server."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_assets.lakefs_server import (
    LakeFSBinaryError,
    LocalLakeFS,
    build_lakefs,
    find_lakefs_binary,
    pinned_version,
    read_env_file,
)
from mlops_assets.testing import make_client

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_pinned_version_is_an_apache_licensed_release():
    major, minor, _patch = (int(p) for p in pinned_version().lstrip("v").split("."))
    assert (major, minor) >= (1, 84) and (major, minor) < (1, 87)  # 1.87.0 is BUSL-1.1


def test_explicit_binary_must_be_executable(tmp_path):
    with pytest.raises(LakeFSBinaryError, match="not an executable file"):
        find_lakefs_binary(tmp_path, explicit=str(tmp_path / "missing"))


def test_no_go_and_no_binary_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither go nor lakefs on PATH
    assert find_lakefs_binary(tmp_path / "cache") is None
    with pytest.raises(LakeFSBinaryError, match="Neither a lakeFS binary nor the Go toolchain"):
        build_lakefs(tmp_path / "cache")


@pytest.mark.lakefs
def test_start_twice_restart_and_persistence(tmp_path, lakefs_binary):
    server = LocalLakeFS(tmp_path / "state", binary=lakefs_binary)
    first = server.start()
    try:
        assert server.start().pid == first.pid  # starting again reuses the running server
        assert server.status().running
        # Connection settings for the resource and for lakectl.
        env = read_env_file(server.env_path)
        assert env["LAKECTL_SERVER_ENDPOINT_URL"] == first.endpoint
        assert oct(server.env_path.stat().st_mode & 0o777) == "0o600"
        assert first.endpoint in server.lakectl_config_path.read_text()

        resource = make_client(first, "persist")
        resource.ensure_repository()
        resource.create_branch("work")
        resource.put_bytes("work", "a/b.txt", b"payload")
        commit_id = resource.commit("work", "keep me", metadata={"k": "v"})
        resource.create_tag("v1", commit_id)
    finally:
        assert server.stop()
    assert not server.status().running

    second = server.start()
    try:
        assert second.port == first.port  # same settings stay valid
        resource = make_client(second, "persist")
        assert resource.resolve("work") == commit_id
        assert resource.resolve("v1") == commit_id
        assert resource.get_bytes("work", "a/b.txt") == b"payload"
        assert resource.get_commit(commit_id).metadata == {"k": "v"}
    finally:
        server.stop()


@pytest.mark.lakefs
def test_cli_up_status_env_down(tmp_path, lakefs_binary):
    env = {
        **os.environ,
        "MLOPS_ASSETS_HOME": str(tmp_path),
        "MLOPS_ASSETS_LAKEFS_BIN": str(lakefs_binary),
    }
    env.pop("LAKECTL_SERVER_ENDPOINT_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mlops_assets.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        up = cli("lakefs", "up")
        assert up.returncode == 0, up.stderr
        assert "lakeFS is running at http://127.0.0.1:" in up.stdout
        assert cli("lakefs", "status").returncode == 0
        exports = cli("lakefs", "env").stdout
        assert "export LAKECTL_SERVER_ENDPOINT_URL=http://127.0.0.1:" in exports
    finally:
        down = cli("lakefs", "down")
    assert "lakeFS stopped" in down.stdout
    status = cli("lakefs", "status")
    assert status.returncode == 3 and "stopped" in status.stdout
