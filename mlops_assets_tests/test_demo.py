"""The README's main command, `mlops-assets demo`, end to end on the synthetic stream (the real
CLI, three `dagster job execute` runs, the real retrain sensor), against the test lakeFS."""

import os
import subprocess
import sys

import pytest

from mlops_assets.testing import lakefs_env

pytestmark = [pytest.mark.lakefs, pytest.mark.e2e]


def test_demo_runs_the_loop_and_says_what_happened(lakefs, lakefs_server, tmp_path):
    env = {**os.environ, **lakefs_env(lakefs, lakefs_server),
           "MLOPS_ASSETS_HOME": str(tmp_path / "home")}
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [sys.executable, "-m", "mlops_assets.cli", "demo", "--dataset", "synthetic"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "Run " in out and "of main_job: SUCCESS" in out
    assert "of new_batch_job: SUCCESS" in out
    assert "data drift in 2024-01-31" in out  # the known drift point of the stream
    assert "retrain requested: " in out and "of train_job: SUCCESS" in out
    assert ("promoted to champion" in out) or ("rejected; champion kept" in out)
    assert "Where to look:" in out and f"lakefs://{lakefs.repository}/" in out
    assert (tmp_path / "home" / "dagster" / "dagster.yaml").is_file()  # a persistent home
