import numpy as np

from mlops_assets.core.retrain_policy import (
    BatchVerdict,
    RetrainPolicy,
    consecutive_events,
    cusum_arl0,
    cusum_events,
    plan_retrain,
)


def verdicts(pattern: str, check: str = "no_data_drift") -> list[BatchVerdict]:
    """D = drifted, . = passed, ? = not assessable, s = in-sample (drifted)."""
    out = []
    for i, c in enumerate(pattern):
        out.append(BatchVerdict(batch=f"2013-12-{i + 1:02d}", check=check,
                                drifted={"D": True, ".": False, "?": None, "s": True}[c],
                                in_sample=c == "s"))
    return out


def test_consecutive_rule_names_the_batches() -> None:
    events = consecutive_events(verdicts("..D.DDDDD..DD"), 3)
    assert len(events) == 1  # the run of 5 is one event; DD at the end is too short
    e = events[0]
    assert e.batches == ["2013-12-05", "2013-12-06", "2013-12-07"]
    assert e.reason == ("no_data_drift failed on 3 consecutive batches 2013-12-05, "
                        "2013-12-06, 2013-12-07")
    assert e.event_id == "no_data_drift:2013-12-05..2013-12-07"


def test_not_assessable_breaks_in_sample_is_skipped() -> None:
    assert consecutive_events(verdicts("DD?D"), 3) == []
    (e,) = consecutive_events(verdicts("DsssDD"), 3)  # in-sample neither counts nor breaks
    assert e.batches == ["2013-12-01", "2013-12-05", "2013-12-06"]
    assert consecutive_events(verdicts("sss"), 1) == []


def test_checks_are_separate_and_order_is_partition_order() -> None:
    mixed = [*verdicts("DD."), *verdicts(".DD", check="performance_within_bounds")]
    assert consecutive_events(mixed, 3) == []
    shuffled = list(reversed(verdicts("DDD")))
    assert consecutive_events(shuffled, 3)[0].batches[0] == "2013-12-01"


def test_plan_retrain_deduplicates_and_cools_down() -> None:
    policy = RetrainPolicy(min_drifted_batches=3, cooldown_seconds=100)
    v = verdicts("DDD.DDD")
    plan = plan_retrain(v, policy)
    assert plan.request is not None and plan.request.batches[0] == "2013-12-05"
    assert len(plan.events) == 2
    again = plan_retrain(v, policy, handled_events=[e.event_id for e in plan.events])
    assert again.request is None and "already handled" in again.reason
    cool = plan_retrain(v, policy, last_request_at=50, now=100)
    assert cool.request is None and "cool-down" in cool.reason
    assert plan_retrain(verdicts("..."), policy).request is None


def test_cusum_detects_a_persistent_shift_and_arl0_is_long() -> None:
    r = np.random.default_rng(3)
    from scipy.stats import norm

    ps = list(norm.sf(r.normal(size=60))) + list(norm.sf(r.normal(1.0, 1.0, size=30)))
    v = [BatchVerdict(batch=f"b{i:03d}", check="no_data_drift", drifted=None, batch_p=p)
         for i, p in enumerate(ps)]
    events = cusum_events(v, k=0.5, h=5.0)
    assert events and all(int(e.batches[-1][1:]) >= 60 for e in events)
    assert int(events[0].batches[-1][1:]) < 60 + 25  # delay ~10 batches for a 1-sd shift
    arl0 = cusum_arl0(0.5, 5.0, runs=400, seed=1)
    assert 700 < arl0 < 1200  # ~930 (Siegmund's approximation: 938)
    policy = RetrainPolicy(rule="cusum")
    assert plan_retrain(v, policy).request is not None
