"""kill -9 at random points of `dagster job execute` ingest runs, and two ingests of one
partition with different content. After each: main is sound and the rerun succeeds without a
person. N kills: MLOPS_ASSETS_FAULTS_N (default 3), seed MLOPS_ASSETS_FAULTS_SEED (default 13)."""

import os
import random
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from mlops_assets.core.sources import extract_batch
from mlops_assets.core.spec import load_spec
from mlops_assets.platform import layout
from mlops_assets.settings import ensure_dagster_home
from mlops_assets.testing import (
    failure_messages,
    lakefs_env,
    land_batches,
    pipeline_definitions,
    run_job,
)
from mlops_assets_tests.faults.harness import count
from mlops_assets_tests.faults.invariants import assert_main_is_sound

pytestmark = [pytest.mark.lakefs, pytest.mark.faults]

DS = "synthetic"
N = int(os.environ.get("MLOPS_ASSETS_FAULTS_N", "3"))
SEED = int(os.environ.get("MLOPS_ASSETS_FAULTS_SEED", "13"))


def _env(lakefs, lakefs_server, tmp_path) -> dict[str, str]:
    home = ensure_dagster_home(tmp_path / "dagster_home")
    return {**os.environ, **lakefs_env(lakefs, lakefs_server), "DAGSTER_HOME": str(home),
            "MLOPS_ASSETS_DATASET": DS, "MLOPS_ASSETS_LANDING_DIR": str(tmp_path / "landing")}


def test_kill_9_during_ingest_then_rerun(lakefs, lakefs_server, tmp_path):
    env = _env(lakefs, lakefs_server, tmp_path)
    defs = pipeline_definitions(lakefs, tmp_path / "landing")
    rng = random.Random(SEED)
    tags = '{"dagster/partition": "%s"}'
    for i in range(N):
        key = f"2024-01-{i + 1:02d}"
        head = lakefs.resolve("main")
        command = [sys.executable, "-m", "dagster", "job", "execute", "-m",
                   "mlops_assets.definitions", "-j", "ingest_job", "--tags", tags % key]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(1.0, 8.0))  # import, land, audit or publish
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        count("ingest_job", tried=1, main_untouched=int(lakefs.resolve("main") == head))
        assert_main_is_sound(lakefs, DS)
        # The rerun in process: the same assets and lakeFS calls, without a new interpreter.
        rerun = run_job(defs, "ingest_job", key)
        assert rerun.success, failure_messages(rerun)
        assert key in layout.keys_in(lakefs.list_objects("main", layout.raw_prefix(DS)))
        assert_main_is_sound(lakefs, DS)
        count("ingest_job", recovered=1)


def test_two_ingests_of_one_partition_with_different_content(lakefs, tmp_path):
    """In process (the subprocess path is the kill test's): the later audited content replaces
    the earlier in one publish."""
    defs = pipeline_definitions(lakefs, tmp_path / "landing")
    key = "2024-01-07"
    land_batches(tmp_path / "landing", DS, [key])
    first = run_job(defs, "ingest_job", key)
    assert first.success, failure_messages(first)
    changed = extract_batch(load_spec(DS), key).with_columns(pl.col("x1") + 0.5)
    changed.write_parquet(tmp_path / "landing" / DS / f"{key}.parquet")
    head = lakefs.resolve("main")
    second = run_job(defs, "ingest_job", key)
    assert second.success, failure_messages(second)
    on_main = lakefs.get_frame("main", layout.raw_batch(DS, key))
    assert on_main.equals(changed)  # the later, audited content wins, as one publish
    assert len(lakefs.log("main", 10, first_parent=True)) - 1 == 2  # two publishes, no more
    assert lakefs.resolve("main") != head
    assert_main_is_sound(lakefs, DS)
    count("two ingests of one partition", tried=1, recovered=1)
