"""Frozen copy of the drift statistics before the issue-16 speed-ups (commit d53000a):
statistics.py and reference._summarize_numeric as they were. The parity tests and
benchmarks/drift_bench.py compare the current code with it; do not edit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from mlops_assets.core.drift.reference import NumericReference
from mlops_assets.core.drift.types import DriftConfig, FeatureDrift

if TYPE_CHECKING:
    from mlops_assets.core.drift.reference import CategoricalReference, ReferenceSummary

__all__ = [
    "_summarize_numeric",
    "categorical_feature",
    "categorical_table",
    "chi2_statistic",
    "jensen_shannon",
    "ks_pvalue",
    "ks_statistic",
    "mmd_permutation_test",
    "mmd_samples",
    "numeric_feature",
    "psi",
    "sorted_numeric_columns",
    "wasserstein_sd",
]

_PSI_EPS = 1e-4  # floor for empty bins so PSI stays finite for new/vanished categories
_PERM_CHUNK_BYTES = 256 * 2**20


# ---- numeric ------------------------------------------------------------------------------------
def sorted_numeric_columns(frame: pl.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """Non-null, non-NaN values of each column, sorted (polars sorts the columns in parallel)."""
    if not names:
        return {}
    lazy = frame.lazy()
    outs = pl.collect_all(
        [lazy.select(pl.col(c).cast(pl.Float64).fill_nan(None).drop_nulls().sort()) for c in names]
    )
    return {c: o.to_series().to_numpy() for c, o in zip(names, outs, strict=True)}


def _reference_knots(ref: NumericReference) -> tuple[np.ndarray, np.ndarray]:
    """Knots of the piecewise-linear reference CDF (duplicates collapsed to the right limit)."""
    q = np.asarray(ref.quantiles, dtype=np.float64)
    p = np.linspace(0.0, 1.0, q.size)
    keep = np.append(q[1:] != q[:-1], True)  # last of each run of ties: highest probability
    return q[keep], p[keep]


def _step_cdf(values: np.ndarray, cdf: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Right-continuous step CDF with jumps at sorted ``values`` evaluated at ``t``."""
    return np.concatenate([[0.0], cdf])[np.searchsorted(values, t, side="right")]


def ks_statistic(
    ref: NumericReference, cur_sorted: np.ndarray, sample: np.ndarray | None = None
) -> tuple[float, int]:
    """Two-sided KS distance between the current values and the reference, and the reference
    size to use for the p-value.

    * ``sample`` given: exact two-sample statistic against that sample (what scipy's ks_2samp
      and alibi's KSDrift compute), reference size = sample size;
    * discrete reference (exact counts stored): exact statistic against the full reference;
    * otherwise: exact sup-distance to the interpolated full-reference CDF (reference.py documents
      the ~1e-4 approximation); reference size = full reference rows.
    """
    n = cur_sorted.size
    if sample is not None:
        s = np.sort(sample)
        pts = np.concatenate([s, cur_sorted])
        diff = np.searchsorted(s, pts, "right") / s.size - np.searchsorted(cur_sorted, pts,
                                                                          "right") / n
        return float(np.abs(diff).max()), int(s.size)
    if ref.is_discrete:
        vals = np.asarray(ref.values, dtype=np.float64)
        cdf = np.cumsum(ref.counts) / ref.n
        pts = np.concatenate([vals, cur_sorted])
        diff = _step_cdf(vals, cdf, pts) - np.searchsorted(cur_sorted, pts, "right") / n
        return float(np.abs(diff).max()), ref.n
    knots, probs = _reference_knots(ref)
    f = np.interp(cur_sorted, knots, probs)
    # Continuous reference CDF vs a step function: the sup sits at a jump, on either side.
    i = np.arange(1, n + 1)
    d = max(float((i / n - f).max()), float((f - (i - 1) / n).max()))
    return d, ref.n


def ks_pvalue(d: float, n_ref: int, n_cur: int) -> float:
    """Smirnov's asymptotic two-sided p-value, ``kstwo.sf(D, round(n*m/(n+m)))``: exactly
    scipy's ``ks_2samp(method="asymp")``, which is what alibi-detect's KSDrift uses."""
    from scipy.stats import kstwo

    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    return float(np.clip(kstwo.sf(d, np.round(m * n / (m + n))), 0.0, 1.0))


def _merge_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Timsort merges two sorted runs in linear time; duplicates only add zero-width segments.
    return np.sort(np.concatenate([a, b]), kind="stable")


