"""Exact casts from what a batch file holds to the dtype its spec declares.

A cast either keeps every value exactly or reports the rows it would change. Polars' own casts
are not enough: a strict Float64 -> Int8 cast turns 0.7 into 0 without complaint, which once
published a target of all zeros. Here 3500.0 -> 3500 is accepted (the value is the same) and
3500.7, 'abc', 300 into Int8, 'yes' into Boolean or an unparsable date are offenders.

Float64 -> Float32 rounding is not treated as a loss: almost no decimal fraction (0.1) is exact in
either, so only an overflow to infinity counts. Integers into floats must come back equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import polars as pl

_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True)
class CastOutcome:
    """``series``: the column cast to the target, or None when the dtype can't be read as the
    target at all. ``bad``: a Boolean mask of the rows whose value would be lost or is
    unreadable (all False when the cast is exact). ``problem``: what is wrong with those rows."""

    series: pl.Series | None
    bad: pl.Series
    problem: str = ""

    @property
    def n_bad(self) -> int:
        return int(self.bad.sum())

    @property
    def exact(self) -> bool:
        return self.series is not None and self.n_bad == 0


def dtype_name(dtype: pl.DataType) -> str:
    """The spec's name of a dtype: "Datetime", not "Datetime(time_unit='us', time_zone=None)"."""
    return "Datetime" if isinstance(dtype, pl.Datetime) and dtype.time_zone is None and (
        dtype.time_unit == "us") else str(dtype)


def _outcome(source: pl.Series, cast: pl.Series, bad: pl.Series, problem: str) -> CastOutcome:
    # A value that was there and is gone after the cast is lost too (whatever the reason).
    bad = (bad.fill_null(False) | (source.is_not_null() & cast.is_null())).alias("bad")
    return CastOutcome(cast.alias(source.name), bad, problem)


def _none(s: pl.Series) -> pl.Series:
    return pl.Series("bad", [False] * s.len(), dtype=pl.Boolean)


def _from_text(s: pl.Series, target: pl.DataType) -> CastOutcome:
    text = s.str.strip_chars()
    if target.is_integer():
        direct = text.cast(target, strict=False)
        # "3500.0" is the integer 3500: go through Float64, but only for whole numbers in range.
        as_float = text.cast(pl.Float64, strict=False)
        whole = as_float.is_finite() & (as_float == as_float.round())
        via_float = pl.Series(s.name, as_float).set(~whole.fill_null(False), None)
        via_float = via_float.cast(target, strict=False)
        cast = direct.zip_with(direct.is_not_null(), via_float)
        return _outcome(s, cast, _none(s), f"not a whole number that fits {dtype_name(target)}")
    if target.is_float():
        cast = text.cast(target, strict=False)
        wide = text.cast(pl.Float64, strict=False)
        overflow = wide.is_finite() & ~cast.is_finite()
        return _outcome(s, cast, overflow, f"not a number that fits {dtype_name(target)}")
    if target == pl.Boolean:
        cast = text.str.to_lowercase().replace_strict(
            _BOOL_TEXT, default=None, return_dtype=pl.Boolean
        )
        return _outcome(s, cast, _none(s), "not a boolean (true/false/1/0)")
    if target in (pl.Datetime, pl.Date):
        try:
            stamp = text.str.to_datetime(time_unit="us", strict=False)
        except pl.exceptions.PolarsError:  # no format could be inferred from any value
            stamp = pl.Series(s.name, [None] * s.len(), dtype=pl.Datetime("us"))
        return _to_date(s, stamp) if target == pl.Date else _outcome(
            s, stamp, _none(s), "not a date-time (e.g. 2024-01-05 13:45:00)"
        )
    if target == pl.String:
        return CastOutcome(s, _none(s))
    return CastOutcome(None, _none(s), f"text can't be read as {dtype_name(target)}")


def _to_date(source: pl.Series, stamp: pl.Series) -> CastOutcome:
    # A Date keeps no time of day: 13:45 would be dropped.
    has_time = stamp.dt.time() != time(0)
    return _outcome(source, stamp.dt.date(), has_time, "not a date without a time of day")


def _from_number(s: pl.Series, target: pl.DataType) -> CastOutcome:
    to = dtype_name(target)
    wide = s.cast(pl.Float64) if s.dtype != pl.Boolean else s.cast(pl.Int8)
    if target.is_integer():
        cast = s.cast(target, strict=False)  # out of range (and NaN/inf) become null
        if s.dtype.is_float():
            changed = cast.cast(pl.Float64) != s.cast(pl.Float64)
            return _outcome(s, cast, changed, f"not a whole number that fits {to}")
        return _outcome(s, cast, _none(s), f"out of range for {to}")
    if target.is_float():
        cast = s.cast(target, strict=False)
        if s.dtype.is_integer():
            # Integers beyond 2**24 (Float32) or 2**53 (Float64) would round: compare back.
            changed = cast.cast(pl.Int64, strict=False) != s.cast(pl.Int64, strict=False)
            return _outcome(s, cast, changed, f"integer not exactly representable in {to}")
        return _outcome(s, cast, wide.is_finite() & ~cast.is_finite(), f"overflows {to}")
    if target == pl.Boolean:
        ok = (wide == 0) | (wide == 1)
        cast = pl.Series(s.name, wide).set(~ok.fill_null(False), None).cast(pl.Boolean)
        return _outcome(s, cast, _none(s), "not a boolean (0 or 1)")
    return CastOutcome(None, _none(s), f"dtype {dtype_name(s.dtype)} can't be read as {to}")


def exact_cast(s: pl.Series, target: pl.DataType) -> CastOutcome:
    """Cast ``s`` to ``target`` keeping every value, or say which rows would change."""
    source, to = s.dtype, dtype_name(target)
    if source == target or source == pl.Null:
        return CastOutcome(s.cast(target), _none(s))
    if source in (pl.String, pl.Categorical) or isinstance(source, pl.Enum):
        return _from_text(s.cast(pl.String), target)
    if source.is_numeric() or source == pl.Boolean:
        return _from_number(s, target)
    if isinstance(source, pl.Datetime) and target == pl.Datetime:
        cast = s.cast(target)  # another unit or zone-naive: ns would lose sub-microseconds
        return _outcome(s, cast, cast.cast(source) != s, f"finer than {to} precision")
    if isinstance(source, pl.Datetime) and target == pl.Date:
        return _to_date(s, s.cast(pl.Datetime("us")))
    if source == pl.Date and target == pl.Datetime:
        return CastOutcome(s.cast(target), _none(s))
    return CastOutcome(None, _none(s), f"dtype {dtype_name(source)} can't be read as {to}")


def cast_exactly(df: pl.DataFrame, dtypes: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast each named column whose cast is exact; leave the others as they are, so that
    validation's schema rule can name them with their offending rows."""
    out = []
    for name, target in dtypes.items():
        if name in df.columns and df.schema[name] != target:
            outcome = exact_cast(df.get_column(name), target)
            if outcome.exact:
                out.append(outcome.series)
    return df.with_columns(out) if out else df
