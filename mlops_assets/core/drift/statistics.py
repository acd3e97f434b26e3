"""Drift statistics shared by the engines and the calibration: KS distance and p-value,
Wasserstein in reference sd, contingency tables, PSI / Jensen-Shannon (the MMD test is in
mmd.py). Pure functions of arrays and reference summaries."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .mmd import mmd_permutation_test, mmd_samples, thread_map  # re-exported
from .types import DriftConfig, FeatureDrift

if TYPE_CHECKING:
    from .reference import CategoricalReference, NumericReference

__all__ = [
    "categorical_feature",
    "categorical_table",
    "chi2_statistic",
    "jensen_shannon",
    "ks_and_effect",
    "ks_pvalue",
    "ks_statistic",
    "ks_wasserstein",
    "mmd_permutation_test",
    "mmd_samples",
    "numeric_feature",
    "psi",
    "sorted_numeric_columns",
    "sorted_values",
    "wasserstein_sd",
]

_PSI_EPS = 1e-4  # floor for empty bins so PSI stays finite for new/vanished categories


# ---- numeric ------------------------------------------------------------------------------------
def sorted_values(series: pl.Series) -> np.ndarray:
    """Non-null, non-NaN values of a numeric column, sorted, as float64. Float columns are
    sorted in their own width (float32 halves the bytes a sort moves) and widened afterwards:
    the widening is exact and monotone, so the result equals sorting the float64 cast."""
    if series.dtype not in (pl.Float32, pl.Float64):
        series = series.cast(pl.Float64)
    arr = np.sort(series.to_numpy())  # nulls arrive as NaN; NaN sorts last
    if arr.size and np.isnan(arr[-1]):
        arr = arr[: int(np.searchsorted(arr, np.nan, "left"))]
    return arr.astype(np.float64, copy=False)


def sorted_numeric_columns(frame: pl.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """Non-null, non-NaN values of each column, sorted (numpy's sort, a column per core: it
    releases the GIL and beats a polars sort of the same columns 3-4x on 2 cores)."""
    return dict(zip(names, thread_map(lambda c: sorted_values(frame[c]), list(names)),
                    strict=True))


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
    return ks_wasserstein(ref, cur_sorted)[0], ref.n


def ks_and_effect(
    ref: NumericReference, cur_sorted: np.ndarray, sample: np.ndarray | None = None
) -> tuple[float, int, float]:
    """(KS distance, reference size for its p-value, Wasserstein in reference sd) of one
    column: :func:`ks_statistic` and :func:`wasserstein_sd` from one pass over the sorted batch
    when both run against the interpolated reference CDF."""
    if sample is None and not ref.is_discrete:
        d, w = ks_wasserstein(ref, cur_sorted)
        return d, ref.n, w
    d, n_ref = ks_statistic(ref, cur_sorted, sample)
    return d, n_ref, wasserstein_sd(ref, cur_sorted)


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
    t = n * d
    if n > 140 and 2.2 <= t * d < 370.0 and 1.0 < t < n - 1 and d < 0.5:
        # kolmogn's own branch for this range is 2 * scipy.special.smirnov(n, d), whose exact
        # sum takes ~0.5 s at n = 500,000 (a 1M vs 1M batch); the same sum vectorized.
        return min(1.0, 2.0 * _smirnov_sf(n, d))
    return float(_load_kolmogn()(n, d, cdf=False))


def _smirnov_sf(n: float, x: float) -> float:
    """``scipy.special.smirnov(n, x)``, the one-sided KS tail P(D_n+ >= x), by the exact
    Birnbaum-Tingey sum ``x sum_j C(n, j) (1 - x - j/n)^(n-j) (x + j/n)^(j-1)``, j <= n(1-x),
    in logs (agrees to ~1e-9 relative, tests; the two differ only when p underflows)."""
    from scipy.special import gammaln

    j = np.arange(0, int(np.floor(n * (1.0 - x))) + 1, dtype=np.float64)
    a = np.maximum(1.0 - x - j / n, 0.0)
    with np.errstate(divide="ignore"):
        log_terms = (gammaln(n + 1.0) - gammaln(j + 1.0) - gammaln(n - j + 1.0)
                     + (n - j) * np.log(a) + (j - 1.0) * np.log(x + j / n))
    top = float(log_terms.max())
    return float(x * np.exp(top) * np.exp(log_terms - top).sum())


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
    count[in_b] = _right_counts(b)[0]
    return merged, count


@functools.lru_cache(maxsize=1)
def _ranks_over_n(n: int) -> np.ndarray:
    """``arange(1, n + 1) / n`` (read-only; shared by the columns of a batch, one size kept)."""
    r = np.arange(1, n + 1, dtype=np.intp) / n
    r.flags.writeable = False
    return r


def _right_counts(b: np.ndarray) -> tuple[np.ndarray, bool]:
    """``np.searchsorted(b, b, "right")`` for sorted ``b`` (the end of each run of ties), and
    whether ``b`` has ties."""
    if b.size == 0:
        return np.zeros(0, dtype=np.intp), False
    new_run = np.empty(b.size, dtype=bool)
    new_run[0] = True
    np.not_equal(b[1:], b[:-1], out=new_run[1:])
    if new_run.all():  # no ties (the usual continuous column)
        return np.arange(1, b.size + 1, dtype=np.intp), False
    ends = np.append(np.flatnonzero(new_run)[1:], b.size)
    return ends[np.cumsum(new_run) - 1], True


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
        return ks_wasserstein(ref, cur_sorted)[1]
    return w / ref.scale


def ks_wasserstein(ref: NumericReference, b: np.ndarray) -> tuple[float, float]:
    """KS distance and Wasserstein-1 (in reference sd) of the sorted batch ``b`` against a
    continuous reference's interpolated CDF F, from one interpolation of F at ``b``.

    KS: F is continuous and F_cur a step, so the sup sits at a jump, on either side.
    Wasserstein: integral of |F - F_cur| over the segments between consecutive points of the
    union of knots and data; F_cur is flat and F linear on each, so each is a trapezoid (exact
    unless they cross). The segments between two batch values with no knot between them (all
    but <= 2 per knot) come from the arrays KS already built; only the ~1,000 segments next to
    a knot are formed apart, so the batch is never merged with the knots. Same value as
    integrating over the merged points (the previous code), up to summation order (~1e-15).
    """
    knots, probs = _reference_knots(ref)
    n = b.size
    f = np.interp(b, knots, probs)
    db = np.diff(b)  # >= 0: sorted
    # r = i / n. With ties F_cur is (rank of the run's last value) / n, but only the last
    # value of a run starts a segment of positive width, where that rank is i: every
    # trapezoid of positive width, and both KS sups (reached at a run's ends), are the same
    # with r; no run ends are computed.
    r = _ranks_over_n(n)
    g = r - f  # i / n - F
    gap_right = f[1:] - r[:-1]  # F - (i - 1) / n from the second value on
    d = max(float(g.max()), float(f[0]), float(gap_right.max()) if n > 1 else 0.0)
    # Knots: pos = first batch value >= knot. A knot with 1 <= pos < n lies inside the
    # segment (b[pos-1], b[pos]] (ties: a knot precedes equal batch values), which it splits:
    # that segment's batch-only trapezoid is dropped (zero width) and replaced below.
    pos = np.searchsorted(b, knots, "left")
    db[pos[(pos >= 1) & (pos < n)] - 1] = 0.0
    np.abs(g, out=g)
    np.abs(gap_right, out=gap_right)
    w_batch = 0.5 * (float(np.dot(g[:-1], db)) + float(np.dot(gap_right, db)))
    k = knots.size
    c_knot = np.searchsorted(b, knots, "right") / n  # F_cur right after each knot
    # Right segment of each knot: to the next knot if it comes first, else to b[pos].
    nxt_knot = np.append(knots[1:], np.inf)
    nxt_prob = np.append(probs[1:], 1.0)
    b_pos = b[np.minimum(pos, n - 1)]
    to_knot = (np.arange(k) < k - 1) & ((pos >= n) | (nxt_knot <= b_pos))
    has_right = to_knot | (pos < n)
    y = np.where(to_knot, nxt_knot, b_pos)
    fy = np.where(to_knot, nxt_prob, f[np.minimum(pos, n - 1)])
    right = 0.5 * (np.abs(probs - c_knot) + np.abs(fy - c_knot)) * (y - knots)
    # Left segment from a batch value: when that value (b[pos-1]) comes after the previous
    # knot (ties: the knot first).
    prev_knot = np.append(-np.inf, knots[:-1])
    pm = np.maximum(pos - 1, 0)
    from_b = (pos >= 1) & (prev_knot <= b[pm])
    left = 0.5 * (np.abs(f[pm] - r[pm]) + np.abs(probs - r[pm])) * (knots - b[pm])
    w = w_batch + float(right[has_right].sum()) + float(left[from_b].sum())
    return d, w / ref.scale


def numeric_feature(
    ref: NumericReference,
    cur_sorted: np.ndarray,
    statistic: float,
    p_value: float,
    n_ref: int,
    config: DriftConfig,
    kind: str = "numeric",
    effect: float | None = None,
) -> FeatureDrift:
    """``effect``: the Wasserstein effect size when the caller already has it
    (:func:`ks_wasserstein`), else computed here."""
    return FeatureDrift(
        feature=ref.name,
        kind=kind,  # type: ignore[arg-type]
        test="ks",
        statistic=float(statistic),
        p_value=float(p_value),
        effect_size=wasserstein_sd(ref, cur_sorted) if effect is None else effect,
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
