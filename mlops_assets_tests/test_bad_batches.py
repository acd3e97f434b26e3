"""Malformed batches are rejected with a message naming the rule and the place; main is
unchanged (same commit, so byte-identical), and a rerun after fixing the file succeeds."""

from datetime import timedelta

import polars as pl
import pytest

from mlops_assets.core.sources import extract_batch
from mlops_assets.core.spec import load_spec
from mlops_assets.platform import layout
from mlops_assets.testing import failure_messages, pipeline_definitions, run_job

pytestmark = pytest.mark.lakefs

DS, KEY = "synthetic", "2024-01-05"


def _good() -> pl.DataFrame:
    return extract_batch(load_spec(DS), KEY)


def _write(frame: pl.DataFrame, path) -> None:
    frame.write_parquet(path)


BAD_BATCHES = {
    "missing_column": (lambda p: _write(_good().drop("x2"), p), "schema", "x2"),
    "wrong_type": (
        lambda p: _write(_good().with_columns(pl.lit("abc").alias("x1")), p),
        "schema",
        "x1",
    ),
    "nulls_where_forbidden": (
        lambda p: _write(
            _good().with_columns(
                pl.when(pl.int_range(pl.len()) < 3)
                .then(None)
                .otherwise(pl.col("segment"))
                .alias("segment")
            ),
            p,
        ),
        "not_null",
        "segment",
    ),
    "out_of_range": (
        lambda p: _write(
            _good().with_columns(
                pl.when(pl.int_range(pl.len()) == 0).then(99.0).otherwise(pl.col("x3")).alias("x3")
            ),
            p,
        ),
        "range",
        "x3",
    ),
    "duplicate_keys": (
        lambda p: _write(pl.concat([_good(), _good().head(2)]), p),
        "unique_keys",
        "event_id",
    ),
    "empty_file": (lambda p: p.write_bytes(b""), "empty file", str(KEY)),
    "truncated_file": (
        lambda p: (_write(_good(), p), p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
        "truncated",
        str(KEY),
    ),
    "timestamp_outside_window": (
        lambda p: _write(
            _good().with_columns(
                pl.when(pl.int_range(pl.len()) == 0)
                .then(pl.col("event_ts") + timedelta(days=2))
                .otherwise(pl.col("event_ts"))
                .alias("event_ts")
            ),
            p,
        ),
        "in_window",
        "event_ts",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
def test_bad_batch_is_quarantined_and_a_fixed_rerun_succeeds(case, lakefs, tmp_path):
    make_bad, rule, place = BAD_BATCHES[case]
    landing = tmp_path / "landing"
    (landing / DS).mkdir(parents=True)
    defs = pipeline_definitions(lakefs, landing)
    assert run_job(defs, "ingest_job", "2024-01-04").success  # main already has a batch
    main_before = lakefs.resolve("main")

    batch_file = landing / DS / f"{KEY}.parquet"
    make_bad(batch_file)
    result = run_job(defs, "ingest_job", KEY)

    assert not result.success
    message = failure_messages(result)
    assert rule in message and place in message, message
    assert lakefs.resolve("main") == main_before  # main is byte-identical: same commit
    assert not lakefs.exists("main", layout.raw_batch(DS, KEY))
    assert not lakefs.has_uncommitted_changes("main")

    _write(_good(), batch_file)  # the fixed file
    assert run_job(defs, "ingest_job", KEY).success
    assert lakefs.get_frame("main", layout.raw_batch(DS, KEY)).equals(_good())