def wasserstein_sd(ref: NumericReference, cur_sorted: np.ndarray) -> float:
    """Wasserstein-1 distance between current values and the full-reference CDF, in reference
    standard deviations: integral of |F_ref - F_cur| over the union of knots and data."""
    if ref.is_discrete:
        vals = np.asarray(ref.values, dtype=np.float64)
        pts = _merge_sorted(vals, cur_sorted)
        gap = np.abs(_step_cdf(vals, np.cumsum(ref.counts) / ref.n, pts)
                     - np.searchsorted(cur_sorted, pts, "right") / cur_sorted.size)
        w = float((gap[:-1] * np.diff(pts)).sum())
    else:
        knots, probs = _reference_knots(ref)
        pts = _merge_sorted(knots, cur_sorted)
        f_ref = np.interp(pts, knots, probs)
        f_cur = np.searchsorted(cur_sorted, pts, "right") / cur_sorted.size
        # F_cur is flat and F_ref linear on each segment: trapezoid (exact unless they cross).
        left = np.abs(f_ref[:-1] - f_cur[:-1])
        right = np.abs(f_ref[1:] - f_cur[:-1])
        w = float((0.5 * (left + right) * np.diff(pts)).sum())
    return w / ref.scale


def numeric_feature(
    ref: NumericReference,
    cur_sorted: np.ndarray,
    statistic: float,
    p_value: float,
    n_ref: int,
    config: DriftConfig,
    kind: str = "numeric",
) -> FeatureDrift:
    return FeatureDrift(
        feature=ref.name,
        kind=kind,  # type: ignore[arg-type]
        test="ks",
        statistic=float(statistic),
        p_value=float(p_value),
        effect_size=wasserstein_sd(ref, cur_sorted),
        effect_metric="wasserstein_sd",
        effect_threshold=config.numeric_effect_threshold,
        n_ref=int(n_ref),
        n_cur=int(cur_sorted.size),
    )


