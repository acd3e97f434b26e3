import json
import math

import numpy as np
import pytest

from mlops_assets.core.metrics import (
    auc_score,
    calibration_bins,
    delong_auc_test,
    evaluate,
    paired_bootstrap_compare,
)


def _brute_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def _binary_data(n: int = 400, seed: int = 0, signal: float = 1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    logit = signal * (y - 0.5) + rng.normal(size=n)
    return y, 1.0 / (1.0 + np.exp(-logit))


def test_auc_perfect_reversed_and_ties():
    y = np.array([0, 0, 1, 1])
    assert auc_score(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auc_score(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert auc_score(y, [0.5, 0.5, 0.5, 0.5]) == 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    s = rng.integers(0, 20, 300) / 20.0  # heavy ties
    assert auc_score(y, s) == pytest.approx(_brute_auc(y, s), abs=1e-12)


def test_evaluate_binary_point_values_and_cis():
    y, p = _binary_data()
    r = evaluate(y, p, "binary", n_bootstrap=200, seed=0)
    assert r["n"] == len(y)
    assert r["auc"]["value"] == pytest.approx(_brute_auc(y, p))
    pc = np.clip(p, 1e-15, 1 - 1e-15)
    ll = -np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))
    assert r["log_loss"]["value"] == pytest.approx(ll)
    pred = p >= 0.5
    assert r["accuracy"]["value"] == pytest.approx(np.mean(pred == y))
    tp = np.sum(pred & (y == 1))
    assert r["f1"]["value"] == pytest.approx(2 * tp / (pred.sum() + y.sum()))
    assert r["brier"]["value"] == pytest.approx(np.mean((p - y) ** 2))
    assert r["positive_rate"]["value"] == pytest.approx(pred.mean())
    assert r["prevalence"]["value"] == pytest.approx(y.mean())
    for name in ("auc", "log_loss", "accuracy", "f1", "brier", "ece"):
        m = r[name]
        assert m["ci_low"] <= m["value"] <= m["ci_high"], name
        assert m["ci_low"] < m["ci_high"], name
    json.dumps(r, allow_nan=False)  # strict-JSON serializable


def test_calibration_bins_sum_to_n_and_ece():
    y, p = _binary_data(n=500, seed=3)
    r = evaluate(y, p, "binary", n_bootstrap=20)
    bins = r["calibration"]["bins"]
    assert len(bins) == 10
    assert sum(b["count"] for b in bins) == len(y)
    ece = sum(
        b["count"] / len(y) * abs(b["observed_rate"] - b["mean_predicted"])
        for b in bins
        if b["count"]
    )
    assert r["calibration"]["ece"] == pytest.approx(ece)
    assert r["ece"]["value"] == pytest.approx(ece)
    # p == 1.0 falls in the last bin, not an 11th one.
    edge = calibration_bins([1, 0], [1.0, 0.0])
    assert edge["bins"][9]["count"] == 1 and edge["bins"][0]["count"] == 1
    assert edge["ece"] == 0.0


def test_evaluate_regression_known_values():
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    yhat = y + rng.normal(scale=0.5, size=300)
    r = evaluate(y, yhat, "regression", n_bootstrap=100)
    assert r["rmse"]["value"] == pytest.approx(np.sqrt(np.mean((yhat - y) ** 2)))
    assert r["mae"]["value"] == pytest.approx(np.mean(np.abs(yhat - y)))
    r2 = 1 - np.sum((yhat - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert r["r2"]["value"] == pytest.approx(r2)
    for name in ("rmse", "mae", "r2"):
        assert r[name]["ci_low"] <= r[name]["value"] <= r[name]["ci_high"]
    perfect = evaluate(y, y, "regression", n_bootstrap=10)
    assert perfect["rmse"]["value"] == 0.0 and perfect["r2"]["value"] == 1.0


def test_bootstrap_is_deterministic_for_a_seed():
    y, p = _binary_data()
    a = evaluate(y, p, "binary", n_bootstrap=50, seed=7)
    b = evaluate(y, p, "binary", n_bootstrap=50, seed=7)
    c = evaluate(y, p, "binary", n_bootstrap=50, seed=8)
    assert a == b
    assert a["auc"]["ci_low"] != c["auc"]["ci_low"]


def test_bootstrap_blocking_does_not_change_result(monkeypatch):
    # Draws are generated in memory-bounded blocks; the split point must not change the
    # resamples (same RNG stream), only memory. BLAS may differ in the last ulp.
    import mlops_assets.core.metrics as metrics

    y, p = _binary_data(n=100)
    full = evaluate(y, p, "binary", n_bootstrap=30, seed=1)
    monkeypatch.setattr(metrics, "_MAX_CELLS", 100 * 7)  # blocks of 7 draws
    blocked = evaluate(y, p, "binary", n_bootstrap=30, seed=1)
    for name in ("auc", "log_loss", "accuracy", "f1", "brier", "ece"):
        for key in ("value", "ci_low", "ci_high"):
            assert blocked[name][key] == pytest.approx(full[name][key], rel=1e-12), name


def test_degenerate_inputs_do_not_crash():
    empty = evaluate([], [], "binary", n_bootstrap=10)
    assert empty["n"] == 0 and empty["auc"]["value"] is None
    assert sum(b["count"] for b in empty["calibration"]["bins"]) == 0
    assert evaluate([], [], "regression")["rmse"]["value"] is None

    one_class = evaluate([1, 1, 1], [0.2, 0.6, 0.9], "binary", n_bootstrap=10)
    assert one_class["auc"] == {"value": None, "ci_low": None, "ci_high": None}
    assert one_class["accuracy"]["value"] == pytest.approx(2 / 3)
    json.dumps(one_class, allow_nan=False)

    const = evaluate([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], "regression", n_bootstrap=10)
    assert const["r2"]["value"] is None and const["mae"]["value"] == pytest.approx(2 / 3)
    assert delong_auc_test([1, 1], [0.1, 0.2], [0.3, 0.4])["p_value"] is None

    with pytest.raises(ValueError):
        evaluate([0, 2], [0.1, 0.2], "binary")
    with pytest.raises(ValueError):
        evaluate([0, 1], [0.1, float("nan")], "binary")


def test_paired_compare_clear_winner_and_identical():
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 2, n)
    noise = rng.normal(size=n)
    weak = 0.3 * y + noise
    strong = 1.5 * y + noise
    better = paired_bootstrap_compare(y, weak, strong, metric="auc", n_bootstrap=500)
    assert better["delta"] > 0 and better["ci_low"] > 0
    assert better["p_value"] < 0.01
    worse = paired_bootstrap_compare(y, strong, weak, metric="auc", n_bootstrap=500)
    assert worse["delta"] < 0 and worse["p_value"] > 0.99

    same = paired_bootstrap_compare(y, weak, weak, metric="auc", n_bootstrap=200)
    assert same["delta"] == 0.0 and same["p_value"] == 1.0


def test_paired_compare_lower_is_better_orientation():
    rng = np.random.default_rng(1)
    y = rng.normal(size=400)
    good = y + rng.normal(scale=0.2, size=400)
    bad = y + rng.normal(scale=1.0, size=400)
    r = paired_bootstrap_compare(y, bad, good, metric="rmse", n_bootstrap=300)
    assert r["higher_is_better"] is False
    assert r["delta"] == pytest.approx(r["value_a"] - r["value_b"])
    assert r["delta"] > 0 and r["p_value"] < 0.01

    yb, p = _binary_data(n=500)
    sharper = np.clip(p + 0.3 * (yb - p), 0.001, 0.999)  # closer to the labels
    r = paired_bootstrap_compare(yb, p, sharper, metric="log_loss", n_bootstrap=300)
    assert r["delta"] > 0 and r["p_value"] < 0.01
    with pytest.raises(ValueError):
        paired_bootstrap_compare(yb, p, p, metric="prevalence")


def test_delong_matches_bootstrap():
    rng = np.random.default_rng(2)
    n = 800
    y = rng.integers(0, 2, n)
    shared = rng.normal(size=n)
    a = 0.8 * y + shared + 0.6 * rng.normal(size=n)
    b = 0.9 * y + shared + 0.6 * rng.normal(size=n)

    d = delong_auc_test(y, a, b)
    assert d["auc_a"] == pytest.approx(_brute_auc(y, a))
    assert d["auc_b"] == pytest.approx(_brute_auc(y, b))
    assert d["delta"] == pytest.approx(d["auc_b"] - d["auc_a"])
    bs = paired_bootstrap_compare(y, a, b, metric="auc", n_bootstrap=2000, seed=0)
    # A borderline case: both tests should give a similar (not tiny) p-value.
    assert 0.02 < d["p_value"] < 0.3
    assert abs(d["p_value"] - bs["p_value"]) < 0.03
    assert bs["delta"] == pytest.approx(d["delta"])
    assert d["ci_low"] < 0 < d["ci_high"]
    assert d["ci_low"] == pytest.approx(bs["ci_low"], abs=0.005)
    assert d["ci_high"] == pytest.approx(bs["ci_high"], abs=0.005)

    # Clearly better: both decisive.
    strong = 2.0 * y + shared
    d2 = delong_auc_test(y, a, strong)
    bs2 = paired_bootstrap_compare(y, a, strong, metric="auc", n_bootstrap=500)
    assert d2["p_value"] < 1e-6 and bs2["p_value"] < 0.01
    assert delong_auc_test(y, strong, a)["p_value"] > 0.999

    # Identical: zero variance, no evidence b is better.
    d3 = delong_auc_test(y, a, a)
    bs3 = paired_bootstrap_compare(y, a, a, metric="auc", n_bootstrap=100)
    assert d3["delta"] == 0.0 and d3["p_value"] == 1.0 and bs3["p_value"] == 1.0


def test_delong_variance_matches_reference_formula():
    # Compare the fast midrank version with the O(m*n) textbook structural components.
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 120)
    a = rng.integers(0, 8, 120) + y  # ties on purpose
    b = rng.normal(size=120) + 0.7 * y
    comps = []
    for s in (a, b):
        x, z = s[y == 1], s[y == 0]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        comps.append((psi.mean(axis=1), psi.mean(axis=0)))
    m, n = (y == 1).sum(), (y == 0).sum()
    s10 = np.cov(np.vstack([comps[0][0], comps[1][0]]))
    s01 = np.cov(np.vstack([comps[0][1], comps[1][1]]))
    cov = s10 / m + s01 / n
    se = math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert delong_auc_test(y, a, b)["se"] == pytest.approx(se, rel=1e-10)
