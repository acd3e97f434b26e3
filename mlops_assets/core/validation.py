"""Batch validation: the rules a raw batch must pass before it joins the history.

Every rule yields RuleResults with a count, a few example values and a message a person can act
on. A missing column fails only ``schema``; its other rules are reported as skipped, so one
problem is reported once, where it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from mlops_assets.core.spec import ColumnSpec, DatasetSpec, SpecError

MAX_EXAMPLES = 3

RULES = ("non_empty", "schema", "not_null", "range", "unique_keys", "row_count", "in_window")


@dataclass(frozen=True)
class RuleResult:
    rule: str
    column: str | None
    passed: bool
    failing_rows: int
    examples: list[dict[str, Any]]
    message: str
    skipped: bool = False  # not evaluated (e.g. the column is missing); counts as passed


@dataclass(frozen=True)
class ValidationReport:
    dataset: str
    partition_key: str
    n_rows: int
    rules: list[RuleResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rules)

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.passed]

    def summary(self) -> str:
        failed = self.failures
        skipped = sum(r.skipped for r in self.rules)
        head = (
            f"{self.dataset} batch {self.partition_key}: "
            f"{'PASSED' if self.passed else 'FAILED'} - {self.n_rows} rows, "
            f"{len(self.rules) - len(failed)}/{len(self.rules)} checks passed"
            + (f" ({skipped} skipped)" if skipped else "")
        )
        return "\n".join([head] + [f"  FAIL {r.message}" for r in failed])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (example values that JSON lacks, like datetimes, become strings), e.g.
        for asset metadata or a report file."""
        rules = []
        for r in self.rules:
            d = asdict(r)
            d["examples"] = [{k: _jsonable(v) for k, v in e.items()} for e in r.examples]
            rules.append(d)
        return {
            "dataset": self.dataset,
            "partition_key": self.partition_key,
            "n_rows": self.n_rows,
            "passed": self.passed,
            "rules": rules,
        }


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float):
        return repr(value)
    return repr(value) if isinstance(value, str) else str(value)


def _fmt_bound(x: float | None) -> str:
    if x is None:
        return "inf"
    return str(int(x)) if float(x).is_integer() else str(x)


def _safely_castable(actual: pl.DataType, expected: pl.DataType) -> bool:
    """Whether a column of dtype ``actual`` can be read as ``expected`` without losing meaning:
    widening numbers, another datetime unit, an all-null column. Not: text to numbers."""
    if actual == expected or actual == pl.Null:
        return True
    if expected.is_float():
        return actual.is_numeric()
    if expected.is_integer():
        return actual.is_integer()  # value range is checked by a strict cast
    if expected == pl.String:
        return actual in (pl.Categorical, pl.Enum)
    if expected == pl.Datetime:
        return actual in (pl.Datetime, pl.Date)
    return False


def _skip(rule: str, column: str, why: str) -> RuleResult:
    return RuleResult(rule, column, True, 0, [], f"{rule}: column {column} not evaluated ({why})",
                      skipped=True)


def _check_schema(df: pl.DataFrame, spec: DatasetSpec) -> tuple[pl.DataFrame, list[RuleResult],
                                                                dict[str, str]]:
    """One schema result per declared column; returns the frame with castable columns cast and
    {column: reason} for the columns other rules must skip."""
    results: list[RuleResult] = []
    unusable: dict[str, str] = {}
    casts = []
    for col in spec.columns:
        expected = col.polars_dtype
        if col.name not in df.columns:
            unusable[col.name] = "column missing"
            results.append(RuleResult("schema", col.name, False, df.height, [],
                                      f"schema: column {col.name} is missing "
                                      f"(expected {col.dtype})"))
            continue
        actual = df.schema[col.name]
        ok = _safely_castable(actual, expected)
        if ok and actual != expected:
            try:
                casts.append(df.get_column(col.name).cast(expected, strict=True))
            except pl.exceptions.PolarsError:
                ok = False
        if not ok:
            unusable[col.name] = f"dtype {actual}"
            examples = [{col.name: v} for v in df.get_column(col.name).drop_nulls().head(2)]
            shown = ", ".join(_fmt(e[col.name]) for e in examples)
            results.append(RuleResult(
                "schema", col.name, False, df.height, examples,
                f"schema: column {col.name} has dtype {actual}, expected {col.dtype} "
                f"(not safely castable" + (f"; e.g. {shown})" if shown else ")"),
            ))
            continue
        note = "" if actual == expected else f" (cast from {actual})"
        results.append(RuleResult("schema", col.name, True, 0, [],
                                  f"schema: column {col.name} is {col.dtype}{note}"))
    return (df.with_columns(casts) if casts else df), results, unusable


def _check_not_null(df: pl.DataFrame, col: ColumnSpec) -> RuleResult:
    n = df.get_column(col.name).null_count()
    if n == 0:
        return RuleResult("not_null", col.name, True, 0, [], f"not_null: column {col.name} ok")
    return RuleResult("not_null", col.name, False, n, [{col.name: None}],
                      f"not_null: column {col.name} has {n} null rows (of {df.height})")


