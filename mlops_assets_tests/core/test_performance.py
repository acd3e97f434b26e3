"""Per-batch performance drift: Hanley-McNeil SE, random-effects baseline, assessability."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from mlops_assets.core.performance import (
    auc_with_se,
    per_batch_metrics,
    performance_baseline,
    performance_drift,
)


def scored(n: int, auc: float, seed: int, prior: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    # Binormal model: AUC = Phi(d / sqrt(2)).
    r = np.random.default_rng(seed)
    y = (r.uniform(size=n) < prior).astype(int)
    d = np.sqrt(2) * norm.ppf(auc)
    return y, r.normal(size=n) + d * y


def baseline(auc: float = 0.8) -> dict:
    ys, ss, bs = [], [], []
    for day in range(14):
        y, s = scored(500, auc, seed=day)
        ys.append(y), ss.append(s), bs.append(np.full(y.size, f"d{day:02d}"))
    rows = per_batch_metrics(np.concatenate(ys), np.concatenate(ss), np.concatenate(bs))
    assert len(rows) == 14 and rows[0]["batch"] == "d00" and rows[0]["n_pos"] > 100
    return performance_baseline(rows)


def test_auc_and_se_match_a_simulation() -> None:
    y, s = scored(2000, 0.8, seed=1)
    auc, se = auc_with_se(y, s)
    assert abs(auc - 0.8) < 0.03 and 0.005 < se < 0.02
    assert auc_with_se(np.ones(5), np.arange(5)) == (None, None)


def test_few_labels_not_assessable() -> None:
    y, s = scored(40, 0.8, seed=2, prior=0.1)
    out = performance_drift(y, s, baseline())
    assert out["assessable"] is False and out["within_bounds"] is None
    assert out["needs"] == {"positives": 10, "negatives": 10} and "at least 10" in out["reason"]


def test_batch_like_the_evaluation_passes_and_a_drop_of_0_1_alarms() -> None:
    base = baseline(0.8)
    assert abs(base["expected"] - 0.8) < 0.02 and base["k"] == 14
    same = performance_drift(*scored(1000, base["expected"], seed=50), base)
    assert same["assessable"] and same["within_bounds"] and same["p"] > 0.05
    worse = performance_drift(*scored(1000, 0.7, seed=51), base)
    assert worse["assessable"] and not worse["within_bounds"] and worse["p"] < 0.01
    assert worse["value"] < worse["threshold"] < base["expected"]


def test_regression_metric() -> None:
    r = np.random.default_rng(0)
    rows = []
    for day in range(10):
        y = r.normal(size=200)
        rows += [{"batch": str(day), **per_batch_metrics(y, y + r.normal(0, 0.5, 200),
                                                         np.zeros(200), "rmse")[0]}]
    base = performance_baseline(rows)
    y = r.normal(size=200)
    assert performance_drift(y, y + r.normal(0, 0.5, 200), base)["within_bounds"]
    assert not performance_drift(y, y + r.normal(0, 1.0, 200), base)["within_bounds"]
    assert not performance_drift(y[:10], y[:10], base)["assessable"]


def test_label_shift_flags_a_collapsed_rate_and_tolerates_day_to_day_variation():
    from mlops_assets.core.performance import label_shift

    # An evaluation window whose daily positive rate varies (13%..33%, like flight delays).
    window = [{"n": 800, "n_pos": int(800 * r)} for r in (0.13, 0.2, 0.33, 0.18, 0.25)]
    assert not label_shift(int(0.3 * 700), 700, window)["shifted"]  # a busy day, as before
    collapsed = label_shift(1, 61, window)  # Seattle weather: 1 "rain" day in 61
    assert collapsed["shifted"] and collapsed["rate"] < 0.02
    # With no spread between batches, the binomial noise of a small batch alone decides.
    steady = [{"n": 500, "n_pos": 250}] * 4
    assert not label_shift(27, 61, steady)["shifted"]  # 44% of 61: noise
    assert label_shift(10, 61, steady)["shifted"]
