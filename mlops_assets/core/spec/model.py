"""The dataset spec: one YAML file per dataset, validated by pydantic (v2).

Everything that the pipeline needs to know about a dataset lives in its spec: where the raw data
comes from, how it is cut into batches, which rules a batch must pass and which features the model
uses. The model is strict (``extra="forbid"`` everywhere) so that a typo is an error, not a
silently ignored field. See docs/dataset_spec.md for the reference.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import Field, PrivateAttr, model_validator

from mlops_assets.core.spec.base import (
    _FREQUENCY,
    _KIND_DTYPES,
    DTYPES,
    ROW_INDEX,
    TIME_FEATURES,
    SpecError,
    _check_callable,
    _Strict,
)
from mlops_assets.core.spec.monitoring import MonitoringSpec
from mlops_assets.core.spec.sources import JoinSpec, SourceSpec, TimeFromSpec


class BatchSpec(_Strict):
    """How raw data is cut into batches: time windows (``frequency`` from ``start`` to ``end``
    inclusive) when the dataset has a time column, else consecutive blocks of ``rows`` rows."""

    frequency: str | None = None
    start: date | None = None
    end: date | None = None
    rows: Annotated[int, Field(gt=0)] | None = None
    count: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _check(self) -> BatchSpec:
        if self.rows is None:
            missing = [f for f in ("frequency", "start", "end") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"time batches need {', '.join(missing)} (or use rows + count)")
            if not _FREQUENCY.match(self.frequency or ""):
                raise ValueError(f"frequency {self.frequency!r}: expected like '1d' or '6h'")
            if self.end < self.start:  # type: ignore[operator]
                raise ValueError(f"end {self.end} is before start {self.start}")
            if self.count is not None:
                raise ValueError("count is only for row batches (rows: N)")
        else:
            extra = [f for f in ("frequency", "start", "end") if getattr(self, f) is not None]
            if extra:
                raise ValueError(f"rows batches take no {', '.join(extra)}")
            if self.count is None:
                raise ValueError("rows batches need count (the number of batches)")
        return self

    @property
    def step(self) -> timedelta:
        match = _FREQUENCY.match(self.frequency or "")
        if not match:
            raise SpecError("row batches have no time step")
        n, unit = int(match.group(1)), match.group(2)
        return timedelta(days=n) if unit == "d" else timedelta(hours=n)


class TargetSpec(_Strict):
    """The label: ``column`` as is, or ``expression`` (a polars SQL expression over the raw
    columns, e.g. ``arr_delay > 15``) evaluated on it."""

    column: str
    expression: str | None = None
    task: Literal["binary", "regression"]

    def expr(self) -> pl.Expr:
        return pl.sql_expr(self.expression) if self.expression else pl.col(self.column)


class ColumnSpec(_Strict):
    """A raw column every batch must have, with the rules it must pass."""

    name: Annotated[str, Field(min_length=1)]
    kind: Literal["numeric", "categorical", "timestamp"]
    dtype: str
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    description: str | None = None

    @property
    def polars_dtype(self) -> pl.DataType:
        return DTYPES[self.dtype]

    @model_validator(mode="after")
    def _check(self) -> ColumnSpec:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r} unknown; one of {', '.join(DTYPES)}")
        if self.dtype not in _KIND_DTYPES[self.kind]:
            raise ValueError(f"dtype {self.dtype} does not fit kind {self.kind}")
        if (self.min is not None or self.max is not None) and self.kind != "numeric":
            raise ValueError("min/max apply to numeric columns only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        return self


class RollingRateSpec(_Strict):
    """Rate of the target among rows with the same ``by`` value in the ``window_days`` days
    strictly before a row's day."""

    by: str
    window_days: Annotated[int, Field(gt=0, le=366)]

    @property
    def rate_column(self) -> str:
        return f"{self.by}_target_rate_{self.window_days}d"

    @property
    def count_column(self) -> str:
        return f"{self.by}_count_{self.window_days}d"


class FeaturesSpec(_Strict):
    """Which columns the model uses. ``derived`` names the columns that ``function`` adds."""

    numeric: list[str] = []
    categorical: list[str] = []
    rolling_target_rates: list[RollingRateSpec] = []
    function: str | None = None
    derived: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> FeaturesSpec:
        _check_callable(self.function)
        if self.derived and self.function is None:
            raise ValueError("derived columns need a function that builds them")
        return self


class RowCountSpec(_Strict):
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _check(self) -> RowCountSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        return self


Baseline = Literal["base_rate", "logistic"]  # core.baselines.BASELINES


