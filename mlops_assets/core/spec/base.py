"""What every part of the spec shares: dtype names, the strict pydantic base, SpecError."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict

DATASETS_DIR = Path(__file__).resolve().parent.parent.parent / "datasets"

# Feature names built from the time column by features.build_features; a spec may list them in
# features.numeric without declaring them as raw columns.
TIME_FEATURES = ("hour_of_day", "day_of_week")

# The dtypes a column may declare, by polars name. Datetime means naive microseconds.
DTYPES: dict[str, pl.DataType] = {
    "Float64": pl.Float64(),
    "Float32": pl.Float32(),
    "Int64": pl.Int64(),
    "Int32": pl.Int32(),
    "Int16": pl.Int16(),
    "Int8": pl.Int8(),
    "UInt64": pl.UInt64(),
    "UInt32": pl.UInt32(),
    "UInt16": pl.UInt16(),
    "UInt8": pl.UInt8(),
    "Boolean": pl.Boolean(),
    "String": pl.String(),
    "Date": pl.Date(),
    "Datetime": pl.Datetime("us"),
}
_KIND_DTYPES = {
    "numeric": {n for n in DTYPES if n.startswith(("Float", "Int", "UInt"))} | {"Boolean"},
    "categorical": {"String", "Boolean"} | {n for n in DTYPES if n.startswith(("Int", "UInt"))},
    "timestamp": {"Datetime", "Date"},
}
# The file-order row index that ingestion adds to row-batched datasets (no time column): it is the
# order that features, training's validation split and scoring follow, and it ties each row to
# its batch ([offset, offset + rows)). Never a declared column.
ROW_INDEX = "__row"
_FREQUENCY = re.compile(r"^(\d+)([dh])$")
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class SpecError(ValueError):
    """A spec that cannot be loaded or is inconsistent; the message names the file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_callable(value: str | None) -> str | None:
    if value is not None and not _CALLABLE.match(value):
        raise ValueError(f"{value!r} is not of the form 'package.module:function'")
    return value


