"""Drift statistics shared by the engines and the calibration: KS distance and p-value,
Wasserstein in reference sd, contingency tables, PSI / Jensen-Shannon, the batched MMD
permutation test and its bounded samples. Pure functions of arrays and reference summaries."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .types import DriftConfig, FeatureDrift

if TYPE_CHECKING:
    from .reference import CategoricalReference, NumericReference, ReferenceSummary

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


# Exact kernel-matrix test up to this many rows in total (its (n+m)^2 kernel is then <= 400 MB
# in float32); above it, random Fourier features (memory O((n+m) * P / 8), time O((n+m) D P)).
MMD_EXACT_MAX_ROWS = 10_000
MMD_RFF_FEATURES = 512  # frequency pairs: cos and sin, 1,024 features
_RFF_BLOCK_ROWS = 4096


def _torch_rand(rs: np.random.RandomState, rows: int, cols: int) -> np.ndarray:
    """``torch.rand(rows, cols, generator=torch.Generator().manual_seed(seed))`` (CPU, float32)
    with ``rs = RandomState(seed)``: both are MT19937 seeded with init_genrand(seed), and torch
    keeps the low 24 bits of each 32-bit draw times 2^-24. The permutations of the MMD test are
    therefore the same as those of the former torch implementation, without importing torch."""
    raw = rs._bit_generator.random_raw(rows * cols)  # type: ignore[attr-defined]
    return ((raw & 0xFFFFFF).astype(np.float32) * np.float32(2.0**-24)).reshape(rows, cols)


def _gaussian_kernel(z: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-diagonal Gaussian kernel matrix of the rows of ``z``, built in row blocks on a
    thread per core (numpy releases the GIL in the element-wise passes; the exp dominates)."""
    dt = z.dtype.type
    sq = (z * z).sum(1)
    k = np.empty((z.shape[0], z.shape[0]), dtype=z.dtype)
    gamma = dt(-1.0 / (2.0 * sigma**2))

    def block(lo: int, hi: int) -> None:
        kb = k[lo:hi]
        np.matmul(z[lo:hi], z.T, out=kb)  # reused in place for d^2 then the kernel
        kb *= dt(-2.0)
        kb += sq[lo:hi, None]
        kb += sq[None, :]
        np.maximum(kb, dt(0.0), out=kb)
        kb *= gamma
        np.exp(kb, out=kb)

    run_blocks(block, z.shape[0])
    np.fill_diagonal(k, 0.0)
    return k


