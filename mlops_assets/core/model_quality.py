"""What the training stage needs besides the network: the baselines fitted on the model's own
training split, the decision threshold chosen on its validation split, and scoring both on any
later rows. Pure (no Dagster, no lakeFS); torch only through core.model, imported lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from mlops_assets.core.baselines import (
    BASE_RATE,
    LINEAR,
    LinearBaseline,
    base_rate_scores,
    fit_linear,
)
from mlops_assets.core.threshold import DEFAULT_THRESHOLD, ThresholdChoice, choose_threshold

if TYPE_CHECKING:
    from mlops_assets.core.model import TrainedModel


def split_like_training(trained: TrainedModel, frame: pl.DataFrame) -> tuple[pl.DataFrame,
                                                                           pl.DataFrame]:
    """The (fit, validation) rows train_model used: labelled rows, cut by time the same way."""
    from mlops_assets.core.model import time_split

    data = frame.filter(pl.col(trained.target).is_not_null())
    return time_split(data, trained.time_column, trained.config.val_fraction)


def pick_threshold(
    trained: TrainedModel, validation: pl.DataFrame, objective: str, cost_ratio: float
) -> ThresholdChoice | None:
    """The decision threshold on the validation rows (None for regression)."""
    from mlops_assets.core.model import predict

    if trained.task != "binary":
        return None
    y = validation.get_column(trained.target).to_numpy()
    return choose_threshold(y, predict(trained, validation), objective,  # type: ignore[arg-type]
                            cost_ratio)


def fit_baselines(trained: TrainedModel, fit_rows: pl.DataFrame) -> dict[str, Any]:
    """The base rate and the linear baseline, fitted on exactly the rows the network fitted on
    (not its validation rows), as a JSON-able document."""
    linear = fit_linear(fit_rows, numeric=trained.numeric, categorical=trained.categorical,
                        target=trained.target, task=trained.task)
    y = fit_rows.get_column(trained.target).cast(pl.Float64).to_numpy()
    return {"rows": fit_rows.height, BASE_RATE: float(np.nanmean(y)),
            LINEAR: linear.to_dict()}


def baseline_scores(doc: dict[str, Any], frame: pl.DataFrame) -> dict[str, np.ndarray]:
    """Scores of every stored baseline on `frame` (same row order)."""
    return {
        BASE_RATE: base_rate_scores(np.array([doc[BASE_RATE]]), frame.height),
        LINEAR: LinearBaseline.from_dict(doc[LINEAR]).predict(frame),
    }


def record_threshold(record: dict[str, Any]) -> float:
    """The threshold stored in a model record; 0.5 for records older than the choice."""
    return float((record.get("decision_threshold") or {}).get("threshold", DEFAULT_THRESHOLD))
