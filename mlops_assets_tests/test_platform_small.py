"""Issue #13 items 8-9 without Dagster runs: generated dagster.yaml has run monitoring,
connection files are forced to 0600, the landing folder ignores symlinks leading outside it,
partition keys are checked with our message, merged run branches are pruned after retention."""

import os
import stat

import dagster as dg
import pytest
import yaml

from mlops_assets.defs.ingest.landing import LandingResource
from mlops_assets.defs.partitions import PartitionKeyError, check_partition_keys
from mlops_assets.defs.wap_prune import prune_run_branches
from mlops_assets.lakefs_server.launcher import LocalLakeFS
from mlops_assets.settings import ensure_dagster_home


def test_generated_dagster_yaml_turns_on_run_monitoring(tmp_path):
    home = ensure_dagster_home(tmp_path / "h")
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["run_monitoring"]["enabled"] is True
    assert 0 < config["run_monitoring"]["start_timeout_seconds"] <= 600
    assert config["run_launcher"]["class"] == "WarmRunLauncher"  # issue 16: no cold start
    instance = dg.DagsterInstance.from_config(str(home))
    assert type(instance.run_launcher).__name__ == "WarmRunLauncher"
    assert instance.run_coordinator.dequeue_interval_seconds == 1
    old = tmp_path / "old"
    old.mkdir()
    (old / "dagster.yaml").write_text("# Written by mlops-assets for a local instance\n"
                                      "telemetry:\n  enabled: false\n")
    ensure_dagster_home(old)
    assert "WarmRunLauncher" in (old / "dagster.yaml").read_text()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    ensure_dagster_home(mine)  # a user's own file is never rewritten
    assert "run_monitoring" not in (mine / "dagster.yaml").read_text()


def test_connection_files_are_forced_back_to_0600(tmp_path):
    server = LocalLakeFS(tmp_path / "state")
    server.state_dir.mkdir(parents=True)
    for path in (server.env_path, server.lakectl_config_path):
        path.write_text("secret\n")
        os.chmod(path, 0o644)
    server._make_private()
    for path in (server.env_path, server.lakectl_config_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(server.env_path, 0o644)
    server._write_private(server.env_path, "x")  # rewriting an existing file tightens it too
    assert stat.S_IMODE(server.env_path.stat().st_mode) == 0o600


def test_landing_ignores_symlinks_leading_outside(tmp_path):
    landing = LandingResource(path=str(tmp_path / "landing"))
    folder = tmp_path / "landing" / "synthetic"
    folder.mkdir(parents=True)
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    (folder / "2024-01-01.csv").symlink_to(outside)
    assert landing.batch_file("synthetic", "2024-01-01") is None
    inside = folder / "real.parquet"
    inside.write_bytes(b"x")
    (folder / "2024-01-02.parquet").symlink_to(inside)
    assert landing.batch_file("synthetic", "2024-01-02") is not None
    assert landing.batch_file("synthetic", "../secret") is None


def test_partition_keys_are_checked_with_our_message():
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")
    check_partition_keys(["2024-01-05"], daily)
    with pytest.raises(PartitionKeyError, match="^tag: '2023-12-31' is outside the batch "
                       r"calendar of ds \(31 batches, 2024-01-01\.\.2024-01-31\)"):
        check_partition_keys(["2023-12-31"], daily, "tag", "ds")
    with pytest.raises(PartitionKeyError, match=r"'\.\./2024-01-05' is not a batch key"):
        check_partition_keys(["../2024-01-05"], daily)


@pytest.mark.lakefs
def test_merged_run_branches_are_pruned_after_retention(lakefs):
    for name, merge in (("run-merged", True), ("run-quarantine", False)):
        lakefs.create_branch(name, "main")
        lakefs.put_bytes(name, f"{name}.txt", b"x")
        lakefs.commit(name, "write")
        if merge:
            lakefs.merge(name, message="publish")
    assert prune_run_branches(lakefs, retention_seconds=3600).deleted == []  # too young
    report = prune_run_branches(lakefs, retention_seconds=0)
    assert report.deleted == ["run-merged"] and report.kept_unmerged == ["run-quarantine"]
    assert "run-quarantine" in lakefs.list_branches()
