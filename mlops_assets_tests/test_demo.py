"""The README's main command, `mlops-assets demo`, end to end on the synthetic stream (the real
CLI, three `dagster job execute` runs, the real retrain sensor), against the test lakeFS."""

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

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
    # The drift digest names the stream's known drift point, and nothing before it.
    drift_line = next(line for line in out.splitlines() if line.strip().startswith("data drift:"))
    assert drift_line.split(":", 1)[1].strip().startswith("2024-01-31"), drift_line
    assert "retrain requested: " in out and "of train_job: SUCCESS" in out
    assert ("promoted to champion" in out) or ("rejected; champion kept" in out)
    assert "Where to look:" in out and f"lakefs://{lakefs.repository}/" in out
    assert (tmp_path / "home" / "dagster" / "dagster.yaml").is_file()  # a persistent home
    # It speaks human: progress lines per step, the summaries, no event stream, in a budget.
    assert "batch(es) landed on the run branch" in out and "trained " in out
    assert "DEBUG" not in out + done.stderr and "SupersessionWarning" not in done.stderr
    assert len(out.splitlines()) <= 150, len(out.splitlines())
    # ... and the full event log is in the file it names at the end.
    log = Path(re.search(r"Full event log: (\S+)", out).group(1))
    assert log.parent == tmp_path / "home" / "logs"
    events = log.read_text()
    assert events.count("RUN_START") == 3 and "dagster - DEBUG - main_job" in events
    # Its runs are on their job pages (the UI filters by the location's repository label).
    with dg.DagsterInstance.from_config(str(tmp_path / "home" / "dagster")) as instance:
        for job in ("main_job", "new_batch_job", "train_job"):
            labelled = instance.get_runs(filters=dg.RunsFilter(
                job_name=job, tags={REPOSITORY_LABEL_TAG: "__repository__@mlops_assets"}))
            assert len(labelled) == 1, job