class QualityBarSpec(_Strict):
    """Which baselines (scored on the same evaluation rows) a model must significantly beat, and
    which it may tie but not lose to. The default asks a model to earn its complexity: beat the
    base rate AND a linear model on the same features. Relax `logistic` to `must_not_lose_to`
    only where a linear model is known to be the truth (the bundled synthetic stream)."""

    must_beat: list[Baseline] = ["base_rate", "logistic"]
    must_not_lose_to: list[Baseline] = []

    @model_validator(mode="after")
    def _check(self) -> QualityBarSpec:
        if both := sorted(set(self.must_beat) & set(self.must_not_lose_to)):
            raise ValueError(f"{both} in both must_beat and must_not_lose_to")
        return self


class DatasetSpec(_Strict):
    """A dataset: its sources, batches, raw columns and their rules, target and features."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    description: str = ""
    sources: Annotated[list[SourceSpec], Field(min_length=1)]
    prepare: str | None = None
    # Without code: the other sources joined onto the first one (instead of `prepare`).
    joins: list[JoinSpec] = []
    time_column: str | None = None
    # Without code: the time column built from parts (a date + an hour, or a day number).
    time_from: TimeFromSpec | None = None
    batch: BatchSpec
    target: TargetSpec
    keys: Annotated[list[str], Field(min_length=1)]
    columns: Annotated[list[ColumnSpec], Field(min_length=1)]
    features: FeaturesSpec
    row_count: RowCountSpec = RowCountSpec()
    groups: list[str] = []
    # A batch column the spec does not declare: "fail" the schema audit (default), or "drop" it
    # at ingestion. Never published silently (it may be personal data, e.g. an ssn).
    extra_columns: Literal["fail", "drop"] = "fail"
    # Label minimums of the performance check and retrain windows, in rows or days.
    monitoring: MonitoringSpec | None = None
    # The baselines a model must beat before it can become champion (evaluation's check).
    quality_bar: QualityBarSpec = QualityBarSpec()

    # The YAML file the spec came from (None when built in code): relative source paths resolve
    # against its folder.
    _source_file: Path | None = PrivateAttr(default=None)

    @property
    def source_file(self) -> Path | None:
        return self._source_file

    @cached_property
    def column_map(self) -> dict[str, ColumnSpec]:
        return {c.name: c for c in self.columns}

    def column(self, name: str) -> ColumnSpec:
        return self.column_map[name]

    @model_validator(mode="after")
    def _check(self) -> DatasetSpec:
        _check_callable(self.prepare)
        declared = [c.name for c in self.columns]
        cols = set(declared)
        problems: list[str] = []

        def need(field: str, names: list[str], allowed: set[str] = cols) -> None:
            for i, n in enumerate(names):
                if n not in allowed:
                    problems.append(f"{field}[{i}]: {n!r} is not a declared column")

        reserved = sorted(n for n in cols if n.startswith("__"))
        if reserved:
            problems.append(f"columns: {reserved} are reserved (names starting with '__' are "
                            f"internal, e.g. {ROW_INDEX!r})")
        dupes = sorted({n for n in declared if declared.count(n) > 1})
        if dupes:
            problems.append(f"columns: duplicate names {dupes}")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            problems.append("sources: duplicate source names")
        problems += self._combination_problems()

        if self.time_column is not None:
            if self.time_column not in cols:
                problems.append(f"time_column: {self.time_column!r} is not a declared column")
            elif self.column(self.time_column).kind != "timestamp":
                problems.append(f"time_column: {self.time_column!r} is not of kind timestamp")
            if self.batch.rows is not None:
                problems.append("batch: a dataset with a time_column has time batches, not rows")
        elif self.batch.rows is None:
            problems.append("batch: time batches (frequency) need a time_column; use rows")

        need("keys", self.keys)
        for field, names in (("keys", self.keys), ("time_column", [self.time_column])):
            for n in names:
                if n in cols and self.column(n).nullable:
                    problems.append(f"{field}: {n!r} must be declared nullable: false")

        if self.target.column not in cols:
            problems.append(f"target.column: {self.target.column!r} is not a declared column")
        if self.target.expression:
            try:
                pl.sql_expr(self.target.expression)
            except Exception as exc:  # polars raises several error types for bad SQL
                problems.append(
                    f"target.expression: cannot parse {self.target.expression!r}: {exc}"
                )

        feats = self.features
        time_feats = set(TIME_FEATURES) if self.time_column else set()
        derived = set(feats.derived)
        clash = sorted(derived & cols)
        if clash:
            problems.append(f"features.derived: {clash} already are declared columns")
        need("features.numeric", feats.numeric, cols | derived | time_feats)
        need("features.categorical", feats.categorical, cols | derived)
        for i, n in enumerate(feats.numeric):
            if n in cols and self.column(n).kind != "numeric":
                problems.append(f"features.numeric[{i}]: {n!r} is of kind {self.column(n).kind}")
            if n in self.keys or n == self.time_column:
                problems.append(f"features.numeric[{i}]: {n!r} is a key; keys stay exact")
        for i, n in enumerate(feats.categorical):
            if n in cols and self.column(n).kind != "categorical":
                problems.append(
                    f"features.categorical[{i}]: {n!r} is of kind {self.column(n).kind}"
                )
        both = sorted(set(feats.numeric) & set(feats.categorical))
        if both:
            problems.append(f"features: {both} listed as both numeric and categorical")
        leaks = sorted({self.target.column} & (set(feats.numeric) | set(feats.categorical)))
        if leaks:
            problems.append(f"features: target column {leaks[0]!r} cannot be a feature")
        for i, r in enumerate(feats.rolling_target_rates):
            if r.by not in cols | derived:
                problems.append(
                    f"features.rolling_target_rates[{i}].by: {r.by!r} is not a declared column"
                )
        if feats.rolling_target_rates and self.time_column is None:
            problems.append("features.rolling_target_rates: need a time_column")
        need("groups", self.groups)
        m = self.monitoring
        for field, window in (("retrain_window", m and m.retrain_window),
                              ("eval_window", m and m.eval_window)):
            if window and (problem := window.problem(self.batch)):
                problems.append(f"monitoring.{field}.{problem}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _combination_problems(self) -> list[str]:
        """How the sources become one frame: `prepare` (code) or declared `joins`."""
        problems: list[str] = []
        names = [s.name for s in self.sources]
        if self.joins and self.prepare is not None:
            problems.append("joins: give joins or prepare, not both (prepare combines the "
                            "sources itself)")
        for i, j in enumerate(self.joins):
            if j.source not in names:
                problems.append(f"joins[{i}].source: {j.source!r} is not a source ({names})")
            elif j.source == names[0]:
                problems.append(f"joins[{i}].source: {j.source!r} is the first source, which "
                                "the others are joined onto")
        if len(self.sources) > 1 and self.prepare is None:
            unused = [n for n in names[1:] if n not in {j.source for j in self.joins}]
            if unused:
                problems.append(f"joins: sources {unused} are not joined (declare joins, or a "
                                "prepare function that combines the sources)")
        if self.time_from is not None:
            if self.time_column is None:
                problems.append("time_from: needs a time_column to build")
            clash = sorted(set(self.time_from.parts()) & {self.time_column})
            if clash:
                problems.append(f"time_from: a part {clash} cannot be the time_column itself")
        return problems

    # --- batches -------------------------------------------------------------------------

    def partition_keys(self) -> list[str]:
        """Every batch's key: "2013-01-01" (daily), "2013-01-01-06:00" (hourly), "00003" (rows)."""
        if self.batch.rows is not None:
            return [f"{i:05d}" for i in range(self.batch.count or 0)]
        step = self.batch.step
        t = datetime.combine(self.batch.start, time())  # type: ignore[arg-type]
        stop = datetime.combine(self.batch.end, time()) + timedelta(days=1)  # type: ignore[arg-type]
        keys = []
        while t < stop:
            keys.append(self._format_key(t))
            t += step
        return keys

    def _format_key(self, t: datetime) -> str:
        # Daily keys match Dagster's daily partitions; sub-daily ones its hourly format.
        daily = self.batch.step % timedelta(days=1) == timedelta(0)
        return t.strftime("%Y-%m-%d" if daily else "%Y-%m-%d-%H:%M")

    def batch_window(self, key: str) -> tuple[datetime, datetime]:
        """The half-open window [start, end) of a time batch."""
        if self.batch.rows is not None:
            raise SpecError(f"{self.name}: row batches have no time window")
        try:
            fmt = "%Y-%m-%d" if len(key) == 10 else "%Y-%m-%d-%H:%M"
            start = datetime.strptime(key, fmt)
        except ValueError:
            raise SpecError(f"{self.name}: {key!r} is not a partition key") from None
        if self._format_key(start) != key or key not in self._key_set:
            raise SpecError(f"{self.name}: {key!r} is not a partition key")
        return start, start + self.batch.step

    def batch_rows(self, key: str) -> tuple[int, int]:
        """(offset, length) of a row batch within the prepared frame."""
        if self.batch.rows is None or key not in self._key_set:
            raise SpecError(f"{self.name}: {key!r} is not a row-batch partition key")
        return int(key) * self.batch.rows, self.batch.rows

    @cached_property
    def _key_set(self) -> frozenset[str]:
        return frozenset(self.partition_keys())


