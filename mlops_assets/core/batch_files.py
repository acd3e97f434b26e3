"""Landed batch files: read a CSV or Parquet file into a frame, or say what is really wrong
with it (named by its content, not its suffix: a parquet file named .csv, UTF-16 text, a CSV cut
mid-line).

Reading never judges the values: declared columns are cast only where the cast is exact, and
everything else (a missing, extra or uncastable column) is left for validation's schema rule to
report with its offending rows.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import polars as pl

from mlops_assets.core.casting import cast_exactly
from mlops_assets.core.spec import ROW_INDEX, DatasetSpec

log = logging.getLogger(__name__)

_UTF8_BOM = b"\xef\xbb\xbf"
# Leading bytes of the formats a batch file is most often mistaken for.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "parquet"),
    (b"PK\x03\x04", "zip archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"ARROW1", "Arrow IPC (feather) file"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
)


class BatchFileError(ValueError):
    """A landed batch file that cannot be read at all (empty, truncated, corrupt, wrong format);
    the message names the file and its real problem."""


def sniff(data: bytes) -> str:
    """What the bytes are, from their magic number: "parquet", "zip archive", ..., else "text"
    (or "binary" when NUL bytes show it is not text)."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data.lstrip().startswith(b"{"):
        return "JSON"
    return "binary" if b"\x00" in data[:4096] else "text"


def read_batch_file(
    path: str | Path, spec: DatasetSpec, partition_key: str | None = None
) -> pl.DataFrame:
    """Read a landed batch (csv or parquet by suffix, checked against the content).

    Declared columns are cast to their spec dtypes where that is exact. Extra columns are dropped
    when the spec says ``extra_columns: drop`` (else left for the schema rule to fail). With the
    ``partition_key`` of a row-batched dataset, each row gets its file-order index ROW_INDEX.
    Raises BatchFileError for a file that cannot be read at all."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BatchFileError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    if not data.strip():
        raise BatchFileError(f"{path}: empty file ({len(data)} bytes: no header, no rows)")
    suffix = path.suffix.lower()
    kind = sniff(data)
    if suffix in (".parquet", ".pq"):
        df = _read_parquet_bytes(path, data, kind)
    elif suffix == ".csv":
        df = _read_csv_bytes(path, data, kind)
    else:
        raise BatchFileError(f"{path}: unknown batch file type {suffix!r} (csv or parquet)")
    if (spec.time_from is not None and spec.time_column is not None
            and spec.time_column not in df.columns
            and all(c in df.columns for c in spec.time_from.parts())):
        # A landed file in the source's shape (date + hour): build the time column as the
        # bundled sources do, then the parts are extra columns like any other.
        df = df.with_columns(spec.time_from.expr(spec.time_column))
        if spec.extra_columns == "fail":
            df = df.drop([c for c in spec.time_from.parts() if c not in spec.column_map])
    extra = [c for c in df.columns if c not in spec.column_map and c != ROW_INDEX]
    if extra and spec.extra_columns == "drop":
        log.warning("%s: dropped columns not in the %s spec: %s (extra_columns: drop)",
                    path, spec.name, ", ".join(extra))
        df = df.drop(extra)
    df = cast_exactly(df, {c.name: c.polars_dtype for c in spec.columns})
    if partition_key is not None and spec.time_column is None:
        df = with_row_index(df, spec, partition_key)
    return df


def with_row_index(df: pl.DataFrame, spec: DatasetSpec, partition_key: str) -> pl.DataFrame:
    """Add ROW_INDEX: the rows' positions in the dataset (the batch's offset + file order)."""
    offset, _ = spec.batch_rows(partition_key)
    index = pl.int_range(offset, offset + pl.len(), dtype=pl.Int64).alias(ROW_INDEX)
    return df.drop(ROW_INDEX, strict=False).with_columns(index)


def _read_parquet_bytes(path: Path, data: bytes, kind: str) -> pl.DataFrame:
    if kind != "parquet":
        raise BatchFileError(
            f"{path}: not a parquet file: the content is {_describe(kind, data)}"
        )
    if not data.endswith(b"PAR1"):
        raise BatchFileError(
            f"{path}: truncated parquet ({len(data)} bytes, no PAR1 footer at the end)"
        )
    try:
        return pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several error types for a bad footer
        raise BatchFileError(
            f"{path}: corrupt parquet ({len(data)} bytes): {_first_line(exc)}"
        ) from None


def _describe(kind: str, data: bytes) -> str:
    if kind in ("text", "JSON"):
        first = data.split(b"\n", 1)[0][:60].decode("utf-8", "replace")
        return f"{kind} (first line {first!r})"
    return f"a {kind}" if not kind.startswith(("UTF", "Arrow")) else kind


def _read_csv_bytes(path: Path, data: bytes, kind: str) -> pl.DataFrame:
    if kind == "parquet":
        raise BatchFileError(
            f"{path}: a parquet file (magic bytes PAR1) named .csv: land it as .parquet"
        )
    if kind == "UTF-16 text":
        raise BatchFileError(f"{path}: UTF-16 encoded csv (byte order mark): re-encode as UTF-8")
    if kind != "text":
        raise BatchFileError(f"{path}: not a csv: the content is {_describe(kind, data)}")
    data = data.removeprefix(_UTF8_BOM)  # Excel's UTF-8 marker: harmless, so accepted
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BatchFileError(
            f"{path}: not UTF-8: byte 0x{data[exc.start]:02x} at line {line} (latin-1 or "
            "cp1252?): re-encode the file as UTF-8"
        ) from None
    _check_csv_shape(path, text)
    try:
        # Everything as text first: casting per the spec afterwards keeps a bad value visible
        # (the column stays String, and validation names its rows) instead of failing the read.
        return pl.read_csv(io.BytesIO(data), infer_schema=False)
    except Exception as exc:  # ComputeError / NoDataError / ShapeError
        raise BatchFileError(f"{path}: unreadable csv: {_first_line(exc)}") from None


def _check_csv_shape(path: Path, text: str) -> None:
    """Every line has the header's number of fields. polars would quietly fill a short line with
    nulls, so a file cut mid-write would surface as a misleading not_null failure."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, [])
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise BatchFileError(f"{path}: duplicate column names in the csv header: {dupes}")
    width = len(header)
    last: tuple[int, int] | None = None
    try:
        for row in rows:
            if not row:
                continue  # blank line
            line = rows.line_num
            if last is not None:
                _ragged(path, last[0], last[1], width)
            last = (line, len(row)) if len(row) != width else None
    except csv.Error as exc:
        raise BatchFileError(f"{path}: unreadable csv at line {rows.line_num}: {exc}") from None
    if last is not None:
        if last[1] < width:
            raise BatchFileError(
                f"{path}: csv truncated at line {last[0]} ({last[1]} of the header's "
                f"{width} fields)"
            )
        _ragged(path, last[0], last[1], width)


def _ragged(path: Path, line: int, fields: int, width: int) -> None:
    raise BatchFileError(
        f"{path}: malformed csv: line {line} has {fields} fields, the header has {width}"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
