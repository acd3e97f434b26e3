"""Issue #13 item 9: a partition key outside the spec's calendar, or one that could become a path
(`../x`), gets the platform's own message (the key, the rule, where it came from) on every path
a user supplies keys through, before lakeFS sees it; where Dagster itself refuses first
(time-window calendars at run creation), main is untouched too."""

import os
import re
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.cli.demo import DemoError, demo_plan
from mlops_assets.core.batch_keys import BatchKeyError, check_batch_keys
from mlops_assets.core.spec import load_spec
from mlops_assets.defs.automation.sensors import AutomationSettings, sensors_for_spec
from mlops_assets.defs.ingest.landing import LandingResource
from mlops_assets.defs.partitions import PARTITION_TAG
from mlops_assets.registry.compare import _batches_between
from mlops_assets.registry.versions import RegistryError
from mlops_assets.settings import ensure_dagster_home
from mlops_assets.testing import dagster_job_execute, lakefs_env

SYNTHETIC = load_spec("synthetic")  # daily, 2024-01-01..2024-02-29
# Row batches 00000..00022: static partitions.
ROWS_SPEC = str(Path(__file__).parents[1] / "examples/datasets/seattle_weather.yaml")
CALENDAR = "outside the batch calendar of synthetic (60 batches, 2024-01-01..2024-02-29)"
CALENDAR_RE = re.escape(CALENDAR)


def test_the_rule_names_key_rule_and_place():
    keys = SYNTHETIC.partition_keys()
    check_batch_keys(["2024-01-05"], keys, "synthetic", "here")
    with pytest.raises(BatchKeyError) as bad:
        check_batch_keys(["../2024-01-05"], keys, "synthetic", "run tag dagster/partition")
    assert str(bad.value).startswith("run tag dagster/partition: '../2024-01-05' is not a "
                                     "batch key: a batch key is 1-64 letters, digits")
    with pytest.raises(BatchKeyError, match=f"--end: '2023-12-31' is {CALENDAR_RE}"):
        check_batch_keys(["2023-12-31"], keys, "synthetic", "--end")
    for key in ("", ".x", "a b", "a\\b", "a\x00b", "x" * 65, "2024-01-05/..", "2024.01.05"):
        with pytest.raises(BatchKeyError, match="is not a batch key"):
            check_batch_keys([key], keys, "synthetic", "k")


def test_landing_sensor_names_each_file_it_ignores(tmp_path):
    folder = tmp_path / "synthetic"
    folder.mkdir()
    (folder / "2024-01-05.parquet").write_bytes(b"x")
    (folder / "2099-01-01.csv").write_text("a day outside the spec")
    (folder / ".2024-01-06.csv").write_text("a hidden name")
    (folder / "2024-01-07 copy.parquet").write_bytes(b"x")
    landing_sensor = sensors_for_spec(SYNTHETIC, AutomationSettings())[0]
    landing = LandingResource(path=str(tmp_path))
    with dg.instance_for_test() as instance:
        result = landing_sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, resources={"landing": landing}))
        assert [r.tags["mlops/batches"] for r in result.run_requests] == [
            "2024-01-05..2024-01-05"]
        idle = landing_sensor.evaluate_tick(dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"landing": landing}))
    assert not idle.run_requests
    reason = idle.skip_message or ""
    assert f"landing file {folder / '2099-01-01.csv'}: '2099-01-01' is {CALENDAR}" in reason
    assert f"landing file {folder / '.2024-01-06.csv'}: '.2024-01-06' is not a batch key" \
        in reason
    assert "'2024-01-07 copy' is not a batch key" in reason


def test_demo_options_get_the_platform_message():
    with pytest.raises(DemoError, match=r"^--start: '\.\./x' is not a batch key"):
        demo_plan("synthetic", start="../x")
    with pytest.raises(DemoError, match=f"^--end: '2099-01-01' is {CALENDAR_RE}"):
        demo_plan("synthetic", end="2099-01-01")


def test_models_compare_window_refuses_path_like_keys():
    # Refused before lakeFS is asked anything (no client is needed to get the message).
    with pytest.raises(RegistryError, match=r"--window '2024-01-01\.\.a/b': 'a/b' is not a b"):
        _batches_between(None, "main", "synthetic", "2024-01-01..a/b")  # type: ignore[arg-type]


@pytest.mark.lakefs
@pytest.mark.e2e
def test_dagster_job_execute_tags(lakefs, lakefs_server, tmp_path):
    """`dagster job execute --tags`: with row batches (static partitions) Dagster runs the job
    and `raw_batch` refuses the key with our message before any branch exists; with a daily
    calendar Dagster refuses `../x` itself at run creation (its own error). Either way lakeFS
    is untouched."""
    head = lakefs.resolve("main")
    branches = set(lakefs.list_branches())
    env = {**os.environ, **lakefs_env(lakefs, lakefs_server),
           "DAGSTER_HOME": str(ensure_dagster_home(tmp_path / "home")),
           "MLOPS_ASSETS_LANDING_DIR": str(tmp_path / "landing")}

    rows = dagster_job_execute("ingest_job", {**env, "MLOPS_ASSETS_DATASET": ROWS_SPEC},
                               {PARTITION_TAG: "../x"})
    out = rows.stdout + rows.stderr
    assert rows.returncode != 0
    assert f"run tag {PARTITION_TAG}: '../x' is not a batch key" in out, out[-2000:]

    daily = dagster_job_execute("ingest_job", {**env, "MLOPS_ASSETS_DATASET": "synthetic"},
                                {PARTITION_TAG: "../x"})
    out = daily.stdout + daily.stderr
    assert daily.returncode != 0
    assert "time data '../x' does not match format" in out, out[-2000:]  # Dagster's own

    assert lakefs.resolve("main") == head
    assert set(lakefs.list_branches()) == branches
