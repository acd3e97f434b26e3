"""From validated raw rows to the model table, lazily and deterministically.

The model table has, in this order: the keys, the time column, ``target``, the numeric features
(Float32), then the categorical features (String). Rules, all decided per row so that a row's
features never depend on which other rows happen to be in the frame (except the rolling rates,
which look only at earlier days):

* numeric nulls become 0.0, and each feature that can be null (a nullable raw column or a derived
  column) gets a ``<col>_missing`` Int8 indicator, so the model can tell 0.0 from unknown;
* categorical nulls become ``"__null__"``;
* ``hour_of_day`` (0-23) and ``day_of_week`` (1 = Monday .. 7) come from the time column;
* rolling target rates, for each ``{by, window_days: w}``: ``<by>_target_rate_<w>d`` is the mean
  target over rows with the same ``by`` value in the w days strictly before the row's day (days
  D-w .. D-1; nothing of day D or later), and ``<by>_count_<w>d`` is how many labelled rows that
  mean is over. When the group has no labelled row in the window the rate falls back to the mean
  over all groups in the same window, and to 0.0 when the window is empty (the first day);
* rows with a null target are kept (target null) so that unlabelled rows can be scored;
  trainers drop them.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import polars as pl

from mlops_assets.core.spec import DatasetSpec, SpecError

TARGET = "target"
NULL_CATEGORY = "__null__"
_DAY = "__day"


def _nullable_numeric(spec: DatasetSpec) -> list[str]:
    derived = set(spec.features.derived)
    return [
        n for n in spec.features.numeric
        if n in derived or (n in spec.column_map and spec.column(n).nullable)
    ]


def feature_columns(spec: DatasetSpec) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns of the model table built by build_features."""
    numeric = list(spec.features.numeric)
    numeric += [f"{n}_missing" for n in _nullable_numeric(spec)]
    for r in spec.features.rolling_target_rates:
        numeric += [r.rate_column, r.count_column]
    return numeric, list(spec.features.categorical)


def target_expr(spec: DatasetSpec) -> pl.Expr:
    """The target as the model sees it: Int8 0/1 for binary, Float32 for regression."""
    dtype = pl.Int8 if spec.target.task == "binary" else pl.Float32
    return spec.target.expr().cast(dtype).alias(TARGET)


def _rolling_rates(lf: pl.LazyFrame, by: str, window_days: int) -> pl.LazyFrame:
    """Per (by value, day): sum and count of labelled rows in [day - w, day), plus the all-group
    mean over the same window. Input lf has columns by (String), _DAY (Date), TARGET."""
    y = pl.col(TARGET).cast(pl.Float64)
    daily = lf.group_by(by, _DAY).agg(pos=y.sum(), n=y.count())
    period = f"{window_days}d"
    # closed="left" on a Date index gives the window [day - w, day): point-in-time correct.
    group = (
        daily.sort(by, _DAY)
        .rolling(index_column=_DAY, period=period, closed="left", group_by=by)
        .agg(pos=pl.col("pos").sum(), n=pl.col("n").sum())
    )
    overall = (
        daily.group_by(_DAY).agg(pl.col("pos").sum(), pl.col("n").sum())
        .sort(_DAY)
        .rolling(index_column=_DAY, period=period, closed="left")
        .agg(all_pos=pl.col("pos").sum(), all_n=pl.col("n").sum())
    )
    return group.join(overall, on=_DAY, how="left")


def build_features(history: pl.LazyFrame, spec: DatasetSpec) -> pl.LazyFrame:
    """The model table from raw rows (one or many batches); see the module doc for the rules."""
    lf = history
    if spec.features.function:
        from mlops_assets.core.sources import resolve_callable  # sources imports numpy; lazily

        lf = resolve_callable(spec.features.function)(lf, spec)
        if not isinstance(lf, pl.LazyFrame):
            raise SpecError(f"features.function {spec.features.function!r} must return LazyFrame")

    tc = spec.time_column
    exprs: list[pl.Expr] = [target_expr(spec)]
    if tc is not None:
        ts = pl.col(tc)
        exprs += [
            ts.dt.hour().cast(pl.Float32).alias("hour_of_day"),
            ts.dt.weekday().cast(pl.Float32).alias("day_of_week"),
            ts.dt.date().alias(_DAY),
        ]
    lf = lf.with_columns(exprs)

    rate_cols: list[str] = []
    for r in spec.features.rolling_target_rates:
        by_key = f"__by_{r.by}"
        keyed = lf.with_columns(pl.col(r.by).cast(pl.String).fill_null(NULL_CATEGORY).alias(by_key))
        rates = _rolling_rates(keyed.select(by_key, _DAY, TARGET), by_key, r.window_days)
        n = pl.col("n").fill_null(0)
        lf = keyed.join(rates, on=[by_key, _DAY], how="left").with_columns(
            pl.when(n > 0).then(pl.col("pos") / n)
            .when(pl.col("all_n") > 0).then(pl.col("all_pos") / pl.col("all_n"))
            .otherwise(0.0)
            .cast(pl.Float32)
            .alias(r.rate_column),
            n.cast(pl.Float32).alias(r.count_column),
        ).drop(by_key, "pos", "n", "all_pos", "all_n")
        rate_cols += [r.rate_column, r.count_column]

    nullable = set(_nullable_numeric(spec))
    numeric: list[pl.Expr] = []
    for name in spec.features.numeric:
        c = pl.col(name).cast(pl.Float32)
        numeric.append(c.fill_null(0.0).fill_nan(0.0).alias(name))
        if name in nullable:
            numeric.append((c.is_null() | c.is_nan()).cast(pl.Int8).alias(f"{name}_missing"))
    categorical = [
        pl.col(n).cast(pl.String).fill_null(NULL_CATEGORY).alias(n)
        for n in spec.features.categorical
    ]

    num_cols, cat_cols = feature_columns(spec)
    lead = list(dict.fromkeys([*spec.keys, *([tc] if tc else [])]))
    lead = [c for c in lead if c not in cat_cols]  # a key that is a feature appears once, last
    out = lf.with_columns(numeric + categorical).select(
        *lead, TARGET, *[pl.col(c).cast(pl.Float32) for c in num_cols], *cat_cols
    )
    # Sorted for determinism: the same rows give the same table whatever their input order.
    order = ([tc] if tc else []) + [k for k in spec.keys if k != tc]
    return out.sort(order, nulls_last=True)


def _module_source(ref: str) -> bytes:
    module_name = ref.partition(":")[0]
    found = importlib.util.find_spec(module_name)
    if found is None or found.origin is None:
        raise SpecError(f"cannot locate module {module_name!r}")
    return Path(found.origin).read_bytes()


def feature_code_version(spec: DatasetSpec | None = None) -> str:
    """Short hash of the code that builds features: this module's source, and with a spec also
    its prepare / features.function modules and its target + features settings. A model record
    stores it so the exact feature code of a model can be named and compared."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    if spec is not None:
        for ref in sorted({r for r in (spec.prepare, spec.features.function) if r}):
            h.update(ref.encode())
            h.update(_module_source(ref))
        h.update(spec.target.model_dump_json().encode())
        h.update(spec.features.model_dump_json().encode())
    return h.hexdigest()[:12]
