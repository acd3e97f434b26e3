"""Champion/challenger: promote a challenger only when it is measurably better.

Both models are scored on the same rows (the most recent labelled window), so the comparison is
paired: DeLong's test for AUC (exact and fast) or a paired bootstrap for any other metric. The
challenger wins when its improvement is at least `min_improvement` AND the one-sided p-value of
"the challenger is not better" is at most `alpha`; both numbers and the reason are recorded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True)
class PromotionPolicy:
    metric: str = "auc"  # regression datasets use rmse (lower is better)
    min_improvement: float = 0.005  # in metric units, oriented so positive = challenger better
    alpha: float = 0.05
    test: Literal["delong", "bootstrap"] = "delong"  # delong applies to auc only
    n_bootstrap: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger_version: str
    champion_version: str | None
    metric: str
    test: str
    n: int
    champion_value: float | None = None
    challenger_value: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    min_improvement: float | None = None
    alpha: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_promotion(
    y_true: np.ndarray,
    champion_scores: np.ndarray | None,
    challenger_scores: np.ndarray,
    *,
    challenger_version: str,
    champion_version: str | None,
    policy: PromotionPolicy,
) -> PromotionDecision:
    # metrics pulls in scipy.stats (~1 s): imported here so loading the code location stays fast.
    from mlops_assets.core.metrics import delong_auc_test, paired_bootstrap_compare

    n = len(y_true)
    if champion_scores is None or champion_version is None:
        return PromotionDecision(
            promote=True, reason="no champion yet: the first model that passed evaluation wins",
            challenger_version=challenger_version, champion_version=None,
            metric=policy.metric, test="none", n=n,
        )
    if policy.test == "delong" and policy.metric == "auc":
        result = delong_auc_test(y_true, champion_scores, challenger_scores)
        values = result["auc_a"], result["auc_b"]
        test = "delong"
    else:
        result = paired_bootstrap_compare(
            y_true, champion_scores, challenger_scores, metric=policy.metric,
            n_bootstrap=policy.n_bootstrap, seed=policy.seed,
        )
        values = result.get("value_a"), result.get("value_b")
        test = "paired_bootstrap"
    delta, p_value = result.get("delta"), result.get("p_value")
    if delta is None or p_value is None:
        promote, reason = False, f"{policy.metric} is undefined on this window (one class only?)"
    elif delta < policy.min_improvement:
        promote = False
        reason = (f"challenger {policy.metric} better by {delta:+.4f}, below the required "
                  f"margin {policy.min_improvement}")
    elif p_value > policy.alpha:
        promote = False
        reason = (f"improvement {delta:+.4f} is not significant ({test} p={p_value:.3g} > "
                  f"alpha {policy.alpha})")
    else:
        promote = True
        reason = (f"challenger {policy.metric} better by {delta:+.4f} "
                  f"(>= {policy.min_improvement}), {test} p={p_value:.3g} <= {policy.alpha}")
    return PromotionDecision(
        promote=promote, reason=reason, challenger_version=challenger_version,
        champion_version=champion_version, metric=policy.metric, test=test, n=n,
        champion_value=values[0], challenger_value=values[1], delta=delta,
        ci_low=result.get("ci_low"), ci_high=result.get("ci_high"), p_value=p_value,
        min_improvement=policy.min_improvement, alpha=policy.alpha,
    )
