"""The model table's feature columns of single rows, in plain Python: what
:func:`core.features.build_features` computes for rows whose features depend on the row alone.

Request rows arrive as a few typed values (already validated); a polars query per request costs
milliseconds for microseconds of work. This computes the same values with the same casts: numeric
features to float32 with nulls (and NaN) as 0.0 plus a ``<col>_missing`` indicator, categories as
their polars text (``"__null__"`` for null), ``hour_of_day`` and ``day_of_week`` from the time
column. Specs with a ``features.function`` (derived columns, arbitrary polars) are not covered:
:func:`supports` says so and the caller builds those with ``build_features``. The rolling rates
are looked up by the caller (they depend on the published history).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from mlops_assets.core.fast_scoring import FeatureColumns
from mlops_assets.core.features import NULL_CATEGORY, _nullable_numeric
from mlops_assets.core.spec import TIME_FEATURES, DatasetSpec

_NUMERIC = ("Float", "Int", "UInt", "Boolean")


def supports(spec: DatasetSpec) -> bool:
    """Whether :func:`row_features` computes this spec's features (else use build_features)."""
    if spec.features.function or spec.features.derived:
        return False
    if spec.time_column is not None and spec.column(spec.time_column).dtype != "Datetime":
        return False
    numeric = [n for n in spec.features.numeric if n not in TIME_FEATURES]
    return (all(spec.column(n).dtype.startswith(_NUMERIC) for n in numeric)
            and all(spec.column(c).dtype == "String" or spec.column(c).dtype.startswith(
                ("Int", "UInt", "Boolean")) for c in [*spec.features.categorical,
                                                      *(r.by for r in spec.features
                                                        .rolling_target_rates)]))


def category_text(values: list[Any]) -> list[str]:
    """``cast(String).fill_null("__null__")`` of String, integer or Boolean values."""
    return [NULL_CATEGORY if v is None else ("true" if v else "false") if type(v) is bool
            else v if type(v) is str else str(v) for v in values]


def _float32(values: list[Any], dtype: str) -> np.ndarray:
    """``cast(Float32)`` with nulls as NaN: integers are rounded to float32 directly (not via
    float64, which could round twice)."""
    if None in values:  # (an integer above 2**53 next to a null may round twice: not in a spec)
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float32)
    if dtype.startswith(("Int", "UInt")):
        return np.array(values, dtype=np.int64 if dtype.startswith("Int") else np.uint64
                        ).astype(np.float32)
    return np.array(values, dtype=np.float64).astype(np.float32)


def row_features(columns: dict[str, list[Any]], height: int, spec: DatasetSpec,
                 rates: dict[str, np.ndarray] | None = None) -> FeatureColumns:
    """The feature columns of ``height`` rows given as typed values per raw column (datetimes
    for the time column), in the rows' order; ``rates`` holds the rolling-rate columns."""
    nullable = set(_nullable_numeric(spec))
    numeric: dict[str, np.ndarray] = {}
    tc = spec.time_column
    times: list[datetime] = columns[tc] if tc is not None else []
    for name in spec.features.numeric:
        if name == "hour_of_day" and tc is not None:
            numeric[name] = np.array([t.hour for t in times], dtype=np.float32)
            continue
        if name == "day_of_week" and tc is not None:
            numeric[name] = np.array([t.isoweekday() for t in times], dtype=np.float32)
            continue
        x = _float32(columns[name], spec.column(name).dtype)
        missing = np.isnan(x)
        numeric[name] = np.where(missing, np.float32(0.0), x)
        if name in nullable:
            numeric[f"{name}_missing"] = missing.astype(np.float32)
    numeric.update(rates or {})
    categorical = {c: category_text(columns[c]) for c in spec.features.categorical}
    return FeatureColumns(height, numeric, categorical)
