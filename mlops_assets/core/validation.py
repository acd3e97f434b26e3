"""Batch validation: the rules a raw batch must pass before it joins the history.

Every rule yields RuleResults with a count, the first offending rows (1-based row number and
value) and a message that names the rule, batch and column. A missing or unusable column fails
only ``schema``; its other rules are reported as skipped, so one problem is reported once, where
it is. Casts to the declared dtypes are exact (core.casting) or a schema failure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from mlops_assets.core.casting import dtype_name, exact_cast
from mlops_assets.core.spec import ROW_INDEX, ColumnSpec, DatasetSpec, SpecError

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
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
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


_ROW = "row"  # examples name each offending row by its 1-based position in the batch


def _numbered(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    return df.select(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(_ROW), *columns)


def _offenders(
    df: pl.DataFrame, mask: pl.Expr | pl.Series, columns: list[str]
) -> tuple[int, list[dict[str, Any]]]:
    """How many rows ``mask`` selects, and the first few as {"row": n, column: value, ...}."""
    bad = _numbered(df, columns).filter(mask.fill_null(False))
    return bad.height, bad.head(MAX_EXAMPLES).to_dicts()


def _shown(examples: list[dict[str, Any]], column: str) -> str:
    """"row 3: 'abc', row 7: 0.7": strings are quoted so that '' and ' 1' stay visible."""
    return ", ".join(f"row {e[_ROW]}: {_fmt(e[column])}" for e in examples)


def _place(key: str, column: str | None = None) -> str:
    return f"batch {key}" + (f", column {column}" if column else "")


def _skip(rule: str, key: str, column: str, why: str) -> RuleResult:
    return RuleResult(rule, column, True, 0, [],
                      f"{rule}: {_place(key, column)} not evaluated ({why})", skipped=True)


def _check_column_schema(df: pl.DataFrame, col: ColumnSpec, key: str) -> tuple[
    RuleResult, pl.Series | None
]:
    """The schema result of one declared column, and its exact cast when it needs one."""
    where = _place(key, col.name)
    if col.name not in df.columns:
        return RuleResult("schema", col.name, False, df.height, [],
                          f"schema: {where} is missing (expected {col.dtype})"), None
    actual = df.schema[col.name]
    outcome = exact_cast(df.get_column(col.name), col.polars_dtype)
    if outcome.exact:
        same = actual == col.polars_dtype
        note = "" if same else f" (cast exactly from {dtype_name(actual)})"
        ok = RuleResult("schema", col.name, True, 0, [], f"schema: {where} is {col.dtype}{note}")
        return ok, None if same else outcome.series
    # Not castable at all: every value is an offender; else only the rows the cast would lose.
    castable = outcome.series is not None
    mask = outcome.bad if castable else pl.col(col.name).is_not_null()
    n, examples = _offenders(df, mask, [col.name])
    what = (f"{n} of {df.height} rows can't be cast exactly from {dtype_name(actual)} to "
            f"{col.dtype}: {outcome.problem}" if castable
            else f"{outcome.problem} ({n} of {df.height} rows hold a value)")
    shown = _shown(examples, col.name)
    return RuleResult("schema", col.name, False, n, examples,
                      f"schema: {where}: {what}" + (f" ({shown})" if shown else "")), None


def _check_schema(df: pl.DataFrame, spec: DatasetSpec, key: str) -> tuple[
    pl.DataFrame, list[RuleResult], dict[str, str]
]:
    """One schema result per declared column and per column the spec lacks; returns the frame
    with exactly castable columns cast and {column: reason} for the columns other rules skip."""
    results: list[RuleResult] = []
    unusable: dict[str, str] = {}
    casts = []
    for col in spec.columns:
        result, cast = _check_column_schema(df, col, key)
        results.append(result)
        if not result.passed:
            unusable[col.name] = ("column missing" if col.name not in df.columns
                                  else f"dtype {dtype_name(df.schema[col.name])}")
        elif cast is not None:
            casts.append(cast)
    # The audit judges what would be published: a column the spec lacks (an ssn, say) fails
    # it whatever the policy, since extra_columns: drop must have removed it at ingestion.
    how = ("extra_columns: drop, but it was not dropped at ingestion"
           if spec.extra_columns == "drop"
           else "declare it, remove it, or set extra_columns: drop")
    for name in df.columns:
        if name not in spec.column_map and name != ROW_INDEX:
            results.append(RuleResult("schema", name, False, df.height, [],
                                      f"schema: {_place(key, name)} is not in the spec ({how})"))
    return (df.with_columns(casts) if casts else df), results, unusable


def _check_not_null(df: pl.DataFrame, col: ColumnSpec, key: str) -> RuleResult:
    where = _place(key, col.name)
    n, examples = _offenders(df, pl.col(col.name).is_null(), [col.name])
    if n == 0:
        return RuleResult("not_null", col.name, True, 0, [], f"not_null: {where} ok")
    rows = ", ".join(str(e[_ROW]) for e in examples) + (", ..." if n > len(examples) else "")
    return RuleResult("not_null", col.name, False, n, examples,
                      f"not_null: {where}: {n} of {df.height} rows are null (rows {rows})")


def _check_range(df: pl.DataFrame, col: ColumnSpec, key: str) -> RuleResult:
    c = pl.col(col.name)
    outside = pl.lit(False)
    if col.min is not None:
        outside = outside | (c < col.min)
    if col.max is not None:
        outside = outside | (c > col.max)
    n, examples = _offenders(df, outside, [col.name])
    bounds = f"[{_fmt_bound(col.min)}, {_fmt_bound(col.max)}]"
    where = _place(key, col.name)
    if n == 0:
        return RuleResult("range", col.name, True, 0, [], f"range: {where} within {bounds}")
    return RuleResult("range", col.name, False, n, examples,
                      f"range: {where}: {n} of {df.height} rows outside {bounds} "
                      f"({_shown(examples, col.name)})")


def _check_unique_keys(df: pl.DataFrame, keys: list[str], key: str) -> RuleResult:
    label = ", ".join(keys)
    groups = (
        _numbered(df, keys).filter(pl.struct(keys).is_duplicated())
        .group_by(keys, maintain_order=True).agg(pl.col(_ROW).alias("rows"))
    )
    if groups.height == 0:
        return RuleResult("unique_keys", None, True, 0, [],
                          f"unique_keys: {_place(key)}: [{label}] unique")
    n = int(groups.get_column("rows").list.len().sum())
    examples = groups.head(MAX_EXAMPLES).to_dicts()
    shown = "; ".join(
        f"rows {', '.join(map(str, e['rows'][:MAX_EXAMPLES]))}: "
        + ", ".join(f"{k}={_fmt(e[k])}" for k in keys)
        for e in examples
    )
    return RuleResult(
        "unique_keys", None, False, n, examples,
        f"unique_keys: {_place(key)}: {n} rows share {groups.height} duplicated keys over "
        f"[{label}] ({shown})",
    )


def _check_row_count(n: int, spec: DatasetSpec, key: str) -> RuleResult:
    lo, hi = spec.row_count.min, spec.row_count.max
    bounds = f"[{lo if lo is not None else 0}, {hi if hi is not None else 'inf'}]"
    ok = (lo is None or n >= lo) and (hi is None or n <= hi)
    msg = f"row_count: {_place(key)}: {n} rows {'within' if ok else 'outside'} {bounds}"
    return RuleResult("row_count", None, ok, 0 if ok else n, [] if ok else [{"rows": n}], msg)


def _check_in_window(df: pl.DataFrame, spec: DatasetSpec, key: str) -> RuleResult:
    tc = spec.time_column
    assert tc is not None
    start, end = spec.batch_window(key)
    c = pl.col(tc)
    n, examples = _offenders(df, (c < start) | (c >= end), [tc])
    window = f"[{_fmt(start)}, {_fmt(end)})"
    where = _place(key, tc)
    if n == 0:
        return RuleResult("in_window", tc, True, 0, [], f"in_window: {where} within {window}")
    return RuleResult(
        "in_window", tc, False, n, examples,
        f"in_window: {where}: {n} of {df.height} rows outside the batch window {window} "
        f"({_shown(examples, tc)})",
    )


def validate_batch(df: pl.DataFrame, spec: DatasetSpec, partition_key: str) -> ValidationReport:
    """Check one raw batch against its spec. Never raises on bad data, only on a bad key."""
    key = partition_key
    if spec.time_column is None and key not in spec.partition_keys():
        raise SpecError(f"{spec.name}: {key!r} is not a partition key")
    results: list[RuleResult] = []
    n = df.height
    results.append(RuleResult(
        "non_empty", None, n > 0, 0, [],
        f"non_empty: {_place(key)} has no rows" if n == 0 else f"non_empty: {n} rows",
    ))
    df, schema_results, unusable = _check_schema(df, spec, key)
    results += schema_results

    for col in spec.columns:
        if not col.nullable:
            results.append(_skip("not_null", key, col.name, unusable[col.name])
                           if col.name in unusable else _check_not_null(df, col, key))
    for col in spec.columns:
        if col.min is not None or col.max is not None:
            results.append(_skip("range", key, col.name, unusable[col.name])
                           if col.name in unusable else _check_range(df, col, key))

    bad_keys = [k for k in spec.keys if k in unusable]
    if bad_keys:
        results.append(RuleResult(
            "unique_keys", None, True, 0, [],
            f"unique_keys: {_place(key)} not evaluated (unusable key columns {bad_keys})",
            skipped=True,
        ))
    else:
        results.append(_check_unique_keys(df, spec.keys, key))
    results.append(_check_row_count(n, spec, key))

    if spec.time_column is not None:
        if spec.time_column in unusable:
            results.append(_skip("in_window", key, spec.time_column, unusable[spec.time_column]))
        else:
            results.append(_check_in_window(df, spec, key))
    return ValidationReport(spec.name, key, n, results)
