"""The multivariate MMD test and its bounded samples (exact batched permutations up to
MMD_EXACT_MAX_ROWS, random Fourier features above), plus the thread helpers the drift code runs
columns and kernel blocks on. Split from statistics.py to keep both modules readable."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .types import DriftConfig

if TYPE_CHECKING:
    from .reference import ReferenceSummary

__all__ = ["mmd_permutation_test", "mmd_samples", "run_blocks", "thread_map"]

_PERM_CHUNK_BYTES = 256 * 2**20


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
