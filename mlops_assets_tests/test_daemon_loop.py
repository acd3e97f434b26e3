"""The closed loop with no human: a real dagster-daemon, a real instance, a real lakeFS.

Batches of the synthetic stream (drift from 2024-01-31) are dropped into the landing folder.
The landing sensor launches new_batch_job; before the drift point no retraining happens; after
it exactly one retraining run is launched by the drift sensor, and the champion changes only if
the challenger won the paired test.
"""

import dagster as dg
import pytest

from mlops_assets.core.spec import load_spec
from mlops_assets.platform import layout
from mlops_assets.testing import (
    all_finished,
    lakefs_env,
    land_batches,
    pipeline_definitions,
    prepare_home,
    run_job,
    running_daemon,
    runs_of,
    wait_for,
)

pytestmark = [pytest.mark.lakefs, pytest.mark.e2e]

DS = "synthetic"
SPEC = load_spec(DS)


def land(landing, days: range) -> None:
    """Days of the stream, counted from 1 (day 31 = 2024-01-31, the drift point)."""
    keys = SPEC.partition_keys()
    land_batches(landing, DS, [keys[day - 1] for day in days])


def test_daemon_drives_ingest_drift_and_one_guarded_retrain(lakefs, lakefs_server, tmp_path):
    home = prepare_home(tmp_path / "dagster_home")
    landing = tmp_path / "landing"
    instance = dg.DagsterInstance.from_config(str(home))

    # A champion to monitor against: days 1-20, trained on days 8-17, evaluated on 18-20.
    defs = pipeline_definitions(lakefs, landing)
    bootstrap = run_job(defs, "main_job", "2024-01-01", "2024-01-20", instance=instance,
                        training={"train_days": 10, "eval_days": 3})
    assert bootstrap.success
    first_champion = lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"]

    env = {
        **lakefs_env(lakefs, lakefs_server),
        "MLOPS_ASSETS_DATASET": DS,
        "MLOPS_ASSETS_LANDING_DIR": str(landing),
        "MLOPS_ASSETS_SENSOR_INTERVAL_SECONDS": "2",
        "MLOPS_ASSETS_RETRAIN_TRAIN_DAYS": "6",
        "MLOPS_ASSETS_RETRAIN_EVAL_DAYS": "2",
        "MLOPS_ASSETS_RETRAIN_MIN_DRIFTED_BATCHES": "2",
    }
    with running_daemon(home, env):
        land(landing, range(21, 30))  # before the drift point
        wait_for(lambda: all_finished(instance, "new_batch_job", 1), 240,
                 "new_batch_job for days 21-29", home)
        assert [r.status for r in runs_of(instance, "new_batch_job")] == [
            dg.DagsterRunStatus.SUCCESS]
        # Give the drift sensor several ticks: nothing must be retrained.
        wait_for(lambda: _sensor_ticks(instance, "drift_retrain_sensor") >= 3, 60,
                 "drift sensor ticks", home)
        assert runs_of(instance, "train_job") == []

        land(landing, range(30, 36))  # the drift starts on day 31
        wait_for(lambda: all_finished(instance, "new_batch_job", 2), 240,
                 "new_batch_job for days 30-35", home)
        wait_for(lambda: all_finished(instance, "train_job", 1), 240, "the retrain", home)
        # More ticks after the retrain: the cool-down holds it to exactly one.
        ticks = _sensor_ticks(instance, "drift_retrain_sensor")
        wait_for(lambda: _sensor_ticks(instance, "drift_retrain_sensor") >= ticks + 2, 60,
                 "drift sensor ticks after the retrain", home)

    retrains = runs_of(instance, "train_job")
    assert len(retrains) == 1
    retrain = retrains[0]
    assert retrain.status == dg.DagsterRunStatus.SUCCESS
    assert retrain.tags["mlops/trigger"] == "drift_retrain_sensor"
    assert retrain.tags["mlops/check"] in {"no_data_drift", "performance_within_bounds"}
    assert "2024-01-31" in retrain.tags["mlops/batches"]

    challenger = lakefs.get_json("main", layout.model_pointer(DS, "candidate"))["version"]
    decision = lakefs.get_json("main", layout.model_dir(DS, challenger) + "decision.json")
    champion_now = lakefs.get_json("main", layout.model_pointer(DS, "champion"))["version"]
    assert decision["champion_version"] == first_champion
    assert champion_now == (challenger if decision["promote"] else first_champion)
    if decision["promote"]:
        assert decision["delta"] >= decision["min_improvement"]
        assert decision["p_value"] <= decision["alpha"]


def _sensor_ticks(instance: dg.DagsterInstance, name: str) -> int:
    states = [s for s in instance.all_instigator_state() if s.name == name]
    if not states:
        return 0
    return len(instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id,
                                  limit=1000))
