"""Shared drift configuration, result types and verdict rules (rendering: render.py).

Verdict rules are engine-independent so "native" and "alibi" reports are comparable. Two
verdicts, chosen by the reference summary:

* **calibrated** (the reference carries a :class:`~.calibration.Calibration`, the default when it
  does): each feature's drift statistic (Wasserstein in reference sd, PSI/JS) and the MMD^2 get a
  p-value from the null band of the reference's own pseudo-batches; the p-values are
  Holm-adjusted as one family; a member is drifted when its adjusted p < alpha, the batch when any
  member is. This controls the batch false-alarm rate at alpha (verdict.py, docs/drift.md);
* **fixed thresholds** (older summaries without calibration, or ``calibrated=False``): per-feature
  KS/chi-squared p-values Holm-adjusted, a feature drifted if significant AND its effect size
  reaches the threshold; the batch drifted if the share of drifted features reaches
  ``share_threshold`` or (``mmd_in_verdict``) MMD is significant.

Raw tests, p-values and effect sizes are reported either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .render import effect_size_plot_png, histograms_png, to_markdown
from .types import (
    CALIBRATED,
    FIXED,
    DriftConfig,
    DriftDetector,
    DriftReport,
    Engine,
    FeatureDrift,
    MultivariateDrift,
    adjust_pvalues,
    set_batch_score,
)
from .verdict import apply_calibration

if TYPE_CHECKING:
    from .reference import ReferenceSummary

# The types live in types.py; re-exported here for callers of the old module layout.
__all__ = [
    "CALIBRATED",
    "FIXED",
    "DriftConfig",
    "DriftDetector",
    "DriftReport",
    "Engine",
    "FeatureDrift",
    "MultivariateDrift",
    "adjust_pvalues",
    "effect_size_plot_png",
    "finalize_report",
    "histograms_png",
    "set_batch_score",
    "to_markdown",
]


def finalize_report(
    engine: str,
    features: list[FeatureDrift],
    multivariate: MultivariateDrift | None,
    prediction: FeatureDrift | None,
    config: DriftConfig,
    n_cur: int,
    extra_multivariate: list[MultivariateDrift] | None = None,
    reference: ReferenceSummary | None = None,
) -> DriftReport:
    """The verdict: calibrated (when ``reference`` carries a calibration and
    ``config.calibrated``) or fixed thresholds; see the module docstring."""
    adjusted = adjust_pvalues(np.array([f.p_value for f in features]), config.correction)
    for f, p_adj in zip(features, adjusted, strict=True):
        f.p_value_adjusted = float(p_adj)
        f.significant = bool(p_adj < config.alpha)
        f.drifted = f.significant and f.effect_size >= f.effect_threshold
    if prediction is not None:  # a single test of its own, no family to correct for
        prediction.p_value_adjusted = prediction.p_value
        prediction.significant = bool(prediction.p_value < config.alpha)
        prediction.drifted = prediction.significant and (
            prediction.effect_size >= prediction.effect_threshold
        )
    for mv in [multivariate, *(extra_multivariate or [])]:
        if mv is not None:
            mv.drifted = bool(mv.p_value < config.alpha)
    share = sum(f.drifted for f in features) / len(features) if features else 0.0
    drifted = (bool(features) and share >= config.share_threshold) or bool(
        config.mmd_in_verdict and multivariate is not None and multivariate.drifted
    )
    family = [f.p_value_adjusted for f in features]
    if config.mmd_in_verdict and multivariate is not None:
        family.append(multivariate.p_value)
    report = DriftReport(
        engine=engine,
        features=features,
        multivariate=multivariate,
        prediction=prediction,
        share_drifted=share,
        drifted=drifted,
        config=config,
        n_cur=n_cur,
        extra_multivariate=list(extra_multivariate or []),
    )
    set_batch_score(report, min(family) if family else 1.0)
    if reference is not None and config.calibrated:
        if reference.calibration is None:
            report.notes.append(
                "the reference has no calibration (summary version "
                f"{reference.version}): fixed effect thresholds and the share rule; rebuild the "
                "reference with calibrate_reference for calibrated verdicts")
        else:
            apply_calibration(report, reference.calibration)
    return report