# ---- categorical --------------------------------------------------------------------------------
def categorical_table(
    ref: CategoricalReference, cur: pl.Series
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Counts over the union of reference and current categories (unseen ones get ref count 0)."""
    vc = cur.cast(pl.Utf8).drop_nulls().value_counts()
    cur_map = dict(zip(vc[vc.columns[0]].to_list(), vc["count"].to_list(), strict=True))
    cats = list(dict.fromkeys([*ref.categories, *cur_map]))
    ref_map = dict(zip(ref.categories, ref.counts, strict=True))
    return (
        cats,
        np.array([ref_map.get(c, 0) for c in cats], dtype=np.float64),
        np.array([cur_map.get(c, 0) for c in cats], dtype=np.float64),
    )


def chi2_statistic(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Pearson chi-squared homogeneity test on the 2 x K table; scipy's defaults (Yates'
    correction when K == 2), matching alibi's ChiSquareDrift."""
    from scipy.stats import chi2_contingency

    if ref_counts.size < 2 or cur_counts.sum() == 0 or ref_counts.sum() == 0:
        return 0.0, 1.0
    stat, p, _, _ = chi2_contingency(np.vstack([ref_counts, cur_counts]))
    return float(stat), float(p)


def _shares(counts: np.ndarray) -> np.ndarray:
    return np.maximum(counts / max(counts.sum(), 1.0), _PSI_EPS)


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index, sum (c - r) ln(c / r), shares floored at 1e-4."""
    r, c = _shares(ref_counts), _shares(cur_counts)
    return float(((c - r) * np.log(c / r)).sum())


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (sqrt of the divergence, base 2): in [0, 1]."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(ref_counts, cur_counts, base=2))


def categorical_feature(
    ref: CategoricalReference,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    statistic: float,
    p_value: float,
    config: DriftConfig,
) -> FeatureDrift:
    metric = config.categorical_effect_metric
    effect = psi(ref_counts, cur_counts) if metric == "psi" else jensen_shannon(ref_counts,
                                                                                cur_counts)
    return FeatureDrift(
        feature=ref.name,
        kind="categorical",
        test="chi2",
        statistic=float(statistic),
        p_value=float(p_value),
        effect_size=effect,
        effect_metric=metric,
        effect_threshold=config.categorical_threshold,
        n_ref=int(ref_counts.sum()),
        n_cur=int(cur_counts.sum()),
    )


# ---- multivariate -------------------------------------------------------------------------------
def mmd_samples(
    reference: ReferenceSummary, current: pl.DataFrame, config: DriftConfig
) -> tuple[np.ndarray, np.ndarray] | None:
    """Bounded, seeded, standardized samples (reference, current) for MMD/LSDD; both engines use
    this so they test identical arrays. None when there is nothing to test."""
    cols = reference.sample_columns
    if not cols or any(c not in current.columns for c in cols):
        return None
    x_ref = reference.sample_array()
    rng = np.random.default_rng(config.seed)
    if x_ref.shape[0] > config.mmd_max_samples:
        x_ref = x_ref[np.sort(rng.choice(x_ref.shape[0], config.mmd_max_samples, replace=False))]
    rows = current.select([pl.col(c).cast(pl.Float64).fill_nan(None) for c in cols]).drop_nulls()
    k = min(config.mmd_max_samples, rows.height)
    if k < 2 or x_ref.shape[0] < 2:
        return None
    idx = np.sort(rng.choice(rows.height, k, replace=False))
    # Gather the sampled rows before converting: to_numpy() on 1M rows would copy them all.
    y = rows[pl.Series(idx)].to_numpy()
    mean = np.array([reference.numeric[c].mean for c in cols])
    scale = np.array([reference.numeric[c].scale for c in cols])
    return x_ref, (y - mean) / scale


def mmd_permutation_test(
    x: np.ndarray,
    y: np.ndarray,
    sigma: float,
    n_permutations: int = 100,
    seed: int = 0,
    dtype: str = "auto",
) -> tuple[float, float, int]:
    """Unbiased MMD^2 with a Gaussian kernel and its permutation p-value, all permutations batched.

    Estimator (identical to alibi-detect's ``mmd2_from_kernel_matrix``): zero-diagonal kernel K,
    ``S_xx / (n(n-1)) + S_yy / (m(m-1)) - 2 S_xy / (nm)``. Per permutation with group indicator
    z: ``S_xx = z'Kz``, ``S_xy = z'r - S_xx`` (r = row sums), ``S_yy = T - S_xx - 2 S_xy``, so one
    ``(Z @ K * Z).sum(-1)`` product per chunk of permutations gives every statistic; chunking
    bounds memory to the kernel matrix plus ~256 MB. Returns (mmd2, p, n_exceed) with
    ``p = (1 + n_exceed) / (1 + P)``; alibi's convention is ``n_exceed / P``.
    """
    import torch

    n, m = x.shape[0], y.shape[0]
    big_n = n + m
    # float64 is cheap while the kernel is small and keeps parity with alibi bit-tight.
    dt = torch.float64 if (dtype == "float64" or (dtype == "auto" and big_n <= 5000)) else (
        torch.float32)
    z = torch.from_numpy(np.concatenate([x, y]).astype(np.float64)).to(dt)
    sq = (z * z).sum(1)
    k = z @ z.T  # reused in place for d^2 then the kernel: one (n+m)^2 buffer
    k.mul_(-2.0).add_(sq[:, None]).add_(sq[None, :]).clamp_(min=0.0)
    k.mul_(-1.0 / (2.0 * sigma**2)).exp_()
    k.fill_diagonal_(0.0)
    r = k.sum(1)
    total = r.sum()
    c_xx, c_yy, c_xy = 1.0 / (n * (n - 1)), 1.0 / (m * (m - 1)), 2.0 / (n * m)

    def stats(ind: torch.Tensor) -> torch.Tensor:
        s_xx = ((ind @ k) * ind).sum(1)
        s_xy = ind @ r - s_xx
        s_yy = total - s_xx - 2.0 * s_xy
        return c_xx * s_xx + c_yy * s_yy - c_xy * s_xy

    observed_ind = torch.zeros(1, big_n, dtype=dt)
    observed_ind[0, :n] = 1.0
    observed = stats(observed_ind)[0]

    gen = torch.Generator().manual_seed(seed)
    chunk = max(1, min(n_permutations, _PERM_CHUNK_BYTES // (2 * big_n * z.element_size())))
    n_exceed, done = 0, 0
    while done < n_permutations:
        c = min(chunk, n_permutations - done)
        # A random permutation's first n positions = a uniformly random size-n subset.
        members = torch.rand(c, big_n, generator=gen).argsort(dim=1)[:, :n]
        ind = torch.zeros(c, big_n, dtype=dt).scatter_(1, members, 1.0)
        n_exceed += int((stats(ind) >= observed).sum())
        done += c
    return float(observed), (1 + n_exceed) / (1 + n_permutations), n_exceed


# ---- reference.py (d53000a) ----
def _numeric_values(series: pl.Series) -> np.ndarray:
    # NaN is treated like null: neither has a place on the CDF.
    s = series.cast(pl.Float64).fill_nan(None).drop_nulls()
    return s.to_numpy()


def _summarize_numeric(name: str, series: pl.Series, n_quantiles: int, n_bins: int
                       ) -> NumericReference:
    arr = np.sort(_numeric_values(series))
    n = int(arr.size)
    if n == 0:
        raise ValueError(f"numeric feature {name!r} has no non-null values in the reference")
    probs = np.linspace(0.0, 1.0, n_quantiles + 2)
    quantiles = np.quantile(arr, probs)  # "linear" method on the sorted array

    values = counts = None
    uniq_idx = np.flatnonzero(np.diff(arr)) + 1
    if uniq_idx.size + 1 <= n_quantiles + 1:
        starts = np.concatenate([[0], uniq_idx])
        values = arr[starts].tolist()
        counts = np.diff(np.concatenate([starts, [n]])).astype(int).tolist()

    # Plot bins over the central 99.8% so one outlier does not squash the histogram.
    lo, hi = np.quantile(arr, [0.001, 0.999])
    if not hi > lo:
        lo, hi = float(arr[0]) - 0.5, float(arr[-1]) + 0.5
    edges = np.linspace(lo, hi, n_bins + 1)
    bin_counts, _ = np.histogram(np.clip(arr, lo, hi), bins=edges)
    return NumericReference(
        name=name,
        n=n,
        n_null=int(series.len() - n),
        mean=float(arr.mean()),
        std=float(arr.std()),
        min=float(arr[0]),
        max=float(arr[-1]),
        quantiles=quantiles.tolist(),
        bin_edges=edges.tolist(),
        bin_counts=bin_counts.astype(int).tolist(),
        values=values,
        counts=counts,
    )


