"""Calibrating drift statistics on the reference's own batches (the null band).

A fixed effect threshold against the pooled reference ignores how much a *batch* of the reference
itself differs from the pooled reference: a weekday constant within a daily batch, autocorrelated
rolling features, small-n sampling noise. Here every statistic the verdict uses is computed on
pseudo-batches of the reference, cut the way production batches are cut, against the whole
reference; the spread of those values is the null band a new batch is judged against.

Statistics (identical code to the report's, see native.py):

* numeric feature and prediction score: Wasserstein-1 in reference sd (the report's effect size);
* categorical feature: PSI (or Jensen-Shannon, per ``DriftConfig.categorical_effect_metric``);
* multivariate: unbiased MMD^2 on the standardized, capped sample (``mmd_max_samples``).

In-sample correction: a pseudo-batch b is part of the reference. For CDF-based statistics
``F_b - F_ref = (1 - n_b/N)(F_b - F_rest)`` pointwise, so Wasserstein against the full reference
divided by ``(1 - n_b/N)`` is exactly the distance to the *rest* of the reference, i.e. what an
out-of-sample batch sees. Categorical statistics are computed against the rest's counts directly
(exact), MMD against a sample of the rest's rows.

Null model (per statistic): ``log(stat) = mu + beta * (log n - log n0) + e``, ``e ~ N(0, sd^2)``
(MMD^2 can be negative: ``log(mmd2 + 1/n + 1/n_ref)``, slope in [-1, 0]). ``mu`` is
the median, ``sd = max(sd, 1.4826 MAD, (q90 - median) / 1.2816, min_log_sd)`` (conservative:
the upper tail decides), ``beta`` the OLS slope
clamped to [-0.5, 0] (-0.5 = pure sampling noise, 0 = batch effects that do not shrink with n)
when the batches' sizes vary enough to estimate it, else -0.5. A new value's calibrated p-value
is the Student-t predictive tail ``t_{B'-1}.sf((t - m) / (sd sqrt(1 + 1/B')))`` with
``B' = B (1 - r1) / (1 + r1)`` (r1: lag-1 autocorrelation of the residuals, in [0, 0.9]): it
extrapolates below 1/B, which a purely empirical p over B ~ 40 batches cannot (Holm over 20
features needs p < 0.0025).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .correlation import CORR_KEY, fisher_z, leave_one_out_changes
from .statistics import (
    categorical_table,
    jensen_shannon,
    mmd_permutation_test,
    psi,
    sorted_numeric_columns,
    wasserstein_sd,
)
from .types import DriftConfig

if TYPE_CHECKING:
    from .reference import ReferenceSummary

__all__ = [
    "MMD_KEY",
    "Calibration",
    "CalibrationSet",
    "StatCalibration",
    "calibrate_reference",
    "pseudo_batches",
]

MMD_KEY = "__mmd__"
_STAT_FLOOR = 1e-6  # log scale: zero distances (constant columns) become a finite, tiny value
_MIN_BATCHES = 5
_POWERS = (1 / 3, 1 / 2)
_MAX_BATCHES = 200  # evenly thinned beyond this: the band is pinned down, the cost is not


@dataclass
class StatCalibration:
    """Null model of one statistic over the reference's pseudo-batches."""

    name: str
    kind: str  # "numeric" | "categorical" | "prediction" | "mmd"
    statistic: str  # "wasserstein_sd" | "psi" | "jensen_shannon" | "mmd2"
    scale: str  # "log" (kept for the JSON format)
    values: list[float]  # per pseudo-batch, in-sample corrected
    n: list[int]  # rows the statistic saw in each pseudo-batch
    center: float
    spread: float
    slope: float
    log_n0: float
    # Effective number of batches (lag-1 autocorrelation of the residuals, in batch order):
    # autocorrelated batches carry less information about the null spread.
    n_eff: float = float("nan")
    offset_ref_rows: int = 0  # MMD: log(mmd2 + 1/n + 1/n_ref) keeps the log defined
    # Transform of the (n-adjusted) statistic whose null is closest to normal: 0 = log, else
    # stat ** power (1/3 ~ Wilson-Hilferty for chi-squared-like PSI, MMD^2). A log of a
    # chi-squared-like value has a long left tail: its sd overstates the right tail (lost power).
    power: float = 0.0

    @property
    def n_batches(self) -> int:
        return len(self.values)

    def _offset(self, n: int) -> float:
        return 1.0 / max(n, 1) + 1.0 / self.offset_ref_rows if self.offset_ref_rows else 0.0

    def _transform(self, stat: float, n: int) -> float:
        return float(_power(np.array(max(stat + self._offset(n), _STAT_FLOOR)), self.power))

    def _inverse(self, t: np.ndarray, n: int) -> np.ndarray:
        if self.power == 0:
            return np.exp(t) - self._offset(n)
        return np.maximum(t, 0.0) ** (1.0 / self.power) - self._offset(n)

    @property
    def df(self) -> float:
        b = self.n_eff if np.isfinite(self.n_eff) else self.n_batches
        return max(b - 1.0, 2.0)

    def predictive(self, n: int) -> tuple[float, float]:
        """(mean, sd) of the transformed statistic for a batch of ``n`` rows."""
        shift = self.slope * (float(np.log(max(n, 1))) - self.log_n0)
        sd = self.spread * float(np.sqrt(1.0 + 1.0 / (self.df + 1.0)))
        if self.power == 0:
            return self.center + shift, sd
        # stat = stat_n0 * (n/n0)^slope, so stat^p is the n0 value scaled by exp(p * shift).
        k = float(np.exp(self.power * shift))
        return self.center * k, sd * k

    def p_value(self, stat: float, n: int) -> tuple[float, float]:
        """(calibrated one-sided p, z) of a new batch's statistic."""
        from scipy.special import stdtr  # scipy.stats.t.sf, without importing scipy.stats

        mean, sd = self.predictive(n)
        z = (self._transform(stat, n) - mean) / sd
        return float(stdtr(self.df, -z)), float(z)

    def limit(self, n: int, p: float) -> float:
        """The statistic value whose calibrated p equals ``p`` (upper band edge)."""
        from scipy.special import stdtrit  # scipy.stats.t.isf(p, df) = -stdtrit(df, p)

        mean, sd = self.predictive(n)
        return float(self._inverse(np.array(mean + sd * -stdtrit(self.df, p)), n))

    def empirical_band(self, n: int, q: float = 0.05) -> tuple[float, float]:
        """[q, 1-q] quantiles of the pseudo-batch values, moved to ``n`` rows (display only)."""
        t = np.array([self._transform(v, m) for v, m in zip(self.values, self.n, strict=True)])
        moved = self.slope * (np.log(max(n, 1)) - np.log(np.maximum(self.n, 1)))
        t = t + moved if self.power == 0 else t * np.exp(self.power * moved)
        lo, hi = np.quantile(t, [q, 1 - q])
        return float(self._inverse(np.array(lo), n)), float(self._inverse(np.array(hi), n))


