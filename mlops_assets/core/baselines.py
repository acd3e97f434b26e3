"""Baselines a model has to beat on the same rows: the base rate (the training mean of the target,
a constant score) and a linear model on the same features (logistic regression for binary
targets, ridge regression for regression ones).

numpy + polars only, no scikit-learn: the linear model is a few Newton steps on at most a few
hundred columns (standardized numerics + one-hot categoricals), exact and deterministic.
State is a JSON-able dict, so a baseline can be stored next to the evaluation and re-scored.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

Task = Literal["binary", "regression"]

BASE_RATE = "base_rate"
LINEAR = "logistic"  # the name the quality bar uses; ridge regression for regression targets
BASELINES = (BASE_RATE, LINEAR)


@dataclass
class LinearBaseline:
    task: Task
    numeric: list[str]
    categorical: list[str]
    means: list[float]
    stds: list[float]
    vocab: dict[str, list[str]]
    coef: list[float]  # intercept first, then numerics, then one-hot columns in vocab order
    l2: float
    iterations: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinearBaseline:
        return cls(**d)

    def design(self, frame: pl.DataFrame) -> np.ndarray:
        """[1, standardized numerics, one-hot categoricals]; unseen categories are all-zero."""
        cols: list[np.ndarray] = [np.ones(frame.height)]
        for c, mean, std in zip(self.numeric, self.means, self.stds, strict=True):
            x = frame[c].cast(pl.Float64).fill_nan(None).fill_null(mean).to_numpy()
            cols.append((x - mean) / std)
        for c in self.categorical:
            values = frame[c].cast(pl.Utf8).to_numpy()
            cols.extend((values == v).astype(np.float64) for v in self.vocab[c])
        return np.column_stack(cols)

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        z = self.design(frame) @ np.asarray(self.coef)
        return 1.0 / (1.0 + np.exp(-z)) if self.task == "binary" else z


def _stats(x: np.ndarray) -> tuple[float, float]:
    finite = x[np.isfinite(x)]
    mean = float(finite.mean()) if finite.size else 0.0
    std = float(finite.std(ddof=1)) if finite.size > 1 else 1.0
    # Constant / all-null columns: std 1 keeps them at 0 instead of dividing by 0.
    return mean, std if math.isfinite(std) and std > 1e-12 else 1.0


def fit_linear(
    train: pl.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    target: str,
    task: Task,
    l2: float = 1e-3,
    min_category_count: int = 5,
    max_iter: int = 50,
) -> LinearBaseline:
    """L2-penalized logistic (Newton / IRLS) or ridge regression on the training rows.

    `l2` is per row (the penalty is l2 * n * |w|^2, intercept unpenalized), so its strength
    does not depend on the window size."""
    data = train.filter(pl.col(target).is_not_null())
    if data.height == 0:
        raise ValueError("no labelled training rows for the baseline")
    means, stds = [], []
    for c in numeric:
        m, s = _stats(data[c].cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64))
        means.append(m)
        stds.append(s)
    vocab = {}
    for c in categorical:
        counts = data.select(pl.col(c).cast(pl.Utf8)).drop_nulls().group_by(c).len()
        # Sorted: the column layout does not depend on row order.
        vocab[c] = sorted(counts.filter(pl.col("len") >= min_category_count)[c].to_list())
    model = LinearBaseline(task, list(numeric), list(categorical), means, stds, vocab, [], l2, 0)
    x = model.design(data)
    y = data[target].cast(pl.Float64).to_numpy()
    n, k = x.shape
    penalty = np.full(k, l2 * n)
    penalty[0] = 0.0
    if task == "regression":
        w = np.linalg.solve(x.T @ x + np.diag(penalty) + 1e-9 * np.eye(k), x.T @ y)
        model.coef, model.iterations = w.tolist(), 1
        return model
    w = np.zeros(k)
    prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    w[0] = math.log(prior / (1 - prior))  # start at the base rate: Newton converges in a few
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is recorded
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(k)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    model.coef, model.iterations = w.tolist(), it
    return model


def base_rate_scores(train_target: np.ndarray, n: int) -> np.ndarray:
    """The training mean as every row's score (a probability for binary targets)."""
    y = np.asarray(train_target, dtype=np.float64)
    y = y[np.isfinite(y)]
    return np.full(n, float(y.mean()) if y.size else 0.0)
