"""The decision threshold of a binary model, chosen on validation rows (never on the rows it is
evaluated on) for a configured objective:

- ``f1``: the threshold with the highest F1 (a rare positive class makes 0.5 useless: a
  calibrated model with 17% positives almost never scores above 0.5);
- ``cost``: the lowest expected cost when a missed positive costs ``cost_ratio`` times a false
  alarm (the Bayes-optimal threshold of a calibrated model is 1 / (1 + cost_ratio)).

numpy only. Every candidate threshold is a distinct score, so one sort evaluates them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

Objective = Literal["f1", "cost"]
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    objective: str
    cost_ratio: float | None
    value: float | None  # the objective at the threshold, on the validation rows
    n: int
    chosen_on: str  # which rows: "validation" (or "default" when there were none)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_threshold(
    y_true: Any, y_prob: Any, objective: Objective = "f1", cost_ratio: float = 1.0
) -> ThresholdChoice:
    """Best threshold t (predict positive when p >= t) on the given validation rows."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_prob, dtype=np.float64).ravel()
    if objective not in ("f1", "cost"):
        raise ValueError(f"unknown threshold objective {objective!r}: f1 or cost")
    if y.shape != p.shape:
        raise ValueError(f"shape mismatch: {y.shape} vs {p.shape}")
    ratio = cost_ratio if objective == "cost" else None
    if y.size == 0 or y.min() == y.max():
        # No validation rows, or one class only: nothing to choose on.
        return ThresholdChoice(DEFAULT_THRESHOLD, objective, ratio, None, int(y.size), "default")
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    # Cut after the last row of each run of equal scores: ties go to the same side.
    last = np.r_[np.flatnonzero(np.diff(ps) != 0), ps.size - 1]
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    pos = ys.sum()
    fn = pos - tp
    if objective == "f1":
        score = 2 * tp / (2 * tp + fp + fn)
        best = int(np.argmax(score))
        value = float(score[best])
    else:
        # Also consider predicting nothing positive (cost = all positives missed).
        cost = np.r_[cost_ratio * pos, cost_ratio * fn + fp] / y.size
        best = int(np.argmin(cost)) - 1
        value = float(cost[best + 1])
        if best < 0:
            return ThresholdChoice(float(np.nextafter(ps[0], np.inf)), objective, ratio, value,
                                   int(y.size), "validation")
    return ThresholdChoice(float(ps[last[best]]), objective, ratio, value, int(y.size),
                           "validation")
