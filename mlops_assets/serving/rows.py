"""Request rows -> a validated raw frame, with the batch audit's own rules.

A row is a JSON object with the spec's raw columns except the target (labels arrive later, by
`/v1/feedback`). The rows are checked by :func:`core.validation.validate_batch` against an
*online* view of the spec: the same columns and rules (schema with exact casts, not_null, range,
unique_keys, in_window) with three differences a request needs: the target column may be absent
(null), there is no row_count rule, and the batch window is the dataset's whole range (a row must
fall in some batch of the dataset). Every failure becomes a :class:`FieldError` naming the field,
the rule and the 0-based request rows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from mlops_assets.core.casting import cast_exactly
from mlops_assets.core.spec import ColumnSpec, DatasetSpec, parse_spec
from mlops_assets.core.validation import validate_batch

MAX_ROWS = 10_000


@dataclass(frozen=True)
class FieldError:
    field: str | None
    rule: str
    rows: list[int]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "rule": self.rule, "rows": self.rows,
                "message": self.message}


class RowsError(ValueError):
    """A request that fails validation (HTTP 422)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def _fail(field: str | None, rule: str, message: str, rows: list[int] | None = None) -> RowsError:
    return RowsError([FieldError(field, rule, rows or [], message)])


_VIEWS: dict[int, tuple[DatasetSpec, DatasetSpec]] = {}


def online_spec(spec: DatasetSpec) -> DatasetSpec:
    """The spec a request is validated against (see the module doc); cached per spec object."""
    cached = _VIEWS.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    data = spec.model_dump(mode="json")
    for col in data["columns"]:
        if col["name"] == spec.target.column:
            col["nullable"] = True
    data["row_count"] = {"min": None, "max": None}
    if spec.time_column is None:
        data["batch"] = {"rows": MAX_ROWS, "count": 1}
    else:
        start, end = spec.batch.start, spec.batch.end
        assert isinstance(start, date) and isinstance(end, date)
        last = datetime.strptime(spec.partition_keys()[-1][:10], "%Y-%m-%d")
        days = (last.date() - start).days + 1 + (1 if spec.batch.step < timedelta(days=1) else 0)
        data["batch"] = {"frequency": f"{days}d", "start": str(start), "end": str(start)}
    view = parse_spec(data, origin=f"online view of {spec.name}")
    _VIEWS[id(spec)] = (spec, view)
    return view


def _column(name: str, values: list[Any]) -> pl.Series:
    """One JSON column as a Series; mixed types become text, which the audit's exact casts then
    read (or report) like a CSV cell."""
    kinds = {type(v) for v in values if v is not None}
    if (kinds <= {int, float} and kinds != {int, float}) or kinds == set():
        return pl.Series(name, values, strict=False)
    if kinds == {int, float}:
        return pl.Series(name, [None if v is None else float(v) for v in values])
    if len(kinds) == 1 and kinds <= {str, bool}:
        return pl.Series(name, values)
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
_INT_BOUNDS = {f"{p}{b}": ((-(2 ** (b - 1)), 2 ** (b - 1) - 1) if p == "Int" else (0, 2**b - 1))
               for p in ("Int", "UInt") for b in (8, 16, 32, 64)}


def plain_value(value: Any, col: ColumnSpec) -> Any:
    """The value as the column's Python type when it is plainly valid (a JSON number in range, a
    string, a canonical ISO time), else _NOT_PLAIN."""
    if value is None:
        return None if col.nullable else _NOT_PLAIN
    dtype = col.dtype
    if dtype.startswith("Float"):
        if type(value) is int and abs(value) <= 2**24:
            value = float(value)
        if type(value) is not float or not math.isfinite(value):
            return _NOT_PLAIN
    elif dtype in _INT_BOUNDS:
        low, high = _INT_BOUNDS[dtype]
        if type(value) is not int or not low <= value <= high:
            return _NOT_PLAIN
    elif dtype == "String":
        return value if type(value) is str else _NOT_PLAIN
    elif dtype == "Datetime":
        if type(value) is not str or not _STAMP.match(value):
            return _NOT_PLAIN
        return datetime.fromisoformat(value)
    elif dtype == "Boolean":
        return value if type(value) is bool else _NOT_PLAIN
    else:
        return _NOT_PLAIN
    if (col.min is not None and value < col.min) or (col.max is not None and value > col.max):
        return _NOT_PLAIN
    return value