@dataclass
class CalibrationSet:
    """All statistics calibrated on one way of cutting the reference into batches."""

    shape: str  # "column:<batch column>" or "rows:<n>"
    batches: list[str]  # pseudo-batch ids (batch keys or "rows a..b")
    stats: dict[str, StatCalibration]
    median_n: float
    # Correlation member (correlation.py): mean within-batch Fisher z per column pair.
    corr_columns: list[str] = field(default_factory=list)
    corr_center: list[float] = field(default_factory=list)


@dataclass
class Calibration:
    sets: list[CalibrationSet]
    mmd_max_samples: int
    categorical_metric: str
    min_log_sd: float
    meta: dict[str, Any] = field(default_factory=dict)

    def choose(self, n: int, shape: str | None = None) -> CalibrationSet | None:
        """The set named by ``shape``, else the one whose median batch size is closest to n."""
        if shape is not None:
            return next((s for s in self.sets if s.shape == shape), None)
        if not self.sets:
            return None
        return min(self.sets, key=lambda s: abs(np.log(max(n, 1)) - np.log(max(s.median_n, 1))))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        sets = [
            CalibrationSet(
                shape=s["shape"], batches=list(s["batches"]), median_n=float(s["median_n"]),
                stats={k: StatCalibration(**v) for k, v in s["stats"].items()},
                corr_columns=list(s.get("corr_columns", [])),
                corr_center=[float("nan") if v is None else float(v)
                             for v in s.get("corr_center", [])],
            )
            for s in data["sets"]
        ]
        return cls(sets=sets, mmd_max_samples=int(data["mmd_max_samples"]),
                   categorical_metric=data["categorical_metric"],
                   min_log_sd=float(data["min_log_sd"]), meta=dict(data.get("meta", {})))


