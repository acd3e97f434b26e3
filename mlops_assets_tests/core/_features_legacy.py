"""Frozen copy of build_features before the issue-16 sort removal (commit a73280a): it always
sorts the raw rows globally first. The parity tests compare the current code with it; do not
edit."""

from __future__ import annotations

import polars as pl

from mlops_assets.core.features import (
    _DAY,
    NULL_CATEGORY,
    TARGET,
    _nullable_numeric,
    feature_columns,
    order_column,
    target_expr,
)
from mlops_assets.core.spec import ROW_INDEX, DatasetSpec, SpecError

# A rolling-rate lookup key packs (group code, day) into one UInt64: joining and grouping on one
# integer is several times faster than on (String, Date) at 10M rows.
_KEY_SHIFT = 1 << 32
_DAY_OFFSET = 1 << 31  # days since 1970 as Int32, shifted to be non-negative


def _day_number(day: pl.Expr) -> pl.Expr:
    return (day.cast(pl.Int32).cast(pl.Int64) + _DAY_OFFSET).cast(pl.UInt64)


def _rate_key(by: str, categories: pl.Categorical) -> pl.Expr:
    """(group, day) as one UInt64: the group's code in a per-call categorical mapping (so null
    and "__null__" are one group, as in the String form) and the day number."""
    code = pl.col(by).cast(pl.String).fill_null(NULL_CATEGORY).cast(categories).to_physical()
    return (code.cast(pl.UInt64) * _KEY_SHIFT + _day_number(pl.col(_DAY))).alias(f"__key_{by}")


def _rate_table(narrow: pl.LazyFrame, key: str, window_days: int, rate_column: str,
                count_column: str) -> pl.LazyFrame:
    """One row per (group, day) present in narrow (columns key, TARGET): the rate and count
    columns for the window [day - w, day), with the all-group fallback and 0.0 on an empty
    window. Everything after the daily group-by works on the small daily table."""
    y = pl.col(TARGET).cast(pl.Float64)
    daily = narrow.group_by(key).agg(pos=y.sum(), n=y.count()).with_columns(
        (pl.col(key) // _KEY_SHIFT).alias("__group"),
        ((pl.col(key) % _KEY_SHIFT).cast(pl.Int64) - _DAY_OFFSET).cast(pl.Int32).cast(pl.Date)
        .alias(_DAY),
    )
    period = f"{window_days}d"
    # closed="left" on a Date index gives the window [day - w, day): point-in-time correct.
    group = (
        daily.sort("__group", _DAY)
        .rolling(index_column=_DAY, period=period, closed="left", group_by="__group")
        .agg(pos=pl.col("pos").sum(), n=pl.col("n").sum())
        .with_columns((pl.col("__group") * _KEY_SHIFT + _day_number(pl.col(_DAY))).alias(key))
    )
    overall = (
        daily.group_by(_DAY).agg(pl.col("pos").sum(), pl.col("n").sum())
        .sort(_DAY)
        .rolling(index_column=_DAY, period=period, closed="left")
        .agg(all_pos=pl.col("pos").sum(), all_n=pl.col("n").sum())
    )
    n = pl.col("n").fill_null(0)
    return group.join(overall, on=_DAY, how="left").select(
        key,
        pl.when(n > 0).then(pl.col("pos") / n)
        .when(pl.col("all_n") > 0).then(pl.col("all_pos") / pl.col("all_n"))
        .otherwise(0.0)
        .cast(pl.Float32)
        .alias(rate_column),
        n.cast(pl.Float32).alias(count_column),
    )


def legacy_build_features(history: pl.LazyFrame, spec: DatasetSpec) -> pl.LazyFrame:
    """The model table from raw rows (one or many batches); see the module doc for the rules.

    Plan shape (check with ``.explain()``): the raw rows are sorted once, up front, and every
    later step keeps that order; the rolling rates are computed from one cached narrow frame (rate
    keys + target) into small per-(group, day) tables, looked up by order-keeping left joins on
    the narrow key columns only, and put next to the wide columns with a horizontal concat. No
    rate depends on another rate's join and the wide frame is never joined."""
    tc = spec.time_column
    # Sorted for determinism: the same rows give the same table whatever their input order.
    # Sorting the raw rows first (not the wide table last) moves the fewest bytes; every later
    # step is per row or keeps the order, and features.function sees the rows in this order.
    if tc is None and ROW_INDEX not in history.collect_schema():
        raise SpecError(
            f"{spec.name}: raw rows lack the row index {ROW_INDEX!r} that ingestion adds to "
            "row batches (extract_batch, read_batch_file with the partition key): re-ingest them"
        )
    order = [tc, *[k for k in spec.keys if k != tc]] if tc else [ROW_INDEX]
    lf = history.sort(order, nulls_last=True)
    if spec.features.function:
        from mlops_assets.core.sources import resolve_callable  # sources imports numpy; lazily

        lf = resolve_callable(spec.features.function)(lf, spec)
        if not isinstance(lf, pl.LazyFrame):
            raise SpecError(f"features.function {spec.features.function!r} must return LazyFrame")

    exprs: list[pl.Expr] = [target_expr(spec)]
    if tc is not None:
        ts = pl.col(tc)
        exprs += [
            ts.dt.hour().cast(pl.Float32).alias("hour_of_day"),
            ts.dt.weekday().cast(pl.Float32).alias("day_of_week"),
            ts.dt.date().alias(_DAY),
        ]
    main = lf.with_columns(exprs)

    rates = spec.features.rolling_target_rates
    per_row: pl.LazyFrame | None = None
    if rates:
        categories = pl.Categorical(pl.Categories.random())  # freed with the query's data
        keys = [_rate_key(by, categories) for by in dict.fromkeys(r.by for r in rates)]
        main = main.with_columns(keys).cache()
        narrow = main.select(*[k.meta.output_name() for k in keys], TARGET).cache()
        per_row = main.select(k.meta.output_name() for k in keys)
        for r in rates:
            key = f"__key_{r.by}"
            table = _rate_table(narrow, key, r.window_days, r.rate_column, r.count_column)
            per_row = per_row.join(table, on=key, how="left", maintain_order="left")
        per_row = per_row.select(c for r in rates for c in (r.rate_column, r.count_column))

    nullable = set(_nullable_numeric(spec))
    numeric: list[pl.Expr] = []
    for name in spec.features.numeric:
        c = pl.col(name).cast(pl.Float32)
        numeric.append(c.fill_null(0.0).fill_nan(0.0).alias(name))
        if name in nullable:
            numeric.append((c.is_null() | c.is_nan()).cast(pl.Float32).alias(f"{name}_missing"))
    categorical = [
        pl.col(n).cast(pl.String).fill_null(NULL_CATEGORY).alias(n)
        for n in spec.features.categorical
    ]

    num_cols, cat_cols = feature_columns(spec)
    lead = list(dict.fromkeys([*spec.keys, order_column(spec)]))
    lead = [c for c in lead if c not in cat_cols]  # a key that is a feature appears once, last
    body = main.select(*lead, TARGET, *numeric, *categorical)
    if per_row is not None:
        body = pl.concat([body, per_row], how="horizontal")
    return body.select(*lead, TARGET, *num_cols, *cat_cols)
