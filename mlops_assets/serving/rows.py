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


_WINDOWS: dict[int, tuple[DatasetSpec, tuple[datetime, datetime]]] = {}


def _window(spec: DatasetSpec) -> tuple[datetime, datetime]:
    """The online view's single batch window (the in_window rule), cached per spec object."""
    cached = _WINDOWS.get(id(spec))
    if cached is None or cached[0] is not spec:
        view = online_spec(spec)
        cached = _WINDOWS[id(spec)] = (spec, view.batch_window(view.partition_keys()[0]))
    return cached[1]


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


@dataclass
class ValidRows:
    """Validated request rows: typed values per raw column (``columns``, target all null) when
    every value was plain, else only the audited ``frame``; the polars frame is built on demand."""

    height: int
    columns: dict[str, list[Any]] | None
    spec: DatasetSpec
    _frame: pl.DataFrame | None = None

    @property
    def frame(self) -> pl.DataFrame:
        if self._frame is None:
            assert self.columns is not None
            self._frame = pl.DataFrame([pl.Series(c.name, self.columns[c.name],
                                                  dtype=c.polars_dtype) for c in self.spec.columns])
        return self._frame

    def column(self, name: str) -> list[Any]:
        return self.columns[name] if self.columns is not None else \
            self.frame.get_column(name).to_list()

    def dicts(self) -> list[dict[str, Any]]:
        """One dict per row, like ``frame.to_dicts()``."""
        if self.columns is None:
            return self.frame.to_dicts()
        names = [c.name for c in self.spec.columns]
        return [dict(zip(names, values, strict=True))
                for values in zip(*(self.columns[n] for n in names), strict=True)]


def _plain_column(values: list[Any], col: ColumnSpec) -> list[Any] | None:
    """``plain_value`` of every value (None if one is not plain). The common case, one JSON type
    that needs no conversion, is checked for the whole column at once with the same rules."""
    kinds, dtype = set(map(type, values)), col.dtype
    if (dtype == "String" and kinds == {str}) or (dtype == "Boolean" and kinds == {bool}):
        return values
    if (dtype.startswith("Float") and kinds == {float} and all(map(math.isfinite, values))) or (
            dtype in _INT_BOUNDS and kinds == {int}
            and _INT_BOUNDS[dtype][0] <= min(values) and max(values) <= _INT_BOUNDS[dtype][1]):
        if (col.min is not None and min(values) < col.min) or (
                col.max is not None and max(values) > col.max):
            return None
        return values
    out = [plain_value(v, col) for v in values]
    return None if any(v is _NOT_PLAIN for v in out) else out


def _plain_columns(rows: list[dict[str, Any]], spec: DatasetSpec) -> dict[str, list[Any]] | None:
    """The typed values of rows that plainly pass every audit rule, without polars; None as
    soon as anything is not plain (the batch audit then decides and names the problem)."""
    target = spec.target.column
    cols = [c for c in spec.columns if c.name != target]
    names = {c.name for c in cols}
    if any(row.keys() != names for row in rows):
        return None
    values: dict[str, list[Any]] = {}
    for col in cols:
        column = _plain_column([row[col.name] for row in rows], col)
        if column is None:
            return None
        values[col.name] = column
    if len(rows) > 1 and len(set(zip(*(values[k] for k in spec.keys), strict=True))) < len(rows):
        return None
    tc = spec.time_column
    if tc is not None:
        start, end = _window(spec)
        if not all(start <= t < end for t in values[tc]):
            return None
    values[target] = [None] * len(rows)
    return values


def _fast_frame(rows: list[dict[str, Any]], spec: DatasetSpec) -> pl.DataFrame | None:
    """The frame of rows that plainly pass every audit rule (None: the audit decides)."""
    columns = _plain_columns(rows, spec)
    return None if columns is None else ValidRows(len(rows), columns, spec).frame


def rows_frame(rows: Any, spec: DatasetSpec) -> pl.DataFrame:
    """The request's rows, validated and cast to the spec's dtypes (target column null)."""
    return validate_rows(rows, spec).frame


def validate_rows(rows: Any, spec: DatasetSpec) -> ValidRows:
    """The request's rows, validated and cast to the spec's dtypes (target column null).
    Raises RowsError (422) naming field, rule and rows. Rows that plainly pass every rule take a
    fast path (no polars); anything else goes through the batch audit itself, which accepts it
    or names the rule it breaks."""
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
    plain = _plain_columns(rows, spec)
    if plain is not None:
        return ValidRows(len(rows), plain, spec)
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
    frame = cast_exactly(frame.select(c.name for c in spec.columns),
                         {c.name: c.polars_dtype for c in spec.columns})
    return ValidRows(frame.height, None, spec, frame)


def partition_keys_of(rows: ValidRows, spec: DatasetSpec) -> list[str | None]:
    """The batch each row belongs to (by its time column); None for a row-batched dataset."""
    tc = spec.time_column
    if tc is None:
        return [None] * rows.height
    start = datetime.combine(spec.batch.start, datetime.min.time())  # type: ignore[arg-type]
    step = spec.batch.step
    fmt = "%Y-%m-%d" if step % timedelta(days=1) == timedelta(0) else "%Y-%m-%d-%H:%M"
    keys: dict[int, str] = {}  # batch number -> key: most rows of a request share a few
    out: list[str | None] = []
    for t in rows.column(tc):
        n = (t - start) // step
        key = keys.get(n)
        if key is None:
            key = keys[n] = (start + n * step).strftime(fmt)
        out.append(key)
    return out
