"""Drift reports through the real assets and lakeFS: calibrated per-batch verdicts, in-sample
flags, per-partition metadata, the model card's drift status and `mlops-assets drift --json`."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from mlops_assets.cli.demo import retrain_request
from mlops_assets.cli.drift import drift_rows
from mlops_assets.platform import layout
from mlops_assets.settings import Settings
from mlops_assets.testing import lakefs_env, pipeline_definitions, run_job

pytestmark = pytest.mark.lakefs

DS = "synthetic"
ROW_KEYS = {"batch", "model_version", "in_sample", "data_drift", "prediction_drift",
            "performance_drift", "drifted_features", "share_drifted"}


def test_calibrated_reports_flag_in_sample_and_stay_quiet_without_change(
    lakefs, lakefs_server, tmp_path, dagster_home
):
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    defs = pipeline_definitions(lakefs, tmp_path / "landing")
    # The synthetic stream changes only from 2024-01-31: everything here is "no change".
    history = run_job(defs, "main_job", "2024-01-01", "2024-01-16", instance=instance,
                      training={"train_days": 12, "eval_days": 4})
    assert history.success
    later = run_job(defs, "new_batch_job", "2024-01-17", "2024-01-28", instance=instance)
    assert later.success

    rows = drift_rows(lakefs, DS)
    assert [r["batch"] for r in rows] == [f"2024-01-{d:02d}" for d in range(1, 29)]
    assert all(set(r) == ROW_KEYS for r in rows)
    in_sample = {r["batch"] for r in rows if r["in_sample"]}
    assert in_sample == {f"2024-01-{d:02d}" for d in range(1, 17)}  # train + eval windows
    fresh = [r for r in rows if not r["in_sample"]]
    assert sum(r["data_drift"] for r in fresh) <= 1, fresh  # alpha 0.05 over 12 batches
    assert all(isinstance(r["performance_drift"], bool | None) for r in rows)

    # Nothing changed and the training window is in-sample: the real sensor asks for nothing.
    settings = Settings.from_env({"DAGSTER_HOME": str(dagster_home), "HOME": str(tmp_path)})
    request = retrain_request(settings, {"MLOPS_ASSETS_DATASET": DS})
    assert isinstance(request, str), request.tags

    # Each partition carries its own report and numbers, not the run's last one.
    mats = {m.partition: m for m in later.asset_materializations_for_node(f"{DS}__drift_report")}
    assert len(mats) == 12
    uris = {k: m.metadata["lakefs_uri"].value for k, m in mats.items()}
    assert all(f"date={k}/" in uri for k, uri in uris.items())
    assert isinstance(mats["2024-01-20"].metadata["batch_score"], dg.FloatMetadataValue)
    assert len({m.metadata["batch_score"].value for m in mats.values()}) > 1
    check = next(e for e in later.get_asset_check_evaluations()
                 if e.check_name == "performance_within_bounds")
    assert set(check.metadata["verdicts"].value) == set(mats)

    # The champion's card shows the latest verdicts.
    champion = lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"]
    card = lakefs.get_bytes("main", layout.model_dir(DS, champion) + "model_card.md").decode()
    assert "- drift status (latest reports): 28 batch(es) 2024-01-01..2024-01-28" in card

    # The CLI prints the same rows as JSON, without Dagster or torch.
    env = {**os.environ, **lakefs_env(lakefs, lakefs_server), "MLOPS_ASSETS_HOME": str(tmp_path)}
    probe = ("import sys, runpy; sys.argv=['mlops-assets','drift','--dataset','synthetic',"
             "'--json']\ntry: runpy.run_module('mlops_assets.cli', run_name='__main__')\n"
             "except SystemExit: pass\n"
             "print('HEAVY', sorted(m for m in ('dagster','torch') if m in sys.modules), "
             "file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, timeout=120)
    assert json.loads(out.stdout) == rows, out.stderr
    assert "HEAVY []" in out.stderr
