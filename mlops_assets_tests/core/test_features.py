import re
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from mlops_assets.core.features import (
    TARGET,
    build_features,
    feature_code_version,
    feature_columns,
)
from mlops_assets.core.sources import extract_batch, synthetic_stream
from mlops_assets.core.spec import load_spec, parse_spec

SPEC = parse_spec({
    "name": "mini",
    "sources": [{"name": "s", "path": "unused.csv"}],
    "time_column": "ts",
    "batch": {"frequency": "1d", "start": "2024-01-01", "end": "2024-01-31"},
    "target": {"column": "delay", "expression": "delay > 15", "task": "binary"},
    "keys": ["id"],
    "columns": [
        {"name": "id", "kind": "categorical", "dtype": "Int64", "nullable": False},
        {"name": "ts", "kind": "timestamp", "dtype": "Datetime", "nullable": False},
        {"name": "carrier", "kind": "categorical", "dtype": "String", "nullable": True},
        {"name": "x", "kind": "numeric", "dtype": "Float64", "nullable": True},
        {"name": "dist", "kind": "numeric", "dtype": "Float64", "nullable": False},
        {"name": "delay", "kind": "numeric", "dtype": "Float64", "nullable": False},
    ],
    "features": {
        "numeric": ["x", "dist", "hour_of_day", "day_of_week"],
        "categorical": ["carrier"],
        "rolling_target_rates": [{"by": "carrier", "window_days": 7}],
    },
})
START = datetime(2024, 1, 1)


def history(days: int = 20, per_day: int = 12) -> pl.DataFrame:
    """Deterministic rows: carriers cycle A, B, C; the delay pattern varies by day and row."""
    rows = []
    for d in range(days):
        for i in range(per_day):
            n = d * per_day + i
            rows.append({
                "id": n,
                "ts": START + timedelta(days=d, hours=6 + i),
                "carrier": "ABC"[i % 3],
                "x": None if n % 7 == 0 else float(n % 5),
                "dist": 100.0 + n,
                "delay": float((n * 37 + d * 11) % 40),  # > 15 for some rows of each day
            })
    return pl.DataFrame(rows)


# Day number of a row since START.
day_number = (pl.col("ts").dt.date() - pl.lit(START.date())).dt.total_days()


def test_model_table_shape_and_types() -> None:
    raw = history()
    table = build_features(raw.lazy(), SPEC).collect()
    numeric, categorical = feature_columns(SPEC)
    assert numeric == ["x", "dist", "hour_of_day", "day_of_week", "x_missing",
                       "carrier_target_rate_7d", "carrier_count_7d"]
    assert categorical == ["carrier"]
    assert table.columns == ["id", "ts", TARGET, *numeric, *categorical]
    assert table.height == raw.height
    assert all(table.schema[c] == pl.Float32 for c in numeric)
    assert table.schema[TARGET] == pl.Int8 and table.schema["carrier"] == pl.String
    assert table[TARGET].to_list() == (raw["delay"] > 15).cast(pl.Int8).to_list()
    # Nulls: numeric 0.0 plus an indicator; categorical "__null__".
    assert table.filter(pl.col("x_missing") == 1)["x"].to_list() == [0.0] * raw["x"].null_count()
    assert table["x_missing"].sum() == raw["x"].null_count() > 0
    assert "x_missing" in numeric and "dist_missing" not in numeric  # dist is not nullable
    first = table.row(0, named=True)
    assert first["hour_of_day"] == 6.0 and first["day_of_week"] == 1.0  # 2024-01-01 is a Monday
    with_null = build_features(raw.with_columns(carrier=pl.lit(None, pl.String)).lazy(), SPEC)
    assert with_null.collect()["carrier"].unique().to_list() == ["__null__"]