_NOT_PLAIN = object()


def _fast_frame(rows: list[dict[str, Any]], spec: DatasetSpec) -> pl.DataFrame | None:
    """The frame of rows that plainly pass every audit rule, built without polars checks; None
    as soon as anything is not plain (the batch audit then decides and names the problem)."""
    target = spec.target.column
    cols = [c for c in spec.columns if c.name != target]
    names = {c.name for c in cols}
    values: dict[str, list[Any]] = {c.name: [] for c in cols}
    for row in rows:
        if row.keys() != names:
            return None
        for col in cols:
            value = plain_value(row[col.name], col)
            if value is _NOT_PLAIN:
                return None
            values[col.name].append(value)
    if len(rows) > 1 and len(set(zip(*(values[k] for k in spec.keys), strict=True))) < len(rows):
        return None
    tc = spec.time_column
    if tc is not None:
        view = online_spec(spec)
        start, end = view.batch_window(view.partition_keys()[0])
        if not all(start <= t < end for t in values[tc]):
            return None
    data = {c.name: pl.Series(c.name, values[c.name], dtype=c.polars_dtype)
            if c.name != target else pl.Series(c.name, [None] * len(rows), dtype=c.polars_dtype)
            for c in spec.columns}
    return pl.DataFrame(data)


def rows_frame(rows: Any, spec: DatasetSpec) -> pl.DataFrame:
    """The request's rows, validated and cast to the spec's dtypes (target column null).
    Raises RowsError (422) naming field, rule and rows. Rows that plainly pass every rule take a
    fast path; anything else goes through the batch audit itself, which accepts it or names the
    rule it breaks."""
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not rows:
        raise _fail("rows", "non_empty", "rows: give one JSON object or a non-empty list of them")
    if len(rows) > MAX_ROWS:
        raise _fail("rows", "row_count", f"rows: {len(rows)} rows, at most {MAX_ROWS} a request")
    bad = [i for i, r in enumerate(rows) if not isinstance(r, dict)]
    if bad:
        raise _fail("rows", "schema", f"rows: row(s) {bad[:5]} are not JSON objects", bad)
    target = spec.target.column
    labelled = [i for i, r in enumerate(rows) if target in r]
    if labelled:
        raise _fail(target, "schema", f"schema: column {target} is the target: labels come "
                    "through POST /v1/feedback, not with the rows", labelled)
    fast = _fast_frame(rows, spec)
    if fast is not None:
        return fast
    names = list(dict.fromkeys(k for r in rows for k in r))
    frame = pl.DataFrame([_column(n, [r.get(n) for r in rows]) for n in names])
    if frame.width == 0:
        frame = pl.DataFrame({"__empty": [None] * len(rows)}).drop("__empty")
    target_dtype = spec.column(target).polars_dtype
    frame = frame.with_columns(pl.lit(None, dtype=target_dtype).alias(target))
    view = online_spec(spec)
    key = view.partition_keys()[0]
    report = validate_batch(frame, view, key)
    if not report.passed:
        raise RowsError([
            FieldError(r.column, r.rule, [int(e["row"]) - 1 for e in r.examples if "row" in e]
                       or ([] if r.rule != "unique_keys" else
                           [int(x) - 1 for e in r.examples for x in e.get("rows", [])]),
                       r.message.replace(f"batch {key}, ", "").replace(f"batch {key}", "request"))
            for r in report.failures
        ])
    return cast_exactly(frame.select(c.name for c in spec.columns),
                        {c.name: c.polars_dtype for c in spec.columns})


def partition_keys_of(frame: pl.DataFrame, spec: DatasetSpec) -> list[str | None]:
    """The batch each row belongs to (by its time column); None for a row-batched dataset."""
    tc = spec.time_column
    if tc is None:
        return [None] * frame.height
    start = datetime.combine(spec.batch.start, datetime.min.time())  # type: ignore[arg-type]
    step = spec.batch.step
    fmt = "%Y-%m-%d" if step % timedelta(days=1) == timedelta(0) else "%Y-%m-%d-%H:%M"
    return [(start + ((t - start) // step) * step).strftime(fmt)
            for t in frame.get_column(tc).to_list()]
