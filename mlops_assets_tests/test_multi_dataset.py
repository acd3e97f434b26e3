"""Several datasets in one code location and one Dagster instance: keys, groups, jobs and
sensors per dataset; both loops run; drift in one never retrains the other; a row-batched
YAML-only dataset (500-row batches from a CSV the test writes) trains, scores and is monitored
per batch on exactly its own rows."""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from mlops_assets.core.features import TARGET, order_column
from mlops_assets.core.model import time_split
from mlops_assets.core.retrain_policy import RetrainPolicy
from mlops_assets.core.sources import synthetic_stream
from mlops_assets.core.spec import load_specs
from mlops_assets.core.train_config import TrainConfig
from mlops_assets.definitions import build_definitions
from mlops_assets.defs.automation.sensors import AutomationSettings
from mlops_assets.platform import layout
from mlops_assets.testing import pipeline_definitions, run_job
from mlops_assets_tests.test_sensors import report_drift, tick

ROWS = "rows_stream"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "datasets" / "seattle_weather.yaml"


def write_row_spec(folder: Path, batches: int = 10) -> Path:
    """A row-batched dataset onboarded by YAML alone: a CSV of 500-row batches, no time column."""
    frame = synthetic_stream(n_batches=batches, rows_per_batch=500, drift_at=batches, seed=3)
    frame.drop("event_ts").write_csv(folder / "events.csv")
    spec = {
        "name": ROWS, "sources": [{"name": "events", "path": "events.csv"}],
        "time_column": None, "batch": {"rows": 500, "count": batches},
        "target": {"column": "label", "task": "binary"}, "keys": ["event_id"],
        "columns": [
            {"name": "event_id", "kind": "categorical", "dtype": "Int64", "nullable": False},
            *({"name": x, "kind": "numeric", "dtype": "Float64", "nullable": False}
              for x in ("x1", "x2", "x3")),
            {"name": "segment", "kind": "categorical", "dtype": "String", "nullable": False},
            {"name": "label", "kind": "numeric", "dtype": "Int8", "min": 0, "max": 1},
        ],
        "features": {"numeric": ["x1", "x2", "x3"], "categorical": ["segment"]},
        "monitoring": {"min_positives": 5, "retrain_window": {"rows": 3000},
                       "eval_window": {"batches": 2}},
        # The synthetic label is a logistic function of the features: nothing beats a logistic
        # regression here, so the MLP must only not lose to it (as in synthetic.yaml).
        "quality_bar": {"must_beat": ["base_rate"], "must_not_lose_to": ["logistic"]},
    }
    path = folder / f"{ROWS}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_keys_groups_jobs_and_sensors_are_per_dataset(tmp_path):
    specs = load_specs(["synthetic", str(write_row_spec(tmp_path)), str(EXAMPLE)])
    defs = build_definitions(specs, resources={"lakefs": object(), "landing": object()})
    graph = defs.resolve_asset_graph()
    for ds in ("synthetic", ROWS, "seattle_weather"):
        for asset in ("raw_batch", "features", "model", "champion", "drift_report"):
            assert graph.get(dg.AssetKey([ds, asset])).group_name == ds
        job = defs.resolve_job_def(f"{ds}__main_job")
        assert {k.path[0] for k in job.asset_layer.selected_asset_keys} == {ds}
        sensor = defs.resolve_sensor_def(f"{ds}__drift_retrain_sensor")
        assert sensor.job_name == f"{ds}__train_job"
        assert defs.resolve_sensor_def(f"{ds}__landing_sensor").job_name == f"{ds}__new_batch_job"
    with pytest.raises(Exception):  # noqa: B017 - bare names exist only for one dataset
        defs.resolve_job_def("main_job")
    single = build_definitions(specs[:1], resources={"lakefs": object(), "landing": object()})
    assert single.resolve_job_def("main_job") and single.resolve_sensor_def("landing_sensor")


def test_drift_in_one_dataset_never_retrains_the_other(tmp_path, dagster_home):
    specs = load_specs(["synthetic", str(write_row_spec(tmp_path))])
    settings = AutomationSettings(interval_seconds=1,
                                  policy=RetrainPolicy(min_drifted_batches=2, cooldown_seconds=0))
    defs = build_definitions(specs, resources={"lakefs": object(), "landing": object()},
                             automation=settings)
    synthetic = defs.resolve_sensor_def("synthetic__drift_retrain_sensor")
    rows = defs.resolve_sensor_def(f"{ROWS}__drift_retrain_sensor")
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        report_drift(instance, {"00003": True, "00004": True, "00005": True}, dataset=ROWS)
        assert not tick(synthetic, instance).run_requests  # the other dataset's key: unseen
        (request,) = tick(rows, instance).run_requests
        assert request.tags["mlops/batches"].startswith("00003")
        # its window from the spec: 3000 rows = 6 batches of 500; eval 2 batches
        assert request.run_config["ops"][f"{ROWS}__model"]["config"] == {
            "train_days": 6, "eval_days": 2}


def test_two_datasets_run_their_loops_in_one_instance(lakefs, tmp_path, dagster_home):
    spec_path = write_row_spec(tmp_path)
    defs = pipeline_definitions(lakefs, tmp_path / "landing", ["synthetic", str(spec_path)])
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        synthetic = run_job(defs, "synthetic__main_job", "2024-01-01", "2024-01-10",
                            instance=instance)
        assert synthetic.success
        # Behaviour, not quality: a tiny model need not pass the default bar.
        rows = run_job(defs, f"{ROWS}__main_job", "00000", "00007", instance=instance,
                       training={"max_epochs": 10}, ops_config={"evaluation": {"min_auc": 0.5}})
        assert rows.success
        later = run_job(defs, f"{ROWS}__new_batch_job", "00008", "00009", instance=instance)
        assert later.success
        for ds in ("synthetic", ROWS):  # each dataset's history under its own keys
            assert instance.get_latest_materialization_event(dg.AssetKey([ds, "champion"]))
    spec = load_specs([str(spec_path)])[0]
    for i in range(10):
        key = f"{i:05d}"
        feats = lakefs.get_frame("main", layout.features(ROWS, key))
        assert feats.height == 500
        assert feats["__row"].to_list() == list(range(i * 500, (i + 1) * 500))
        report = lakefs.get_json("main", layout.drift_report(ROWS, key))
        assert report["batch"] == key if "batch" in report else report
    record = rows.asset_materializations_for_node(f"{ROWS}__model")[0]
    version = record.metadata["model_version"].value
    trained = lakefs.get_json("main", layout.model_dir(ROWS, version) + "record.json")
    train = pl.concat([lakefs.get_frame("main", layout.features(ROWS, k))
                       for k in trained["train_batches"]])
    _, val = time_split(train.filter(pl.col(TARGET).is_not_null()), order_column(spec),
                        TrainConfig().val_fraction)
    assert set(val[TARGET].unique().to_list()) == {0, 1}
