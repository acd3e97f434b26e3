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

A row-batched dataset (no time column) is ordered by ROW_INDEX, the file-order row index that
ingestion adds: never by keys or the target, whose order can put one class in the validation
split. ROW_INDEX is kept in the table, where it ties each row to its batch (``rows_of_batch``).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import polars as pl

from mlops_assets.core.spec import ROW_INDEX, DatasetSpec, SpecError

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


def order_column(spec: DatasetSpec) -> str:
    """The column that orders rows in time (for the validation split): the time column, or the
    file-order row index of a row-batched dataset."""
    return spec.time_column or ROW_INDEX


def rows_of_batch(table: pl.DataFrame, spec: DatasetSpec, key: str) -> pl.DataFrame:
    """The rows of ``table`` (raw rows or the model table) that belong to batch ``key``: its time
    window, or its block [offset, offset + rows) of the row index."""
    if spec.time_column is None:
        offset, length = spec.batch_rows(key)
        return table.filter(pl.col(ROW_INDEX).is_between(offset, offset + length, closed="left"))
    start, end = spec.batch_window(key)
    t = pl.col(spec.time_column)
    return table.filter((t >= start) & (t < end))


def target_expr(spec: DatasetSpec) -> pl.Expr:
    """The target as the model sees it: Int8 0/1 for binary, Float32 for regression."""
    dtype = pl.Int8 if spec.target.task == "binary" else pl.Float32
    return spec.target.expr().cast(dtype).alias(TARGET)


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


def _le_next(order: list[str]) -> pl.Expr:
    """Per adjacent row pair: row i <= row i + 1 in the lexicographic order of ``order``, nulls
    last (the order of ``sort(order, nulls_last=True)``)."""
    ok: pl.Expr | None = None
    for name in reversed(order):
        a, b = pl.col(name).slice(0, pl.len() - 1), pl.col(name).slice(1)
        lt = (a < b).fill_null(False) | (a.is_not_null() & b.is_null())
        ok = lt | a.eq_missing(b) if ok is None else lt | (a.eq_missing(b) & ok)
    assert ok is not None
    return ok


def is_ordered(frame: pl.LazyFrame, order: list[str]) -> bool:
    """Whether ``frame`` is already sorted by ``order`` (nulls last): one pass over those columns
    (runs the frame's plan for them; cheap on an in-memory frame or a parquet scan)."""
    return bool(frame.select(_le_next(order).all()).collect().item())


def build_features(history: pl.LazyFrame, spec: DatasetSpec) -> pl.LazyFrame:
    """The model table from raw rows (one or many batches); see the module doc for the rules.

    Plan shape (check with ``.explain()``): the raw rows are put in (time, keys) order up front,
    by a global sort only when a one-pass check of the order columns finds them out of order
    (batches arrive time-ordered; ``is_ordered`` collects that check eagerly), and every later
    step keeps that order; the rolling rates are computed from one cached narrow frame (rate
    keys + target) into small per-(group, day) tables, looked up by order-keeping left joins on
    the narrow key columns only, and put next to the wide columns with a horizontal concat. No
    rate depends on another rate's join and the wide frame is never joined."""
    tc = spec.time_column
    if tc is None and ROW_INDEX not in history.collect_schema():
        raise SpecError(
            f"{spec.name}: raw rows lack the row index {ROW_INDEX!r} that ingestion adds to "
            "row batches (extract_batch, read_batch_file with the partition key): re-ingest them"
        )
    order = [tc, *[k for k in spec.keys if k != tc]] if tc else [ROW_INDEX]
    # Ordered for determinism: the same rows give the same table whatever their input order.
    # Raw rows arrive as time-ordered batches, so the order is usually there already: a cheap
    # check on the order columns then skips the global sort, which would hold every row
    # (the streaming engine cannot emit a sorted row before it has seen them all).
    lf = history if is_ordered(history, order) else history.sort(order, nulls_last=True)
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
