"""Where a dataset's raw rows come from: its sources (one file or several concatenated, with
renames) and how they are combined without code (declared joins)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

import polars as pl
from pydantic import Field, model_validator

from mlops_assets.core.spec.base import DTYPES, SpecError, _Strict


class SourceSpec(_Strict):
    """One raw input. ``path`` is a local path (relative to the spec file), a
    ``package://<dist>/<path>`` file shipped by an installed distribution, a
    ``lakefs://<repo>/<ref>/<path>`` object (read by the caller) or ``synthetic://?...``."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z_]\w*$")]
    # One file, or several of the same kind concatenated in order (e.g. a reference and an
    # analysis file): `how: diagonal` fills columns a file lacks with nulls.
    path: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)]
    how: Literal["vertical", "diagonal"] = "vertical"
    # Header name -> new name, per file before concatenation: fixes empty ("" : an unnamed
    # index column) or awkward headers without code.
    rename: dict[str, str] = {}
    format: Literal["csv", "parquet", "synthetic"] | None = None
    # CSV column dtypes to read with (the rest are inferred from the first rows): explicit types
    # are faster than inferring over the whole file and never guess wrong on a late "1.5".
    dtypes: dict[str, str] = {}

    @property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @property
    def scheme(self) -> Literal["file", "package", "lakefs", "synthetic"]:
        return path_scheme(self.paths[0])

    @property
    def resolved_format(self) -> Literal["csv", "parquet", "synthetic"]:
        if self.format is not None:
            return self.format
        if self.scheme == "synthetic":
            return "synthetic"
        return _format_of(self.paths[0])

    def lakefs_location(self) -> tuple[str, str, str]:
        """(repository, ref, object path) of a ``lakefs://`` source."""
        if self.scheme != "lakefs":
            raise SpecError(f"source {self.name!r} is not a lakefs:// source")
        repo, ref, path = self.paths[0].removeprefix("lakefs://").split("/", 2)
        return repo, ref, path

    def package_location(self, path: str | None = None) -> tuple[str, str]:
        """(distribution name, path inside it) of a ``package://`` path (default: the first)."""
        path = path or self.paths[0]
        if path_scheme(path) != "package":
            raise SpecError(f"source {self.name!r}: {path} is not a package:// path")
        dist, inner = path.removeprefix("package://").split("/", 1)
        return dist, inner

    def synthetic_params(self) -> dict[str, int]:
        """Integer query parameters of a ``synthetic://?a=1&b=2`` source."""
        query = urlsplit(self.paths[0]).query
        return {key: int(value) for key, value in parse_qsl(query)}

    def polars_dtypes(self) -> dict[str, pl.DataType]:
        return {name: DTYPES[d] for name, d in self.dtypes.items()}

    def __hash__(self) -> int:  # frozen, but the dict field defeats pydantic's default hash
        return hash(self.model_dump_json())

    @model_validator(mode="after")
    def _check_path(self) -> SourceSpec:
        bad = sorted(d for d in self.dtypes.values() if d not in DTYPES)
        if bad:
            raise ValueError(f"dtypes: unknown {bad}; one of {', '.join(DTYPES)}")
        paths = self.paths
        if len(paths) > 1:
            if any(path_scheme(p) in ("lakefs", "synthetic") for p in paths):
                raise ValueError("path: only local and package:// files can be concatenated")
            if len({_format_of(p) for p in paths}) > 1 and self.format is None:
                raise ValueError("path: files of different formats (set format, or split them "
                                 "into sources)")
        elif self.how != "vertical":
            raise ValueError("how: only applies when path lists several files")
        for i, path in enumerate(paths):
            at = f"path[{i}]" if len(paths) > 1 else "path"
            if not path:
                raise ValueError(f"{at}: empty")
            if path_scheme(path) == "lakefs" and path.removeprefix("lakefs://").count("/") < 2:
                raise ValueError(f"{at} {path!r}: expected lakefs://<repo>/<ref>/<path>")
            if path_scheme(path) == "package" and "/" not in path.removeprefix("package://"):
                raise ValueError(f"{at} {path!r}: expected package://<distribution>/<path>")
        if self.scheme == "synthetic":
            try:
                self.synthetic_params()
            except ValueError:
                raise ValueError(f"path {paths[0]!r}: query values must be integers") from None
        new = list(self.rename.values())
        bad = sorted({n for n in new if not n.strip() or new.count(n) > 1})
        if bad:
            raise ValueError(f"rename: new names must be non-empty and distinct, got {bad}")
        return self


def path_scheme(path: str) -> Literal["file", "package", "lakefs", "synthetic"]:
    for scheme in ("package", "lakefs", "synthetic"):
        if path.startswith(f"{scheme}://"):
            return scheme  # type: ignore[return-value]
    return "file"


def _format_of(path: str) -> Literal["csv", "parquet", "synthetic"]:
    if path_scheme(path) == "synthetic":
        return "synthetic"
    # Strip compression suffixes so "flights.csv.zip" is a csv.
    name = re.sub(r"\.(zip|gz)$", "", path.lower())
    return "parquet" if name.endswith((".parquet", ".pq")) else "csv"


class JoinSpec(_Strict):
    """Join another source onto the first one (a target delivered in its own file, a lookup
    table): ``{source: labels, on: id, how: left}``."""

    source: str
    on: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)]
    how: Literal["left", "inner"] = "left"

    @property
    def on_columns(self) -> list[str]:
        return [self.on] if isinstance(self.on, str) else list(self.on)


class TimeFromSpec(_Strict):
    """Build the time column from parts: a date column plus an optional hour column
    (``{date: day, hour: hour}``), or a day number counted from a start date
    (``{day_index: day, start: 2020-01-01}``, day 0 = start)."""

    date: str | None = None
    hour: str | None = None
    format: str | None = None  # strptime format of a text date; default ISO (2020-01-31)
    day_index: str | None = None
    start: dt.date | None = None

    @model_validator(mode="after")
    def _check(self) -> TimeFromSpec:
        if (self.date is None) == (self.day_index is None):
            raise ValueError("give either date (plus an optional hour) or day_index + start")
        if self.day_index is not None:
            if self.start is None:
                raise ValueError("day_index needs start (the date of day 0)")
            if self.hour is not None or self.format is not None:
                raise ValueError("hour and format go with date, not day_index")
        elif self.start is not None:
            raise ValueError("start goes with day_index, not date")
        return self

    def parts(self) -> list[str]:
        return [c for c in (self.date, self.hour, self.day_index) if c is not None]

    def expr(self, name: str) -> pl.Expr:
        """The naive microsecond timestamp built from the parts, named ``name``."""
        if self.day_index is not None:
            start = pl.lit(dt.datetime.combine(self.start, dt.time()))  # type: ignore[arg-type]
            days = pl.col(self.day_index).cast(pl.Int64)
            return (start + pl.duration(days=days)).cast(pl.Datetime("us")).alias(name)
        day = pl.col(self.date)  # type: ignore[arg-type]
        text = day.cast(pl.String)
        stamp = (text.str.strptime(pl.Datetime("us"), self.format) if self.format
                 else text.str.to_datetime(time_unit="us"))
        if self.hour is not None:
            stamp = stamp + pl.duration(hours=pl.col(self.hour).cast(pl.Int64))
        return stamp.alias(name)


