"""A corpus of malformed batch files, each with the rule that must reject it (or "accept").

Reusable: the pure test (core/test_bad_inputs.py) runs each case through read_batch_file +
validate_batch, the functions the raw_batch asset and the batch checks call; a Dagster-level test
can land the same bytes as ``<landing>/<dataset>/<KEY><suffix>`` and assert main is unchanged.

``expected`` is a validation rule, "file" (read_batch_file raises BatchFileError, the asset fails
the run) or "accept"; ``also`` lists other rules the same file must fail; ``place`` is text the
message must contain (the column, the offending value with its row, or the file's problem).
``spec`` is "synthetic" (the bundled dataset) or "typed" (TYPED_SPEC, for Boolean/Date/Float32/
UInt8 columns).
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import polars as pl

from mlops_assets.core.sources import extract_batch
from mlops_assets.core.spec import DatasetSpec, load_spec, parse_spec

KEY = "2024-01-05"


@dataclass(frozen=True)
class BadInput:
    name: str
    suffix: str
    make: Callable[[], bytes]
    expected: str
    place: str = ""
    also: tuple[str, ...] = ()
    spec: str = "synthetic"


TYPED_SPEC_DICT = {
    "name": "typed",
    "sources": [{"name": "s", "path": "unused.csv"}],
    "time_column": "ts",
    "batch": {"frequency": "1d", "start": "2024-01-01", "end": "2024-01-31"},
    "target": {"column": "label", "task": "binary"},
    "keys": ["id"],
    "columns": [
        {"name": "id", "kind": "categorical", "dtype": "Int64", "nullable": False},
        {"name": "ts", "kind": "timestamp", "dtype": "Datetime", "nullable": False},
        {"name": "flag", "kind": "categorical", "dtype": "Boolean"},
        {"name": "day", "kind": "timestamp", "dtype": "Date"},
        {"name": "score", "kind": "numeric", "dtype": "Float32"},
        {"name": "small", "kind": "numeric", "dtype": "UInt8"},
        {"name": "label", "kind": "numeric", "dtype": "Int8", "nullable": False},
    ],
    "features": {"numeric": ["score", "small"], "categorical": ["flag"]},
}


@cache
def spec_for(name: str) -> DatasetSpec:
    return parse_spec(TYPED_SPEC_DICT, "typed") if name == "typed" else load_spec(name)


@cache
def good(spec: str = "synthetic") -> pl.DataFrame:
    if spec == "typed":
        return pl.DataFrame({
            "id": list(range(1, 9)),
            "ts": [datetime(2024, 1, 5, h) for h in range(8)],
            "flag": [True, False] * 4,
            "day": [datetime(2024, 1, 4).date()] * 8,
            "score": pl.Series([0.5, 1.5, -2.0, 3.25] * 2, dtype=pl.Float32),
            "small": pl.Series([0, 1, 2, 255] * 2, dtype=pl.UInt8),
            "label": pl.Series([0, 1] * 4, dtype=pl.Int8),
        })
    return extract_batch(spec_for(spec), KEY)


def csv(df: pl.DataFrame) -> bytes:
    return df.write_csv().encode()


def pq(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


def text(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.all().cast(pl.String))


def put(df: pl.DataFrame, column: str, row: int, value: object) -> pl.DataFrame:
    """``df`` with ``value`` in ``column`` at 0-based ``row`` (the column takes its type)."""
    values = df[column].to_list()
    values[row] = value
    return df.with_columns(pl.Series(column, values, strict=False))


def every(df: pl.DataFrame, column: str, values: list[object]) -> pl.DataFrame:
    return df.with_columns(pl.Series(column, (values * df.height)[: df.height], strict=False))


def lines(data: bytes, edit: Callable[[list[bytes]], list[bytes]]) -> bytes:
    return b"\n".join(edit(data.split(b"\n")))


def _zip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("batch.csv", data)
    return buf.getvalue()


def _many_rows(n_copies: int) -> pl.DataFrame:
    g = good()
    return pl.concat([g.with_columns(pl.col("event_id") + 1_000_000 * i) for i in range(n_copies)])


def _g() -> pl.DataFrame:
    return good()


def _t() -> pl.DataFrame:
    return text(good())


def _typed() -> pl.DataFrame:
    return text(good("typed"))


B = BadInput
CORPUS: list[BadInput] = [
    # --- lossy or impossible casts (csv: every value arrives as text) ---
    B("csv_label_fraction", ".csv", lambda: csv(put(_t(), "label", 2, "0.7")), "schema",
      "row 3: '0.7'"),
    B("csv_label_all_fractions", ".csv", lambda: csv(every(_t(), "label", ["0.7", "0.2"])),
      "schema", "column label: 500 of 500 rows"),
    B("csv_label_exact_float", ".csv",
      lambda: csv(_t().with_columns(pl.col("label") + ".0")), "accept"),
    B("csv_event_id_fraction", ".csv", lambda: csv(put(_t(), "event_id", 0, "3500.7")), "schema",
      "row 1: '3500.7'"),
    B("csv_event_id_exact_float", ".csv",
      lambda: csv(_t().with_columns(pl.col("event_id") + ".0")), "accept"),
    B("csv_x1_text", ".csv", lambda: csv(put(_t(), "x1", 2, "abc")), "schema", "row 3: 'abc'"),
    B("csv_x1_na_text", ".csv", lambda: csv(put(_t(), "x1", 4, "NA")), "schema", "row 5: 'NA'"),
    B("csv_label_300_int8", ".csv", lambda: csv(put(_t(), "label", 0, "300")), "schema",
      "fits Int8 (row 1: '300')"),
    B("csv_label_minus_129", ".csv", lambda: csv(put(_t(), "label", 9, "-129")), "schema",
      "row 10: '-129'"),
    B("csv_event_ts_bad_date", ".csv",
      lambda: csv(put(_t(), "event_ts", 1, "2024-13-45 00:00:00")), "schema", "column event_ts"),
    B("csv_event_ts_word", ".csv", lambda: csv(put(_t(), "event_ts", 3, "yesterday")), "schema",
      "row 4: 'yesterday'"),
    B("csv_x1_overflow_inf", ".csv", lambda: csv(put(_t(), "x1", 0, "1e400")), "range",
      "column x1"),
    # --- lossy or impossible casts (parquet: typed columns) ---
    B("pq_label_float_fraction", ".parquet",
      lambda: pq(every(_g(), "label", [0.7, 0.2])), "schema", "row 1: 0.7, row 2: 0.2"),
    B("pq_label_float_exact", ".parquet",
      lambda: pq(_g().with_columns(pl.col("label").cast(pl.Float64))), "accept"),
    B("pq_event_id_float_fraction", ".parquet",
      lambda: pq(put(_g().with_columns(pl.col("event_id").cast(pl.Float64)), "event_id", 1,
                     3500.7)), "schema", "row 2: 3500.7"),
    B("pq_label_int64_300", ".parquet",
      lambda: pq(put(_g().with_columns(pl.col("label").cast(pl.Int64)), "label", 0, 300)),
      "schema", "row 1: 300"),
    B("pq_x1_string_abc", ".parquet", lambda: pq(put(_t(), "x1", 2, "abc")), "schema",
      "row 3: 'abc'"),
    B("pq_event_id_uint64_huge", ".parquet",
      lambda: pq(put(_g().with_columns(pl.col("event_id").cast(pl.UInt64)), "event_id", 0,
                     2**63 + 5)), "schema", "column event_id"),
    B("pq_event_ts_ns", ".parquet",
      lambda: pq(_g().with_columns(pl.col("event_ts").cast(pl.Datetime("ns")))), "accept"),
    B("pq_all_text_exact", ".parquet", lambda: pq(_t()), "accept"),
    B("pq_segment_integers", ".parquet",
      lambda: pq(_g().with_columns(pl.int_range(pl.len()).alias("segment"))), "schema",
      "can't be read as String"),
    # --- missing and extra columns ---
    B("csv_extra_ssn", ".csv",
      lambda: csv(_t().with_columns(pl.lit("123-45-6789").alias("ssn"))), "schema",
      "column ssn is not in the spec"),
    B("pq_extra_ssn", ".parquet",
      lambda: pq(_g().with_columns(pl.lit("123-45-6789").alias("ssn"))), "schema", "ssn"),
    B("csv_missing_x2", ".csv", lambda: csv(_t().drop("x2")), "schema",
      "column x2 is missing"),
    B("pq_missing_label", ".parquet", lambda: pq(_g().drop("label")), "schema",
      "column label is missing"),
    B("csv_header_renamed", ".csv", lambda: csv(_t().rename({"x1": "X1"})), "schema",
      "column X1 is not in the spec"),
    # --- encodings ---
    B("csv_latin1", ".csv", lambda: csv(put(_t(), "segment", 5, "é")).decode().encode("latin-1"),
      "file", "not UTF-8: byte 0xe9 at line 7"),
    B("csv_utf16_le", ".csv", lambda: csv(_t()).decode().encode("utf-16"), "file", "UTF-16"),
    B("csv_utf16_be", ".csv", lambda: ("\ufeff" + csv(_t()).decode()).encode("utf-16-be"),
      "file", "UTF-16"),
    B("csv_utf8_bom", ".csv", lambda: b"\xef\xbb\xbf" + csv(_t()), "accept"),
    B("csv_crlf", ".csv", lambda: csv(_t()).replace(b"\n", b"\r\n"), "accept"),
    # --- truncation and the wrong format for the name ---
    B("csv_truncated_mid_line", ".csv", lambda: csv(_t())[:-30], "file", "truncated at line 501"),
    B("csv_short_middle_line", ".csv",
      lambda: lines(csv(_t()), lambda ls: [*ls[:4], ls[4].rsplit(b",", 1)[0], *ls[5:]]), "file",
      "line 5 has 6 fields, the header has 7"),
    B("csv_long_line", ".csv",
      lambda: lines(csv(_t()), lambda ls: [*ls[:2], ls[2] + b",extra", *ls[3:]]), "file",
      "line 3 has 8 fields"),
    B("csv_duplicate_header", ".csv",
      lambda: lines(csv(_t()), lambda ls: [ls[0].replace(b"x2", b"x1"), *ls[1:]]), "file",
      "duplicate column names"),
    B("pq_truncated_half", ".parquet", lambda: pq(_g())[: len(pq(_g())) // 2], "file",
      "truncated parquet"),
    B("pq_named_csv", ".csv", lambda: pq(_g()), "file", "a parquet file (magic bytes PAR1)"),
    B("csv_named_parquet", ".parquet", lambda: csv(_t()), "file",
      "not a parquet file: the content is text (first line 'event_id,event_ts"),
    B("zip_named_csv", ".csv", lambda: _zip(csv(_t())), "file", "zip archive"),
    B("gzip_named_csv", ".csv", lambda: gzip.compress(csv(_t())), "file", "gzip archive"),
    B("json_named_csv", ".csv", lambda: json.dumps(_t().to_dicts()[:2]).encode()
      .replace(b"[", b"{\"rows\": [", 1) + b"}", "file", "JSON"),
    # --- duplicate keys, ranges, nulls, time window ---
    B("csv_duplicate_keys", ".csv", lambda: csv(pl.concat([_t(), _t().head(2)])), "unique_keys",
      "rows 1, 501: event_id=2000"),
    B("pq_duplicate_keys", ".parquet", lambda: pq(pl.concat([_g(), _g().tail(1)])),
      "unique_keys", "rows 500, 501"),
    B("csv_x2_out_of_range", ".csv", lambda: csv(put(_t(), "x2", 6, "99")), "range",
      "row 7: 99.0"),
    B("csv_label_2", ".csv", lambda: csv(put(_t(), "label", 0, "2")), "range", "row 1: 2"),
    B("csv_blank_x1", ".csv", lambda: csv(put(_t(), "x1", 3, None)), "not_null", "(rows 4)"),
    B("pq_null_label", ".parquet", lambda: pq(put(_g(), "label", 0, None)), "not_null",
      "column label: 1 of 500 rows are null"),
    B("csv_ts_two_days_late", ".csv",
      lambda: csv(text(put(_g(), "event_ts", 0, good()["event_ts"][0] + timedelta(days=2)))),
      "in_window", "row 1: 2024-01-07"),
    B("pq_ts_previous_day", ".parquet",
      lambda: pq(put(_g(), "event_ts", 9, datetime(2024, 1, 4, 23, 59))), "in_window",
      "row 10: 2024-01-04 23:59:00"),
    # --- sizes ---
    B("empty_csv", ".csv", lambda: b"", "file", "empty file (0 bytes"),
    B("empty_parquet", ".parquet", lambda: b"", "file", "empty file"),
    B("whitespace_csv", ".csv", lambda: b"\n\n  \n", "file", "empty file"),
    B("csv_header_only", ".csv", lambda: csv(_t().head(0)), "non_empty", "has no rows",
      also=("row_count",)),
    B("pq_zero_rows", ".parquet", lambda: pq(_g().head(0)), "non_empty", also=("row_count",)),
    B("csv_too_many_rows", ".csv", lambda: csv(text(_many_rows(21))), "row_count",
      "10500 rows outside [1, 10000]"),
    # --- Boolean, Date, Float32 and UInt8 columns (TYPED_SPEC) ---
    B("typed_good", ".csv", lambda: csv(_typed()), "accept", spec="typed"),
    B("typed_bool_yes", ".csv", lambda: csv(put(_typed(), "flag", 1, "yes")), "schema",
      "row 2: 'yes'", spec="typed"),
    B("typed_bool_2", ".csv", lambda: csv(put(_typed(), "flag", 0, "2")), "schema",
      "row 1: '2'", spec="typed"),
    B("typed_bool_words", ".csv",
      lambda: csv(every(_typed(), "flag", ["TRUE", "false", "1", "0"])), "accept", spec="typed"),
    B("typed_date_bad", ".csv", lambda: csv(put(_typed(), "day", 2, "2024-02-30")), "schema",
      "row 3: '2024-02-30'", spec="typed"),
    B("typed_date_with_time", ".csv",
      lambda: csv(put(_typed(), "day", 0, "2024-01-04 13:45:00")), "schema",
      "not a date without a time of day", spec="typed"),
    B("typed_float32_overflow", ".csv", lambda: csv(put(_typed(), "score", 0, "1e39")), "schema",
      "fits Float32 (row 1: '1e39')", spec="typed"),
    B("typed_uint8_negative", ".csv", lambda: csv(put(_typed(), "small", 0, "-1")), "schema",
      "row 1: '-1'", spec="typed"),
    B("typed_uint8_256", ".csv", lambda: csv(put(_typed(), "small", 1, "256")), "schema",
      "row 2: '256'", spec="typed"),
    B("typed_pq_int_to_float32_inexact", ".parquet",
      lambda: pq(good("typed").with_columns(pl.Series("score", [16_777_217] * 8))), "schema",
      "not exactly representable in Float32", spec="typed"),
]
