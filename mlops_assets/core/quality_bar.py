"""The quality bar: an absolute floor on the headline metric AND a paired win over baselines scored
on the same held-out rows. An AUC of 0.66 means little if a logistic regression on the same
features gets 0.67; a model that never beats the base rate carries no signal at all.

The comparison is paired (same rows): DeLong's test for AUC, a paired bootstrap otherwise (both
in core.metrics). A baseline is beaten when the model is better by a positive delta and the
one-sided p-value of "the model is not better" is at most `alpha`. A baseline the model must
not lose to (`must_not_lose_to`) fails the bar only when the whole CI of the delta is below
-`margin` (a non-inferiority test: a tie within the margin is not a loss).

The dataset spec chooses the baselines (`quality_bar:` in the spec, docs/dataset_spec.md): by
default a model must beat both the base rate and a logistic regression on the same features. The
bundled synthetic stream relaxes the logistic one to "must not lose to", because its label IS a
logistic function of its features and nothing can beat a logistic regression there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlops_assets.core.metrics import HIGHER_IS_BETTER, delong_auc_test, paired_bootstrap_compare


@dataclass(frozen=True)
class QualityBar:
    metric: str = "auc"
    minimum: float = 0.55  # floor for higher-is-better metrics, ceiling for lower-is-better
    must_beat: tuple[str, ...] = ("base_rate", "logistic")  # as the spec's default
    must_not_lose_to: tuple[str, ...] = ()
    alpha: float = 0.05
    margin: float = 0.01  # non-inferiority margin for must_not_lose_to, in metric units
    n_bootstrap: int = 1000
    seed: int = 0


@dataclass
class QualityVerdict:
    passed: bool
    metric: str
    value: float | None
    minimum: float
    reasons: list[str]
    comparisons: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_paired(
    y: np.ndarray, model: np.ndarray, baseline: np.ndarray, metric: str, *,
    n_bootstrap: int = 1000, seed: int = 0, threshold: float = 0.5,
) -> dict[str, Any]:
    """Model (b) against a baseline (a) on the same rows; delta > 0 means the model is better."""
    if metric == "auc":
        r = delong_auc_test(y, baseline, model)
        return {"test": "delong", "model": r["auc_b"], "baseline": r["auc_a"],
                "delta": r["delta"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                "p_value": r["p_value"]}
    r = paired_bootstrap_compare(y, baseline, model, metric=metric, n_bootstrap=n_bootstrap,
                                 seed=seed, threshold=threshold)
    return {"test": "paired_bootstrap", "model": r["value_b"], "baseline": r["value_a"],
            "delta": r["delta"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "p_value": r["p_value"]}


def judge_quality(
    y_true: Any, model_scores: Any, baseline_scores: dict[str, Any], bar: QualityBar,
    value: float | None,
) -> QualityVerdict:
    """`value` is the model's headline metric on these rows (from metrics.evaluate)."""
    y = np.asarray(y_true, dtype=np.float64)
    scores = np.asarray(model_scores, dtype=np.float64)
    reasons: list[str] = []
    higher = HIGHER_IS_BETTER[bar.metric]
    if value is None:
        reasons.append(f"{bar.metric} is undefined on the evaluation rows")
    elif (value < bar.minimum) if higher else (value > bar.minimum):
        reasons.append(f"{bar.metric} {value:.4f} {'<' if higher else '>'} bar {bar.minimum}")
    comparisons = {}
    for name in dict.fromkeys([*bar.must_beat, *bar.must_not_lose_to]):
        if name not in baseline_scores:
            reasons.append(f"baseline {name!r} was not computed")
            continue
        c = compare_paired(y, scores, np.asarray(baseline_scores[name], dtype=np.float64),
                           bar.metric, n_bootstrap=bar.n_bootstrap, seed=bar.seed)
        delta, p, high = c["delta"], c["p_value"], c["ci_high"]
        c["beaten"] = delta is not None and p is not None and delta > 0 and p <= bar.alpha
        c["lost"] = high is not None and high < -bar.margin
        c["requirement"] = "beat" if name in bar.must_beat else "not lose to"
        comparisons[name] = c
        shown = "undefined" if delta is None else f"{delta:+.4f} (p={p:.3g})"
        if name in bar.must_beat and not c["beaten"]:
            reasons.append(f"does not beat {name}: {bar.metric} delta {shown}, "
                           f"needs > 0 at alpha {bar.alpha}")
        elif name not in bar.must_beat and (delta is None or c["lost"]):
            reasons.append(f"worse than {name}: {bar.metric} delta {shown}, CI below "
                           f"-{bar.margin}")
    return QualityVerdict(passed=not reasons, metric=bar.metric, value=value,
                          minimum=bar.minimum, reasons=reasons, comparisons=comparisons)