# ---- fitting ------------------------------------------------------------------------------------
def _fit(name: str, kind: str, statistic: str, values: list[float], ns: list[int],
         min_log_sd: float, ref_rows: int = 0, power: float | None = None) -> StatCalibration:
    v = np.asarray(values, dtype=np.float64)
    n_arr = np.maximum(np.asarray(ns, dtype=np.float64), 1.0)
    log_n = np.log(n_arr)
    log_n0 = float(np.median(log_n))
    # MMD^2 (unbiased) can be < 0: log(mmd2 + 1/n + 1/n_ref), ~ the biased estimator's offset.
    offset = 1.0 / n_arr + 1.0 / ref_rows if ref_rows else 0.0
    t = np.log(np.maximum(v + offset, _STAT_FLOOR))
    x = log_n - log_n0
    # Slope only where the sizes vary enough to pin it down; clamped to the two physical
    # regimes (pure sampling noise: n^-1/2 for distances, n^-1 for MMD^2 ... batch effects that
    # do not shrink with n: 0).
    noise_slope = -1.0 if ref_rows else -0.5
    slope = noise_slope
    if v.size >= 10 and x.std() >= 0.1:
        slope = float(np.clip(np.polyfit(x, t, 1)[0], noise_slope, 0.0))
    log_adj = t - slope * x  # log statistic moved to n0
    power = _choose_power(log_adj) if power is None else power
    resid = _power(np.exp(log_adj), power)
    center = float(np.median(resid)) if power == 0 else float(resid.mean())
    # min_log_sd is on the log scale; d(s^p) = p s^p d(log s) on a power scale.
    floor = min_log_sd if power == 0 else min_log_sd * power * max(center, 0.0)
    mad = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    sd = float(resid.std(ddof=1)) if resid.size > 1 else 0.0
    spread = max(sd, mad, floor)
    if power == 0:
        # Log scale (kept for wide, heavy-tailed nulls): distances stay right-skewed, so also
        # match the 90th percentile (q90 - median = 1.2816 sd for a normal).
        spread = max(spread, (float(np.quantile(resid, 0.9)) - center) / 1.2816)
    r1 = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if resid.size > 3 and resid.std() > 0 \
        else 0.0
    r1 = min(max(r1, 0.0), 0.9)
    return StatCalibration(name=name, kind=kind, statistic=statistic, scale="log",
                           values=v.tolist(), n=[int(x) for x in ns], center=center,
                           spread=spread, slope=slope, log_n0=log_n0,
                           n_eff=float(v.size * (1 - r1) / (1 + r1)), offset_ref_rows=ref_rows,
                           power=power)


def _power(s: np.ndarray, power: float) -> np.ndarray:
    return np.log(s) if power == 0 else s ** power


