"""The Dagster UI path: dagster-webserver loads workspace.yaml and serves the asset graph."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlops_assets.testing import lakefs_env

pytestmark = [pytest.mark.lakefs, pytest.mark.e2e]

REPO_ROOT = Path(__file__).resolve().parents[1]
QUERY = "{ assetNodes { assetKey { path } } }"


def test_webserver_serves_the_asset_graph(lakefs, lakefs_server, dagster_home):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, **lakefs_env(lakefs, lakefs_server), "DAGSTER_HOME": str(dagster_home)}
    webserver = Path(sys.executable).parent / "dagster-webserver"
    process = subprocess.Popen(
        [str(webserver), "-w", str(REPO_ROOT / "workspace.yaml"), "-h", "127.0.0.1",
         "-p", str(port)],
        env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "dagster-webserver did not come up in 90 s"
                time.sleep(1)
        request = urllib.request.Request(
            f"{base}/graphql", data=json.dumps({"query": QUERY}).encode(),
            headers={"Content-Type": "application/json"},
        )
        deadline = time.monotonic() + 60
        while True:  # the code location may still be loading
            with urllib.request.urlopen(request, timeout=30) as response:
                nodes = json.loads(response.read())["data"]["assetNodes"]
            if nodes or time.monotonic() > deadline:
                break
            time.sleep(1)
        keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
        ds = "nycflights13"  # the code location's default dataset: keys are <dataset>/<asset>
        assert {f"{ds}/{name}" for name in ("raw_batch", "validated_batch", "features", "model",
                                            "evaluation", "champion", "predictions",
                                            "drift_report")} | {"hello_greetings"} <= keys
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
