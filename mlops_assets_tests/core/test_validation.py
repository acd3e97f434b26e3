import json
from datetime import datetime

import polars as pl
import pytest

from mlops_assets.core.spec import parse_spec
from mlops_assets.core.validation import RULES, validate_batch

SPEC = parse_spec({
    "name": "flights_mini",
    "sources": [{"name": "s", "path": "unused.csv"}],
    "time_column": "ts",
    "batch": {"frequency": "1d", "start": "2013-01-01", "end": "2013-01-31"},
    "target": {"column": "arr_delay", "expression": "arr_delay > 15", "task": "binary"},
    "keys": ["carrier", "flight", "ts"],
    "columns": [
        {"name": "ts", "kind": "timestamp", "dtype": "Datetime", "nullable": False},
        {"name": "carrier", "kind": "categorical", "dtype": "String", "nullable": False},
        {"name": "flight", "kind": "categorical", "dtype": "Int64", "nullable": False},
        {"name": "dep_delay", "kind": "numeric", "dtype": "Float64", "min": -100, "max": 2000},
        {"name": "arr_delay", "kind": "numeric", "dtype": "Float64", "nullable": False},
    ],
    "features": {"numeric": ["dep_delay"], "categorical": ["carrier"]},
    "row_count": {"min": 2, "max": 10},
})
KEY = "2013-01-05"


def good() -> pl.DataFrame:
    return pl.DataFrame({
        "ts": [datetime(2013, 1, 5, h) for h in (6, 7, 8, 9)],
        "carrier": ["UA", "AA", "UA", "DL"],
        "flight": [1, 2, 3, 4],
        "dep_delay": [0.0, 5.0, None, -3.0],
        "arr_delay": [1.0, 20.0, 3.0, -5.0],
    })


def failed(report) -> dict[tuple[str, str | None], object]:
    return {(r.rule, r.column): r for r in report.rules if not r.passed}


def test_clean_batch_passes_every_rule() -> None:
    report = validate_batch(good(), SPEC, KEY)
    assert report.passed
    assert {r.rule for r in report.rules} == set(RULES)
    assert report.summary().startswith("flights_mini batch 2013-01-05: PASSED - 4 rows")
    assert report.to_dict()["passed"] is True


def test_range_message_names_column_count_and_values() -> None:
    df = good().with_columns(pl.Series("dep_delay", [99999.0, 5.0, -500.0, 99999.0]))
    report = validate_batch(df, SPEC, KEY)
    assert not report.passed
    rule = failed(report)[("range", "dep_delay")]
    assert rule.failing_rows == 3
    assert rule.message == (
        "range: batch 2013-01-05, column dep_delay: 3 of 4 rows outside [-100, 2000] "
        "(row 1: 99999.0, row 3: -500.0, row 4: 99999.0)"
    )
    assert rule.examples == [{"row": 1, "dep_delay": 99999.0}, {"row": 3, "dep_delay": -500.0},
                             {"row": 4, "dep_delay": 99999.0}]
    assert "FAIL range: batch 2013-01-05, column dep_delay" in report.summary()


def test_nulls_duplicates_and_window() -> None:
    df = good().with_columns(
        pl.Series("arr_delay", [None, 1.0, None, 2.0]),
        pl.Series("flight", [1, 1, 3, 4]),
        pl.Series("carrier", ["UA", "UA", "UA", "DL"]),
        pl.Series("ts", [datetime(2013, 1, 5, 6), datetime(2013, 1, 5, 6),
                         datetime(2013, 1, 6, 0), datetime(2013, 1, 4, 23, 59)]),
    )
    fails = failed(validate_batch(df, SPEC, KEY))
    assert set(fails) == {("not_null", "arr_delay"), ("unique_keys", None), ("in_window", "ts")}
    assert fails[("not_null", "arr_delay")].failing_rows == 2
    dup = fails[("unique_keys", None)]
    assert dup.failing_rows == 2
    assert dup.examples == [
        {"carrier": "UA", "flight": 1, "ts": datetime(2013, 1, 5, 6), "rows": [1, 2]}
    ]
    assert "rows 1, 2: carrier='UA', flight=1" in dup.message
    assert "rows are null (rows 1, 3)" in fails[("not_null", "arr_delay")].message
    window = fails[("in_window", "ts")]
    assert window.failing_rows == 2  # the end of the window is excluded
    assert "[2013-01-05 00:00:00, 2013-01-06 00:00:00)" in window.message
    as_json = json.loads(json.dumps(validate_batch(df, SPEC, KEY).to_dict()))
    assert as_json["passed"] is False
    dup_json = next(r for r in as_json["rules"] if r["rule"] == "unique_keys")
    assert dup_json["examples"] == [
        {"carrier": "UA", "flight": 1, "ts": "2013-01-05 06:00:00", "rows": [1, 2]}
    ]


def test_missing_column_fails_only_schema() -> None:
    report = validate_batch(good().drop("dep_delay", "arr_delay"), SPEC, KEY)
    assert set(failed(report)) == {("schema", "dep_delay"), ("schema", "arr_delay")}
    skipped = {(r.rule, r.column) for r in report.rules if r.skipped}
    assert skipped == {("range", "dep_delay"), ("not_null", "arr_delay")}
    assert "schema: batch 2013-01-05, column arr_delay is missing (expected Float64)" in (
        report.summary()
    )


def test_dtypes_castable_or_not() -> None:
    # Int64 delays widen to Float64: fine. Text in a number column: a schema failure.
    castable = good().with_columns(pl.Series("arr_delay", [1, 20, 3, -5]))
    report = validate_batch(castable, SPEC, KEY)
    assert report.passed
    assert any("cast exactly from Int64" in r.message for r in report.rules)
    text = good().with_columns(pl.Series("dep_delay", ["0", "late", None, "1"]))
    report = validate_batch(text, SPEC, KEY)
    assert set(failed(report)) == {("schema", "dep_delay")}
    msg = failed(report)[("schema", "dep_delay")].message
    # The real offender (row 2), not the first (valid) values.
    assert msg == ("schema: batch 2013-01-05, column dep_delay: 1 of 4 rows can't be cast exactly "
                   "from String to Float64: not a number that fits Float64 (row 2: 'late')")
    assert failed(report)[("schema", "dep_delay")].failing_rows == 1
    # Keys made of a Datetime with another unit stay usable.
    ns = good().with_columns(pl.col("ts").cast(pl.Datetime("ns")))
    assert validate_batch(ns, SPEC, KEY).passed


def test_empty_and_row_count() -> None:
    report = validate_batch(good().head(0), SPEC, KEY)
    assert set(failed(report)) == {("non_empty", None), ("row_count", None)}
    assert "row_count: batch 2013-01-05: 0 rows outside [2, 10]" in report.summary()
    big = pl.concat([good().with_columns(pl.col("flight") + 10 * i) for i in range(3)])
    fails = failed(validate_batch(big, SPEC, KEY))
    assert set(fails) == {("row_count", None)}


def test_bad_partition_key_raises() -> None:
    with pytest.raises(ValueError, match="not a partition key"):
        validate_batch(good(), SPEC, "2014-01-01")
