from mlops_assets.core.retrain_policy import (
    CheckEvaluation,
    RetrainPolicy,
    RetrainState,
    decide_retrain,
)

POLICY = RetrainPolicy(min_drifted_batches=2, cooldown_seconds=100)


def ev(record_id, passed, drifted=(), check="no_data_drift"):
    return CheckEvaluation(record_id=record_id, check=check, passed=passed,
                           batches=list(drifted) or ["b"], drifted_batches=list(drifted),
                           drifted_features={d: {"x1": 0.9} for d in drifted})


def test_passing_checks_request_nothing():
    state, request, _ = decide_retrain(RetrainState(), [ev(1, True), ev(2, True)], 0, POLICY)
    assert request is None and state.seen == {"no_data_drift": 2} and state.streak == []


def test_persistence_then_one_request_then_cooldown():
    state, request, reason = decide_retrain(RetrainState(), [ev(1, False, ["d1"])], 10, POLICY)
    assert request is None and "waiting for 2" in reason
    state, request, _ = decide_retrain(state, [ev(2, False, ["d2"])], 20, POLICY)
    assert request is not None and request.run_key == "retrain-no_data_drift-2"
    assert request.batches == ["d1", "d2"] and request.drifted_features == ["x1"]
    # The same evaluation again: nothing new.
    state, again, reason = decide_retrain(state, [ev(2, False, ["d2"])], 30, POLICY)
    assert again is None and reason == "no new failed drift evaluation"
    # Persisting drift inside the cool-down: no second retrain.
    state, again, reason = decide_retrain(state, [ev(3, False, ["d3", "d4"])], 40, POLICY)
    assert again is None and "cool-down" in reason
    state, later, _ = decide_retrain(state, [ev(4, False, ["d5", "d6"])], 200, POLICY)
    assert later is not None and later.run_key == "retrain-no_data_drift-4"


def test_a_passing_batch_resets_the_streak():
    state, _, _ = decide_retrain(RetrainState(), [ev(1, False, ["d1"])], 0, POLICY)
    state, request, _ = decide_retrain(state, [ev(2, True), ev(3, False, ["d3"])], 1, POLICY)
    assert request is None and state.streak == ["d3"]


def test_state_round_trips_through_the_cursor():
    state, _, _ = decide_retrain(RetrainState(), [ev(5, False, ["d1"])], 7, POLICY)
    assert RetrainState.from_dict(state.to_dict()) == state
