"""Shadow and canary, as pure functions: sticky assignment of a request key to the challenger,
and the verdict on a challenger once labels arrived.

The verdict uses the batch promotion's own test (:func:`core.promotion.decide_promotion`: DeLong
for AUC, a paired bootstrap otherwise). Both models score every request while an experiment runs
(the one not served in shadow), so every labelled row carries both scores and the comparison is
paired, exactly as in batch promotion.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlops_assets.core.promotion import PromotionPolicy, decide_promotion

Mode = Literal["off", "shadow", "canary"]
Action = Literal["continue", "promote", "stop"]


def assign_challenger(request_key: str, share: float, salt: str) -> bool:
    """True when `request_key` goes to the challenger: a hash of (salt, key) mapped to [0, 1)
    and compared with `share`. The same key always gets the same answer for one salt (the
    challenger's version), so a user stays on one model for a whole experiment."""
    if share <= 0.0:
        return False
    if share >= 1.0:
        return True
    digest = hashlib.sha256(f"{salt}\x00{request_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < share


@dataclass(frozen=True)
class CanaryPolicy:
    """When to judge a challenger: not before `min_labels` labelled rows; promote when the
    promotion test says the challenger is better, stop when the same test says the champion is
    better (the roles swapped), and stop as inconclusive after `max_labels`."""

    min_labels: int = 200
    max_labels: int = 20_000
    promotion: PromotionPolicy = field(default_factory=PromotionPolicy)


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str
    n: int
    decision: dict[str, Any] | None = None  # challenger vs champion (promote?)
    reverse: dict[str, Any] | None = None  # champion vs challenger (is it worse?)


def judge(
    y: np.ndarray,
    champion_scores: np.ndarray,
    challenger_scores: np.ndarray,
    *,
    champion_version: str,
    challenger_version: str,
    policy: CanaryPolicy,
) -> Verdict:
    n = len(y)
    if n < policy.min_labels:
        return Verdict("continue", f"{n} labelled rows, judging from {policy.min_labels}", n)
    forward = decide_promotion(
        y, champion_scores, challenger_scores, challenger_version=challenger_version,
        champion_version=champion_version, policy=policy.promotion)
    if forward.promote:
        return Verdict("promote", f"canary {challenger_version} wins on {n} labelled rows: "
                       f"{forward.reason}", n, forward.to_dict())
    reverse = decide_promotion(
        y, challenger_scores, champion_scores, challenger_version=champion_version,
        champion_version=challenger_version, policy=policy.promotion)
    if reverse.promote:
        return Verdict("stop", f"canary {challenger_version} is worse than {champion_version} "
                       f"on {n} labelled rows: {reverse.reason}", n, forward.to_dict(),
                       reverse.to_dict())
    if n >= policy.max_labels:
        return Verdict("stop", f"inconclusive after {n} labelled rows: {forward.reason}", n,
                       forward.to_dict(), reverse.to_dict())
    return Verdict("continue", f"not decided on {n} labelled rows: {forward.reason}", n,
                   forward.to_dict(), reverse.to_dict())