def _skew(t: np.ndarray) -> float:
    sd = t.std()
    return float(((t - t.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0


def _choose_power(log_adj: np.ndarray) -> float:
    """log unless a power brings the null closer to symmetric (|skewness| smaller by a margin:
    with ~40 batches the skewness is noisy, and log is the conservative, heavier-tailed choice
    for the right tail of a left-skewed log)."""
    if log_adj.size < 20:
        return 0.0
    best, best_skew = 0.0, abs(_skew(log_adj))
    for p in _POWERS:
        sk = abs(_skew(np.exp(p * (log_adj - log_adj.max()))))  # scale-free: avoid overflow
        if sk < best_skew - 0.2:
            best, best_skew = p, sk
    return best


def pseudo_batches(frame: pl.DataFrame, *, batch_column: str | None = None,
                   batch_rows: int | None = None) -> list[tuple[str, np.ndarray]]:
    """(id, row indices) of each pseudo-batch: the frame's own batches (``batch_column``, in
    sorted key order) or consecutive chunks of ``batch_rows`` rows (frame order = time order)."""
    if (batch_column is None) == (batch_rows is None):
        raise ValueError("give exactly one of batch_column and batch_rows")
    if batch_column is not None:
        keys = frame.get_column(batch_column).cast(pl.Utf8).fill_null("<null>").to_numpy()
        order = np.argsort(keys, kind="stable")
        uniq, starts = np.unique(keys[order], return_index=True)
        bounds = [*starts.tolist(), keys.size]
        return [(str(k), np.sort(order[bounds[i]:bounds[i + 1]])) for i, k in enumerate(uniq)]
    assert batch_rows is not None
    if batch_rows < 2:
        raise ValueError("batch_rows must be >= 2")
    n_full = frame.height // batch_rows
    return [(f"rows {i * batch_rows}..{(i + 1) * batch_rows - 1}",
             np.arange(i * batch_rows, (i + 1) * batch_rows)) for i in range(n_full)]


def _mmd_rows(summary: ReferenceSummary, frame: pl.DataFrame) -> np.ndarray | None:
    cols = summary.sample_columns
    if not cols:
        return None
    mean = np.array([summary.numeric[c].mean for c in cols])
    scale = np.array([summary.numeric[c].scale for c in cols])
    raw = frame.select([pl.col(c).cast(pl.Float64).fill_nan(None) for c in cols]).to_numpy()
    return (raw - mean) / scale  # rows with NaN are dropped per batch


def _calibrate_set(frame: pl.DataFrame, summary: ReferenceSummary, batches: list[
        tuple[str, np.ndarray]], shape: str, config: DriftConfig, min_log_sd: float
                   ) -> CalibrationSet:
    if len(batches) > _MAX_BATCHES:
        keep = np.unique(np.linspace(0, len(batches) - 1, _MAX_BATCHES).round().astype(int))
        batches = [batches[i] for i in keep]
    big_n = frame.height
    num_cols = [c for c in summary.numeric if c in frame.columns]
    cat_cols = [c for c in summary.categorical if c in frame.columns]
    score_col = summary.score_column if (summary.score is not None and summary.score_column
                                          in frame.columns) else None
    values: dict[str, list[float]] = {}
    sizes: dict[str, list[int]] = {}
    kinds: dict[str, tuple[str, str]] = {}
    cat_metric = config.categorical_effect_metric
    z_all = _mmd_rows(summary, frame) if config.mmd or config.correlation else None
    corr_z: list[np.ndarray] = []  # per batch, for the correlation member
    corr_n: list[int] = []
    rng = np.random.default_rng(config.seed)
    cap = config.mmd_max_samples
    mask = np.ones(big_n, dtype=bool)

    def add(key: str, kind: str, stat_name: str, value: float, n: int) -> None:
        values.setdefault(key, []).append(float(value))
        sizes.setdefault(key, []).append(int(n))
        kinds[key] = (kind, stat_name)

    for _, idx in batches:
        part = frame[pl.Series(idx)]
        shrink = 1.0 - idx.size / big_n  # in-sample correction for CDF-based distances
        if shrink <= 0:
            continue
        cols = [*num_cols, *([score_col] if score_col else [])]
        for name, cur in sorted_numeric_columns(part, cols).items():
            if cur.size == 0:
                continue
            ref = summary.score if name == score_col else summary.numeric[name]
            assert ref is not None
            kind = "prediction" if name == score_col else "numeric"
            add(name, kind, "wasserstein_sd", wasserstein_sd(ref, cur) / shrink, cur.size)
        for name in cat_cols:
            cref = summary.categorical[name]
            _, ref_counts, cur_counts = categorical_table(cref, part[name])
            if cur_counts.sum() == 0:
                continue
            rest = np.maximum(ref_counts - cur_counts, 0.0)  # exact leave-batch-out reference
            stat = psi(rest, cur_counts) if cat_metric == "psi" else jensen_shannon(rest,
                                                                                    cur_counts)
            add(name, "categorical", cat_metric, stat, int(cur_counts.sum()))
        if z_all is not None and config.correlation:
            fz = fisher_z(z_all[idx])
            if fz is not None:
                corr_z.append(fz)
                corr_n.append(int((~np.isnan(z_all[idx]).any(1)).sum()))
        if z_all is not None and config.mmd:
            mask[:] = True
            mask[idx] = False
            rest_rows = z_all[mask]
            rest_rows = rest_rows[~np.isnan(rest_rows).any(1)]
            y = z_all[idx]
            y = y[~np.isnan(y).any(1)]
            n_x = min(cap, len(summary.sample), rest_rows.shape[0])
            n_y = min(cap, y.shape[0])
            if n_x >= 2 and n_y >= 2:
                x = rest_rows[np.sort(rng.choice(rest_rows.shape[0], n_x, replace=False))]
                y = y[np.sort(rng.choice(y.shape[0], n_y, replace=False))]
                stat, _, _ = mmd_permutation_test(x, y, summary.sigma, n_permutations=0)
                add(MMD_KEY, "mmd", "mmd2", stat, n_y)

    corr_center: list[float] = []
    if len(corr_z) >= _MIN_BATCHES:
        center, changes = leave_one_out_changes(corr_z)
        corr_center = np.nan_to_num(center).tolist()  # JSON-safe; 0 = "no correlation"
        for change, n in zip(changes, corr_n, strict=True):
            add(CORR_KEY, "corr", "max_fisher_z_change", change, n)
    ref_rows = min(cap, len(summary.sample))
    stats = {
        key: _fit(key, kinds[key][0], kinds[key][1], vals, sizes[key], min_log_sd,
                  ref_rows if key == MMD_KEY else 0)
        for key, vals in values.items() if len(vals) >= _MIN_BATCHES
    }
    return CalibrationSet(shape=shape, batches=[b for b, _ in batches], stats=stats,
                          median_n=float(np.median([idx.size for _, idx in batches]))
                          if batches else 0.0,
                          corr_columns=list(summary.sample_columns) if corr_center else [],
                          corr_center=corr_center)


def calibrate_reference(
    frame: pl.DataFrame,
    summary: ReferenceSummary,
    *,
    batch_column: str | None = None,
    batch_rows: list[int] | int | None = None,
    config: DriftConfig | None = None,
    min_log_sd: float = 0.15,
) -> Calibration:
    """Calibrate ``summary``'s statistics on pseudo-batches of ``frame`` (the rows the summary was
    built from, in time order). ``batch_column``: the production batch key of each row (e.g. the
    day partition) -> one set "column:<name>"; ``batch_rows``: one set "rows:<n>" per size, of
    consecutive row chunks. Statistics with fewer than 5 pseudo-batches are left uncalibrated
    (the verdict then falls back to the fixed thresholds for them)."""
    config = config or DriftConfig()
    sets: list[CalibrationSet] = []
    if batch_column is not None:
        sets.append(_calibrate_set(frame, summary, pseudo_batches(frame,
                                                                  batch_column=batch_column),
                                   f"column:{batch_column}", config, min_log_sd))
    rows = [batch_rows] if isinstance(batch_rows, int) else list(batch_rows or [])
    for r in rows:
        sets.append(_calibrate_set(frame, summary, pseudo_batches(frame, batch_rows=r),
                                   f"rows:{r}", config, min_log_sd))
    if not sets:
        raise ValueError("give batch_column and/or batch_rows")
    return Calibration(sets=sets, mmd_max_samples=config.mmd_max_samples,
                       categorical_metric=config.categorical_effect_metric,
                       min_log_sd=min_log_sd, meta={"n_rows": frame.height})
