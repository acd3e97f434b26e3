"""Within-batch correlation drift: the largest change of any pairwise correlation.

Why: a change in how two features co-vary with unchanged marginals is invisible to every
per-feature statistic, and MMD on the full sample barely sees it when day-level effects (rolling
features, weekday means) already make the reference batches' MMD band wide. Correlations within
a batch are untouched by a level that is constant within the batch, so their batch-to-batch
noise is close to pure sampling noise.

Statistic: ``max_pairs |atanh r_b - c|`` over the numeric sample columns, ``r_b`` the batch's
Pearson correlations, ``c`` the mean Fisher z of the reference's pseudo-batches of the same shape
(stored in the calibration set; leave-one-out during calibration). It is calibrated like every
other statistic (calibration.py); without a calibration it is not computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from .types import DriftConfig, MultivariateDrift

if TYPE_CHECKING:
    from .calibration import CalibrationSet
    from .reference import ReferenceSummary

__all__ = ["CORR_KEY", "correlation_member", "fisher_z", "leave_one_out_changes", "max_z_change"]

CORR_KEY = "__corr__"
_MIN_ROWS = 10


def fisher_z(rows: np.ndarray) -> np.ndarray | None:
    """Fisher z (atanh) of the upper-triangle correlations of ``rows`` (NaN rows dropped; NaN
    where a column is constant). None below 10 complete rows."""
    rows = rows[~np.isnan(rows).any(1)]
    if rows.shape[0] < _MIN_ROWS or rows.shape[1] < 2:
        return None
    centred = rows - rows.mean(0)
    norm = np.sqrt((centred**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (centred.T @ centred) / np.outer(norm, norm)
    iu = np.triu_indices(rows.shape[1], 1)
    return np.arctanh(np.clip(r[iu], -0.999999, 0.999999))


def max_z_change(z: np.ndarray, center: np.ndarray) -> float:
    d = np.abs(z - center)
    d = d[np.isfinite(d)]  # constant columns (in the batch or the reference) carry no signal
    return float(d.max()) if d.size else 0.0


def leave_one_out_changes(zs: list[np.ndarray]) -> tuple[np.ndarray, list[float]]:
    """(mean Fisher z over the batches, each batch's max change against the mean of the
    *other* batches): the out-of-sample statistic a new batch sees."""
    z = np.vstack(zs)
    ok = np.isfinite(z)
    total, count = np.where(ok, z, 0.0).sum(0), ok.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        center = total / count
        changes = [max_z_change(row, (total - np.where(m, row, 0.0)) / (count - m))
                   for row, m in zip(z, ok, strict=True)]
    return center, changes


def _standardized(reference: ReferenceSummary, frame: pl.DataFrame, cols: list[str]
                  ) -> np.ndarray:
    raw = frame.select([pl.col(c).cast(pl.Float64).fill_nan(None) for c in cols]).to_numpy()
    return raw.astype(np.float64)  # correlations are scale-free: no standardizing needed


def correlation_member(reference: ReferenceSummary, current: pl.DataFrame,
                       config: DriftConfig) -> MultivariateDrift | None:
    """The correlation member for ``current`` (None without a calibration set that has a
    correlation center, or with fewer than 10 complete rows)."""
    cal = reference.calibration
    if not (config.correlation and config.calibrated) or cal is None:
        return None
    cset: CalibrationSet | None = cal.choose(current.height, config.calibration_shape)
    if cset is None or not cset.corr_center:
        return None
    cols = cset.corr_columns
    if any(c not in current.columns for c in cols):
        return None
    z = fisher_z(_standardized(reference, current, cols))
    if z is None:
        return None
    stat = max_z_change(z, np.asarray(cset.corr_center, dtype=np.float64))
    n = int(current.select(cols).drop_nulls().height)
    from scipy.stats import norm

    # Raw p (i.i.d. rows, Bonferroni over pairs): Fisher z has sd 1/sqrt(n - 3).
    p = float(min(1.0, z.size * 2.0 * norm.sf(stat * np.sqrt(max(n - 3, 1)))))
    return MultivariateDrift(test="corr", statistic=stat, p_value=p, n_ref=len(cset.batches),
                             n_cur=n, sigma=float("nan"), n_permutations=0, n_exceed=0)