def test_rates_match_hand_computation() -> None:
    raw = history()
    table = build_features(raw.lazy(), SPEC).collect()
    day = 10
    d0 = START.date() + timedelta(days=day)
    window = raw.filter(day_number.is_between(day - 7, day - 1))
    for carrier in "ABC":
        past = window.filter(pl.col("carrier") == carrier)
        expected = (past["delay"] > 15).mean()
        rows = table.filter((pl.col("ts").dt.date() == d0) & (pl.col("carrier") == carrier))
        assert rows.height == 4
        assert rows["carrier_target_rate_7d"].to_list() == pytest.approx([expected] * 4)
        assert rows["carrier_count_7d"].to_list() == [past.height] * 4 == [28] * 4


def test_point_in_time_correct() -> None:
    """Changing targets (or anything) of day D or later changes no feature of day-D rows."""
    raw = history()
    day = 9
    base = build_features(raw.lazy(), SPEC).collect()
    flipped = raw.with_columns(
        pl.when(day_number >= day).then(40.0 - pl.col("delay")).otherwise("delay").alias("delay")
    )
    changed = build_features(flipped.lazy(), SPEC).collect()
    numeric, categorical = feature_columns(SPEC)
    on_day = pl.col("ts").dt.date() == START.date() + timedelta(days=day)
    assert not base[TARGET].equals(changed[TARGET])  # the change is real
    assert base.filter(on_day).select(numeric + categorical).equals(
        changed.filter(on_day).select(numeric + categorical)
    )
    # And rows of later days do not even need to exist.
    truncated = build_features(raw.filter(day_number <= day).lazy(), SPEC).collect()
    assert base.filter(on_day).equals(truncated.filter(on_day))


def test_no_history_fallbacks() -> None:
    raw = history(days=3)
    # Carrier D appears only on day 2: it has no history, so it gets the all-carrier rate.
    raw = raw.with_columns(
        pl.when((day_number == 2) & (pl.col("id") % 12 == 0)).then(pl.lit("D"))
        .otherwise("carrier").alias("carrier")
    )
    table = build_features(raw.lazy(), SPEC).collect()
    first_day = table.filter(pl.col("ts").dt.date() == date(2024, 1, 1))
    assert first_day["carrier_target_rate_7d"].to_list() == [0.0] * 12
    assert first_day["carrier_count_7d"].to_list() == [0.0] * 12
    new = table.filter(pl.col("carrier") == "D")
    prior = (raw.filter(day_number < 2)["delay"] > 15).mean()
    assert new["carrier_target_rate_7d"].to_list() == pytest.approx([prior])
    assert new["carrier_count_7d"].to_list() == [0.0]


def test_deterministic_whatever_the_input_order() -> None:
    raw = history()
    a = build_features(raw.lazy(), SPEC).collect()
    b = build_features(raw.sample(fraction=1.0, shuffle=True, seed=4).lazy(), SPEC).collect()
    assert a.equals(b)


def test_feature_code_version() -> None:
    v = feature_code_version()
    assert re.fullmatch(r"[0-9a-f]{12}", v) and v == feature_code_version()
    flights = load_spec("nycflights13")
    assert feature_code_version(flights) != v
    assert feature_code_version(flights) != feature_code_version(load_spec("synthetic"))


def test_synthetic_and_nycflights13_tables() -> None:
    synth = load_spec("synthetic")
    raw = synthetic_stream(n_batches=3, rows_per_batch=20, drift_at=2, seed=7)
    table = build_features(raw.lazy(), synth).collect()
    assert table.schema[TARGET] == pl.Int8 and table.height == 60
    flights = load_spec("nycflights13")
    days = pl.concat([extract_batch(flights, k) for k in ("2013-02-01", "2013-02-02")])
    table = build_features(days.lazy(), flights).collect()
    numeric, categorical = feature_columns(flights)
    assert table.height == days.height
    assert table.select(numeric).null_count().sum_horizontal().item() == 0
    assert set(table["distance_band"].unique()) <= {"short", "medium", "long", "very_long"}
    assert table.filter(pl.col("plane_age_missing") == 0)["plane_age"].min() >= 0
    assert set(categorical) <= set(table.columns)