def run_blocks(fn: Callable[[int, int], None], size: int, min_block: int = 512) -> None:
    """``fn(lo, hi)`` over contiguous blocks of ``range(size)``, one thread per core."""
    workers = min(_workers(), max(1, size // min_block))
    if workers <= 1:
        fn(0, size)
        return
    edges = np.linspace(0, size, workers + 1).round().astype(int)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fn, edges[:-1].tolist(), edges[1:].tolist()))


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def thread_map(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``[fn(i) for i in items]`` on a thread per core, results in order (per-column numpy
    work: sorts, searches and element-wise passes release the GIL)."""
    workers = min(_workers(), len(items))
    if workers <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def mmd_permutation_test(
    x: np.ndarray,
    y: np.ndarray,
    sigma: float,
    n_permutations: int = 100,
    seed: int = 0,
    dtype: str = "auto",
    method: str = "auto",
) -> tuple[float, float, int]:
    """Unbiased MMD^2 with a Gaussian kernel and its permutation p-value, all permutations batched.

    ``method="exact"`` (default while n + m <= MMD_EXACT_MAX_ROWS): estimator identical to
    alibi-detect's ``mmd2_from_kernel_matrix``: zero-diagonal kernel K,
    ``S_xx / (n(n-1)) + S_yy / (m(m-1)) - 2 S_xy / (nm)``. Per permutation with group indicator
    z: ``S_xx = z'Kz``, ``S_xy = z'r - S_xx`` (r = row sums), ``S_yy = T - S_xx - 2 S_xy``, so one
    ``(Z @ K * Z).sum(-1)`` product per chunk of permutations gives every statistic; chunking
    bounds memory to the kernel matrix plus ~256 MB. numpy (BLAS) only; the permutations are
    drawn exactly as the former torch code drew them (:func:`_torch_rand`).

    ``method="rff"`` (default above MMD_EXACT_MAX_ROWS rows): the same unbiased estimator with
    the kernel replaced by its random-Fourier-feature approximation
    ``k~(a, b) = mean_j cos(w_j'(a - b))``, ``w_j ~ N(0, I / sigma^2)`` (an unbiased estimate of
    the Gaussian kernel, and k~(a, a) = 1 exactly as for K). With ``phi`` the 2D features,
    ``S_x = sum_{i in X} phi_i``, the statistic is ``(|S_x|^2 - n) / (n(n-1)) + (|S_y|^2 - m) /
    (m(m-1)) - 2 S_x'S_y / (nm)``: only ``S_x`` depends on the permutation, so every permutation
    is one pass over the rows in blocks (memory O(n + m), never an (n+m)^2 matrix). The p-value
    is a permutation p-value of this statistic, hence exactly valid under exchangeability
    (docs/benchmarks.md shows its false-alarm rate and its agreement with the exact test).

    Returns (mmd2, p, n_exceed) with ``p = (1 + n_exceed) / (1 + P)``; alibi's convention is
    ``n_exceed / P``.
    """
    if method == "auto":
        method = "exact" if x.shape[0] + y.shape[0] <= MMD_EXACT_MAX_ROWS else "rff"
    if method == "rff":
        return _mmd_rff_test(x, y, sigma, n_permutations, seed)
    if method != "exact":
        raise ValueError(f"unknown MMD method {method!r}")
    n, m = x.shape[0], y.shape[0]
    big_n = n + m
    # float64 is cheap while the kernel is small and keeps parity with alibi bit-tight.
    dt = np.float64 if (dtype == "float64" or (dtype == "auto" and big_n <= 5000)) else (
        np.float32)
    z = np.concatenate([x, y]).astype(np.float64).astype(dt)
    k = _gaussian_kernel(z, sigma)
    r = k.sum(1)
    total = r.sum()
    c_xx, c_yy, c_xy = 1.0 / (n * (n - 1)), 1.0 / (m * (m - 1)), 2.0 / (n * m)

    def stats(ind: np.ndarray) -> np.ndarray:
        s_xx = ((ind @ k) * ind).sum(1)
        s_xy = ind @ r - s_xx
        s_yy = total - s_xx - dt(2.0) * s_xy
        return c_xx * s_xx + c_yy * s_yy - c_xy * s_xy

    observed_ind = np.zeros((1, big_n), dtype=dt)
    observed_ind[0, :n] = 1.0
    observed = stats(observed_ind)[0]

    rs = np.random.RandomState(seed)
    chunk = max(1, min(n_permutations, _PERM_CHUNK_BYTES // (2 * big_n * z.itemsize)))
    n_exceed, done = 0, 0
    while done < n_permutations:
        c = min(chunk, n_permutations - done)
        # A random permutation's first n positions = a uniformly random size-n subset.
        members = np.argsort(_torch_rand(rs, c, big_n), axis=1, kind="stable")[:, :n]
        ind = np.zeros((c, big_n), dtype=dt)
        np.put_along_axis(ind, members, 1.0, axis=1)
        n_exceed += int((stats(ind) >= observed).sum())
        done += c
    return float(observed), (1 + n_exceed) / (1 + n_permutations), n_exceed


def _mmd_rff_test(x: np.ndarray, y: np.ndarray, sigma: float, n_permutations: int, seed: int,
                  n_features: int = MMD_RFF_FEATURES) -> tuple[float, float, int]:
    n, m = x.shape[0], y.shape[0]
    big_n = n + m
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((x.shape[1], n_features)) / sigma).astype(np.float32)
    # Permutation p: its first n rows go to X. Boolean membership, P x (n+m) bytes.
    member = np.zeros((n_permutations + 1, big_n), dtype=bool)
    member[0, :n] = True  # row 0: the observed split
    for i in range(1, n_permutations + 1):
        member[i, rng.permutation(big_n)[:n]] = True
    s_x = np.zeros((n_permutations + 1, 2 * n_features), dtype=np.float64)
    total = np.zeros(2 * n_features, dtype=np.float64)
    scale = np.float32(1.0 / np.sqrt(n_features))
    for start in range(0, big_n, _RFF_BLOCK_ROWS):
        stop = min(start + _RFF_BLOCK_ROWS, big_n)
        rows = np.concatenate([x[max(start, 0):min(stop, n)],
                               y[max(start - n, 0):max(stop - n, 0)]]).astype(np.float32)
        proj = rows @ w
        phi = np.concatenate([np.cos(proj), np.sin(proj)], axis=1)
        phi *= scale
        s_x += member[:, start:stop].astype(np.float32) @ phi
        total += phi.sum(0, dtype=np.float64)
    s_y = total[None, :] - s_x
    stat = ((s_x * s_x).sum(1) - n) / (n * (n - 1)) + ((s_y * s_y).sum(1) - m) / (m * (m - 1)) \
        - 2.0 * (s_x * s_y).sum(1) / (n * m)
    observed = float(stat[0])
    n_exceed = int((stat[1:] >= stat[0]).sum())
    return observed, (1 + n_exceed) / (1 + n_permutations), n_exceed