def _check_range(df: pl.DataFrame, col: ColumnSpec) -> RuleResult:
    c = pl.col(col.name)
    outside = pl.lit(False)
    if col.min is not None:
        outside = outside | (c < col.min)
    if col.max is not None:
        outside = outside | (c > col.max)
    bad = df.filter(outside.fill_null(False)).get_column(col.name)
    bounds = f"[{_fmt_bound(col.min)}, {_fmt_bound(col.max)}]"
    if bad.len() == 0:
        return RuleResult("range", col.name, True, 0, [],
                          f"range: column {col.name} within {bounds}")
    values = bad.unique(maintain_order=True).head(MAX_EXAMPLES).to_list()
    return RuleResult(
        "range", col.name, False, bad.len(), [{col.name: v} for v in values],
        f"range: column {col.name} has {bad.len()} rows outside {bounds} "
        f"(e.g. {', '.join(_fmt(v) for v in values)})",
    )


def _check_unique_keys(df: pl.DataFrame, keys: list[str]) -> RuleResult:
    dup = df.select(keys).filter(pl.struct(keys).is_duplicated())
    label = ", ".join(keys)
    if dup.height == 0:
        return RuleResult("unique_keys", None, True, 0, [], f"unique_keys: [{label}] unique")
    examples = dup.unique(maintain_order=True).head(MAX_EXAMPLES).to_dicts()
    distinct = dup.unique().height
    shown = "; ".join(", ".join(f"{k}={_fmt(v)}" for k, v in e.items()) for e in examples)
    return RuleResult(
        "unique_keys", None, False, dup.height, examples,
        f"unique_keys: {dup.height} rows share {distinct} duplicated keys over [{label}] "
        f"(e.g. {shown})",
    )


def _check_row_count(n: int, spec: DatasetSpec) -> RuleResult:
    lo, hi = spec.row_count.min, spec.row_count.max
    bounds = f"[{lo if lo is not None else 0}, {hi if hi is not None else 'inf'}]"
    ok = (lo is None or n >= lo) and (hi is None or n <= hi)
    msg = f"row_count: {n} rows {'within' if ok else 'outside'} {bounds}"
    return RuleResult("row_count", None, ok, 0 if ok else n, [] if ok else [{"rows": n}], msg)


def _check_in_window(df: pl.DataFrame, spec: DatasetSpec, key: str) -> RuleResult:
    tc = spec.time_column
    assert tc is not None
    start, end = spec.batch_window(key)
    c = pl.col(tc)
    bad = df.filter(((c < start) | (c >= end)).fill_null(False)).get_column(tc)
    window = f"[{_fmt(start)}, {_fmt(end)})"
    if bad.len() == 0:
        return RuleResult("in_window", tc, True, 0, [], f"in_window: column {tc} within {window}")
    values = bad.unique(maintain_order=True).head(MAX_EXAMPLES).to_list()
    return RuleResult(
        "in_window", tc, False, bad.len(), [{tc: v} for v in values],
        f"in_window: column {tc} has {bad.len()} rows outside the batch window {window} "
        f"(e.g. {', '.join(_fmt(v) for v in values)})",
    )


def validate_batch(df: pl.DataFrame, spec: DatasetSpec, partition_key: str) -> ValidationReport:
    """Check one raw batch against its spec. Never raises on bad data, only on a bad key."""
    results: list[RuleResult] = []
    n = df.height
    results.append(RuleResult(
        "non_empty", None, n > 0, 0, [],
        "non_empty: batch has no rows" if n == 0 else f"non_empty: {n} rows",
    ))
    df, schema_results, unusable = _check_schema(df, spec)
    results += schema_results

    for col in spec.columns:
        if not col.nullable:
            results.append(_skip("not_null", col.name, unusable[col.name])
                           if col.name in unusable else _check_not_null(df, col))
    for col in spec.columns:
        if col.min is not None or col.max is not None:
            results.append(_skip("range", col.name, unusable[col.name])
                           if col.name in unusable else _check_range(df, col))

    bad_keys = [k for k in spec.keys if k in unusable]
    if bad_keys:
        results.append(RuleResult("unique_keys", None, True, 0, [],
                                  f"unique_keys: not evaluated (unusable key columns {bad_keys})",
                                  skipped=True))
    else:
        results.append(_check_unique_keys(df, spec.keys))
    results.append(_check_row_count(n, spec))

    if spec.time_column is not None:
        if spec.time_column in unusable:
            results.append(_skip("in_window", spec.time_column, unusable[spec.time_column]))
        else:
            results.append(_check_in_window(df, spec, partition_key))
    elif partition_key not in spec.partition_keys():
        raise SpecError(f"{spec.name}: {partition_key!r} is not a partition key")
    return ValidationReport(spec.name, partition_key, n, results)
