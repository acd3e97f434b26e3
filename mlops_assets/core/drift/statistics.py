"""Drift statistics shared by the engines and the calibration: KS distance and p-value,
Wasserstein in reference sd, contingency tables, PSI / Jensen-Shannon (the MMD test is in
mmd.py). Pure functions of arrays and reference summaries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .mmd import mmd_permutation_test, mmd_samples  # re-exported
from .types import DriftConfig, FeatureDrift

if TYPE_CHECKING:
    from .reference import CategoricalReference, NumericReference

__all__ = [
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
    scipy's ``ks_2samp(method="asymp")``, which is what alibi-detect's KSDrift uses. Evaluated
    with scipy's own ``kolmogn`` loaded without the scipy.stats package (importing scipy.stats
    costs seconds and ~50 MB in a fresh process; see :func:`_kolmogn_sf`)."""
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    return float(np.clip(_kstwo_sf(d, float(np.round(m * n / (m + n)))), 0.0, 1.0))


_KOLMOGN: Any = None


def _load_kolmogn() -> Any:
    """scipy.stats._ksstats.kolmogn (the function behind ``kstwo.sf``), executed from scipy's
    own source file in a private namespace so that ``scipy.stats`` (and its ~100 submodules) is
    not imported. Its only scipy.stats dependencies (a finite-difference helper and
    ``ksone.pdf``) serve the density and the inverse, which are never called here. Falls back
    to ``scipy.stats.kstwo`` if the file is missing or its imports change."""
    global _KOLMOGN
    if _KOLMOGN is None:
        try:
            import importlib.util
            import os

            import scipy.special  # noqa: F401  (the module below uses it)

            spec = importlib.util.find_spec("scipy")
            assert spec is not None and spec.origin is not None
            path = os.path.join(os.path.dirname(spec.origin), "stats", "_ksstats.py")
            with open(path, encoding="utf-8") as fh:
                src = fh.read()
            line = "from scipy.stats._finite_differences import _derivative"
            if src.count(line) != 1 or "\nimport scipy.stats" in src or "from scipy.stats" in \
                    src.replace(line, ""):
                raise ImportError("unexpected scipy.stats._ksstats imports")
            ns: dict[str, Any] = {"__name__": "_mlops_ksstats", "__file__": path}
            exec(compile(src.replace(line, "_derivative = None"), path, "exec"), ns)
            _KOLMOGN = ns["kolmogn"]
        except Exception:
            from scipy.stats import kstwo

            _KOLMOGN = lambda n, x, cdf=False: kstwo.sf(x, n)  # noqa: E731
    return _KOLMOGN


def _kstwo_sf(d: float, n: float) -> float:
    """``scipy.stats.kstwo.sf(d, n)``: 1 below the support, 0 above, nan for invalid n."""
    if not (n >= 1 and n == np.round(n)) or np.isnan(d):
        return float("nan")
    if d <= 0.0:
        return 1.0
    if d >= 1.0:
        return 0.0
    return float(_load_kolmogn()(n, d, cdf=False))


def _merge_sorted(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.sort(np.concatenate([a, b]), kind="stable")`` for sorted ``a`` (small: reference
    knots) and ``b`` (large: the batch) in linear time, and ``searchsorted(b, merged, "right")``
    without a binary search per element. Bit-identical to the sort (ties: ``a``'s values first,
    as the stable sort keeps them) and to the search."""
    pos_a = np.searchsorted(b, a, "left") + np.arange(a.size)
    merged = np.empty(a.size + b.size, dtype=np.result_type(a, b))
    in_b = np.ones(merged.size, dtype=bool)
    in_b[pos_a] = False
    merged[pos_a] = a
    merged[in_b] = b
    count = np.empty(merged.size, dtype=np.intp)
    count[pos_a] = np.searchsorted(b, a, "right")
    count[in_b] = _right_counts(b)
    return merged, count


def _right_counts(b: np.ndarray) -> np.ndarray:
    """``np.searchsorted(b, b, "right")`` for sorted ``b`` (the end of each run of ties)."""
    if b.size == 0:
        return np.zeros(0, dtype=np.intp)
    new_run = np.empty(b.size, dtype=bool)
    new_run[0] = True
    np.not_equal(b[1:], b[:-1], out=new_run[1:])
    if new_run.all():  # no ties (the usual continuous column)
        return np.arange(1, b.size + 1, dtype=np.intp)
    ends = np.append(np.flatnonzero(new_run)[1:], b.size)
    return ends[np.cumsum(new_run) - 1]


def wasserstein_sd(ref: NumericReference, cur_sorted: np.ndarray) -> float:
    """Wasserstein-1 distance between current values and the full-reference CDF, in reference
    standard deviations: integral of |F_ref - F_cur| over the union of knots and data."""
    if ref.is_discrete:
        vals = np.asarray(ref.values, dtype=np.float64)
        pts, count = _merge_sorted(vals, cur_sorted)
        gap = np.abs(_step_cdf(vals, np.cumsum(ref.counts) / ref.n, pts)
                     - count / cur_sorted.size)
        w = float((gap[:-1] * np.diff(pts)).sum())
    else:
        knots, probs = _reference_knots(ref)
        pts, count = _merge_sorted(knots, cur_sorted)
        f_ref = np.interp(pts, knots, probs)
        f_cur = count / cur_sorted.size
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
