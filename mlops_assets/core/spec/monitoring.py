"""Per-dataset monitoring settings (`monitoring:` in the spec), in the units a user thinks in
(rows, days) and converted to batches with the dataset's batch size, with defaults that adapt to
it: a 61-row batch can never hold 10 positives and 10 negatives, a 500-row one usually does."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, model_validator

from mlops_assets.core.spec.base import _Strict

if TYPE_CHECKING:
    from mlops_assets.core.spec.model import BatchSpec, DatasetSpec

# Time batches: the retrain windows of a daily dataset before specs had a say (30 / 7 days).
DEFAULT_TRAIN_DAYS, DEFAULT_EVAL_DAYS = 30, 7
# Row batches: enough rows to train / evaluate on, and never fewer batches than these.
DEFAULT_TRAIN_ROWS, DEFAULT_EVAL_ROWS = 10_000, 2_000
MIN_TRAIN_BATCHES, MIN_EVAL_BATCHES = 10, 3


class WindowSpec(_Strict):
    """A window of recent batches, given as exactly one of rows, days or batches."""

    rows: Annotated[int, Field(gt=0)] | None = None
    days: Annotated[float, Field(gt=0)] | None = None
    batches: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _check(self) -> WindowSpec:
        given = [f for f in ("rows", "days", "batches") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of rows, days, batches (got {given or 'none'})")
        return self

    def problem(self, batch: BatchSpec) -> str | None:
        """Why this window cannot be converted with the dataset's batches (else None)."""
        if self.rows is not None and batch.rows is None:
            return "rows: needs row batches (batch.rows); use days or batches"
        if self.days is not None and batch.rows is not None:
            return "days: needs time batches (batch.frequency); use rows or batches"
        return None

    def in_batches(self, batch: BatchSpec) -> int:
        if self.batches is not None:
            return self.batches
        if self.rows is not None:
            return max(1, math.ceil(self.rows / batch.rows))  # type: ignore[operator]
        return max(1, math.ceil(self.days * 86_400 / batch.step.total_seconds()))  # type: ignore[operator]


class MonitoringSpec(_Strict):
    """Label minimums of the performance check and the retrain windows of one dataset."""

    min_positives: Annotated[int, Field(ge=1)] | None = None
    min_negatives: Annotated[int, Field(ge=1)] | None = None
    min_labelled_rows: Annotated[int, Field(ge=2)] | None = None
    retrain_window: WindowSpec | None = None
    eval_window: WindowSpec | None = None


@dataclass(frozen=True)
class ResolvedMonitoring:
    min_positives: int
    min_negatives: int
    min_labelled_rows: int
    retrain_batches: int
    eval_batches: int
    retrain_from_spec: bool  # the spec set it (it then wins over the deployment's environment)
    eval_from_spec: bool


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def resolve_monitoring(spec: DatasetSpec) -> ResolvedMonitoring:
    """The spec's monitoring settings with every default filled in for its batch size."""
    batch, m = spec.batch, spec.monitoring or MonitoringSpec()
    if batch.rows is not None:
        rows = batch.rows
        # About 2% of a batch per class, between 3 and the historical 10 (reached at 500 rows).
        min_class = _clamp(rows // 50, 3, 10)
        min_rows = _clamp(rows // 10, 10, 30)
        train = WindowSpec(batches=max(MIN_TRAIN_BATCHES, math.ceil(DEFAULT_TRAIN_ROWS / rows)))
        evaluate = WindowSpec(batches=max(MIN_EVAL_BATCHES, math.ceil(DEFAULT_EVAL_ROWS / rows)))
    else:
        min_class, min_rows = 10, 30
        train, evaluate = WindowSpec(days=DEFAULT_TRAIN_DAYS), WindowSpec(days=DEFAULT_EVAL_DAYS)
    return ResolvedMonitoring(
        min_positives=m.min_positives or min_class,
        min_negatives=m.min_negatives or min_class,
        min_labelled_rows=m.min_labelled_rows or min_rows,
        retrain_batches=(m.retrain_window or train).in_batches(batch),
        eval_batches=(m.eval_window or evaluate).in_batches(batch),
        retrain_from_spec=m.retrain_window is not None,
        eval_from_spec=m.eval_window is not None,
    )
