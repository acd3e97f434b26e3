"""Reference summaries: everything a drift test needs from the training data, stored as JSON.

A summary replaces the reference frame so detection never reloads training data:

* numeric features: mean/std, ``n_quantiles`` quantiles of the FULL column (KS and Wasserstein
  against the reference CDF; see :func:`reference_cdf`), or the exact value counts when the
  column has at most ``n_quantiles + 1`` distinct values, plus histogram edges/counts for plots;
* categorical features: exact category counts;
* one seeded sample of complete rows (standardized with the reference mean/std) for the
  multivariate MMD test, and the kernel width from the median heuristic computed once here.

CDF approximation (documented once, used by the KS test and the Wasserstein effect size): for a
column with more than ``n_quantiles + 1`` distinct values the reference CDF is the piecewise-linear
interpolation through the (quantile, probability) knots at probabilities ``linspace(0, 1, q + 2)``
(min and max included). Between knots the true ECDF of an i.i.d. column deviates from a straight
line by about ``sqrt(n / q) / n`` plus the curvature of the density over one bin; with q = 999 that
is ~1e-4 or less, well below the KS sampling noise ``1 / sqrt(n_eff)`` up to n_eff ~ 1e8. Point
masses inside a continuous column (e.g. many zeros) become ramps, the one real approximation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from .calibration import Calibration
from .mmd import thread_map
from .statistics import sorted_values

__all__ = [
    "CategoricalReference",
    "NumericReference",
    "ReferenceSummary",
    "build_reference",
    "median_heuristic_sigma",
]

# 2: optional ``calibration`` (null bands from the reference's own batches, calibration.py).
# Version-1 summaries still load; their reports use the fixed-threshold verdict with a note.
SUMMARY_VERSION = 2
# The median heuristic is O(k^2) in memory; a few thousand rows pin sigma down well enough.
_SIGMA_MAX_ROWS = 3000


@dataclass
class NumericReference:
    name: str
    n: int  # non-null rows in the full reference
    n_null: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: list[float]  # at probabilities linspace(0, 1, len(quantiles))
    bin_edges: list[float]
    bin_counts: list[int]
    # Exact distribution when the column has few distinct values (ints, flags): KS is then exact.
    values: list[float] | None = None
    counts: list[int] | None = None

    @property
    def scale(self) -> float:
        # A constant reference column has std 0; any change is then "infinitely" many sds away,
        # so fall back to raw units rather than divide by zero.
        return self.std if self.std > 0 else 1.0

    @property
    def is_discrete(self) -> bool:
        return self.values is not None


@dataclass
class CategoricalReference:
    name: str
    n: int
    n_null: int
    categories: list[str]
    counts: list[int]


@dataclass
class ReferenceSummary:
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    sample_columns: list[str]  # numeric features in the multivariate sample, in order
    sample: list[list[float]]  # rows x sample_columns, standardized with reference mean/std
    sigma: float  # Gaussian kernel width for MMD/LSDD on the standardized sample
    n_rows: int
    seed: int
    score_column: str | None = None
    score: NumericReference | None = None
    version: int = SUMMARY_VERSION
    meta: dict[str, Any] = field(default_factory=dict)
    calibration: Calibration | None = None

    # ---- arrays -------------------------------------------------------------------------------
    def sample_array(self) -> np.ndarray:
        """Standardized multivariate sample, shape (rows, len(sample_columns)), float64."""
        return np.asarray(self.sample, dtype=np.float64).reshape(-1, len(self.sample_columns))

    def sample_column(self, name: str) -> np.ndarray:
        """One feature of the sample back on its raw scale (used by KS ``ks_reference="sample"``
        and by the alibi engine, so both engines see exactly the same reference values)."""
        j = self.sample_columns.index(name)
        ref = self.numeric[name]
        return self.sample_array()[:, j] * ref.scale + ref.mean

    # ---- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceSummary:
        version = int(data.get("version", SUMMARY_VERSION))
        if version > SUMMARY_VERSION:
            raise ValueError(f"reference summary version {version} is newer than supported")
        score = data.get("score")
        calibration = data.get("calibration")
        return cls(
            numeric={k: NumericReference(**v) for k, v in data["numeric"].items()},
            categorical={k: CategoricalReference(**v) for k, v in data["categorical"].items()},
            sample_columns=list(data["sample_columns"]),
            sample=[list(map(float, r)) for r in data["sample"]],
            sigma=float(data["sigma"]),
            n_rows=int(data["n_rows"]),
            seed=int(data["seed"]),
            score_column=data.get("score_column"),
            score=NumericReference(**score) if score else None,
            version=version,
            meta=dict(data.get("meta", {})),
            calibration=Calibration.from_dict(calibration) if calibration else None,
        )


class _Sorted(np.ndarray):
    """A view of an already sorted array whose ``partition`` is a no-op: ``np.quantile`` then
    skips its O(n log k) selection for ~2,000 indices and computes exactly the same values
    (same index arithmetic and interpolation, numpy's own code) from the sorted data."""

    def partition(self, *args: Any, **kwargs: Any) -> None:
        return None


def _sorted_quantile(arr: np.ndarray, probs: Any) -> np.ndarray:
    """``np.quantile(arr, probs)`` ("linear") for a sorted 1-d ``arr``, without re-selecting."""
    return np.asarray(np.quantile(arr.view(_Sorted), probs, overwrite_input=True))


def _summarize_numeric(name: str, series: pl.Series, n_quantiles: int, n_bins: int
                       ) -> NumericReference:
    return _summarize_sorted(name, sorted_values(series), series.len(), n_quantiles, n_bins)


def _summarize_sorted(name: str, arr: np.ndarray, n_total: int, n_quantiles: int, n_bins: int
                      ) -> NumericReference:
    """Summary of one column from its sorted non-null, non-NaN values."""
    n = int(arr.size)
    if n == 0:
        raise ValueError(f"numeric feature {name!r} has no non-null values in the reference")
    probs = np.linspace(0.0, 1.0, n_quantiles + 2)
    quantiles = _sorted_quantile(arr, probs)  # "linear" method on the sorted array

    values = counts = None
    steps = np.diff(arr)
    if np.count_nonzero(steps) + 1 <= n_quantiles + 1:  # few distinct values: exact counts
        starts = np.concatenate([[0], np.flatnonzero(steps) + 1])
        values = arr[starts].tolist()
        counts = np.diff(np.concatenate([starts, [n]])).astype(int).tolist()

    # Plot bins over the central 99.8% so one outlier does not squash the histogram.
    lo, hi = _sorted_quantile(arr, [0.001, 0.999])
    if not hi > lo:
        lo, hi = float(arr[0]) - 0.5, float(arr[-1]) + 0.5
    edges = np.linspace(lo, hi, n_bins + 1)
    # = np.histogram(np.clip(arr, lo, hi), bins=edges)[0] (bins [e_i, e_i+1), the last one
    # closed), read off the sorted data by a binary search per edge instead of the
    # histogram's own block-wise re-sort: clipped values land in the first or last bin.
    cum = np.concatenate([[0], np.searchsorted(arr, edges[1:-1], "left"), [n]])
    bin_counts = np.diff(cum)
    return NumericReference(
        name=name,
        n=n,
        n_null=int(n_total - n),
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


def _summarize_categorical(name: str, series: pl.Series) -> CategoricalReference:
    s = series.cast(pl.Utf8)
    vc = s.drop_nulls().value_counts(sort=True)
    return CategoricalReference(
        name=name,
        n=int(vc["count"].sum()) if vc.height else 0,
        n_null=int(s.null_count()),
        categories=vc[name].to_list(),
        counts=[int(c) for c in vc["count"].to_list()],
    )


def median_heuristic_sigma(x: np.ndarray, max_rows: int = _SIGMA_MAX_ROWS) -> float:
    """Kernel width sqrt(median(||xi - xj||^2) / 2) over pairs i < j.

    Same heuristic as alibi-detect's ``sigma_median`` (k(x, y) = exp(-d^2 / median)); computed
    once at reference time because sorting all pairwise distances dominates alibi's start-up.
    """
    x = np.asarray(x, dtype=np.float64)[:max_rows]
    if x.shape[0] < 2:
        return 1.0
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    med = float(np.median(d2[np.triu_indices(x.shape[0], k=1)]))
    return float(np.sqrt(med / 2.0)) if med > 0 else 1.0


def build_reference(
    frame: pl.DataFrame,
    numeric: list[str],
    categorical: list[str],
    *,
    n_quantiles: int = 999,
    sample_size: int = 2000,
    seed: int = 0,
    score_column: str | None = None,
    n_bins: int = 30,
) -> ReferenceSummary:
    """Summarize a reference frame for drift detection (see the module docstring)."""
    missing = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if missing:
        raise KeyError(f"reference frame lacks columns {missing}")
    if n_quantiles < 1 or sample_size < 2:
        raise ValueError("n_quantiles must be >= 1 and sample_size >= 2")

    # A column per core: one numpy sort of it, then the passes over the sorted values
    # (quantiles, ties, histogram, moments) in the same thread, while the data is warm.
    def summarize(c: str) -> NumericReference:
        return _summarize_sorted(c, sorted_values(frame[c]), frame.height, n_quantiles, n_bins)

    cols = list(dict.fromkeys([*numeric, *([score_column] if score_column is not None else [])]))
    summaries = dict(zip(cols, thread_map(summarize, cols), strict=True))
    num = {c: summaries[c] for c in numeric}
    cat = {c: _summarize_categorical(c, frame[c]) for c in categorical}

    # Complete rows only: the multivariate test needs every coordinate.
    rows = frame.select([pl.col(c).cast(pl.Float64).fill_nan(None) for c in numeric]).drop_nulls()
    k = min(sample_size, rows.height)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(rows.height, size=k, replace=False)) if k else np.zeros(0, int)
    # Gather the sampled rows before converting (not all rows x columns to numpy first).
    raw = rows[pl.Series(idx)].to_numpy() if numeric else np.zeros((k, 0))
    means = np.array([num[c].mean for c in numeric])
    scales = np.array([num[c].scale for c in numeric])
    z = (raw - means) / scales if numeric else raw
    sigma = median_heuristic_sigma(z) if numeric else 1.0

    score = summaries[score_column] if score_column is not None else None

    return ReferenceSummary(
        numeric=num,
        categorical=cat,
        sample_columns=list(numeric),
        sample=z.tolist(),
        sigma=sigma,
        n_rows=frame.height,
        seed=seed,
        score_column=score_column,
        score=score,
    )
