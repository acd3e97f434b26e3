"""The calibrated batch verdict: calibrated p-values, one Holm family, a batch score.

Family = every tested feature (its drift statistic against the reference's null band) plus MMD^2
(when ``mmd_in_verdict`` and calibrated with the same sample cap). Holm at ``alpha`` over the
family controls the probability that a batch like the reference's own batches is flagged (the
batch false-alarm rate) at alpha, whatever the dependence between features. A feature without
a calibration (fewer than 5 pseudo-batches, a categorical calibrated with another metric) enters
the family with its raw KS/chi-squared p-value and keeps the fixed effect-size gate.
The prediction score is its own single test at alpha (it backs a separate check).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .calibration import MMD_KEY, Calibration, StatCalibration
from .correlation import CORR_KEY
from .types import CALIBRATED, adjust_pvalues, set_batch_score

if TYPE_CHECKING:
    from .types import DriftReport, FeatureDrift, MultivariateDrift

__all__ = ["apply_calibration"]


def _annotate(member: FeatureDrift | MultivariateDrift, cal: StatCalibration, stat: float,
              n: int, band_p: float) -> None:
    member.calibrated_p, member.calibrated_z = cal.p_value(stat, n)
    member.band_low, member.band_high = cal.empirical_band(n)
    member.band_upper = cal.limit(n, band_p)
    member.in_band = bool(stat <= member.band_upper)


def apply_calibration(report: DriftReport, calibration: Calibration) -> None:
    """Replace ``report``'s fixed-threshold verdict by the calibrated one, in place."""
    config = report.config
    cset = calibration.choose(report.n_cur, config.calibration_shape)
    if cset is None:
        report.notes.append(f"no calibration set {config.calibration_shape!r}: fixed thresholds")
        return
    stats = dict(cset.stats)
    if calibration.categorical_metric != config.categorical_effect_metric:
        report.notes.append(
            f"categorical features calibrated with {calibration.categorical_metric}, config asks "
            f"for {config.categorical_effect_metric}: they use the raw chi-squared test")
        stats = {k: v for k, v in stats.items() if v.kind != "categorical"}
    mv = report.multivariate
    use_mmd = bool(config.mmd_in_verdict and mv is not None and mv.test == "mmd")
    if use_mmd and (MMD_KEY not in stats or calibration.mmd_max_samples
                    != config.mmd_max_samples):
        report.notes.append("MMD not calibrated for this sample cap: it is reported but left "
                            "out of the verdict")
        use_mmd = False

    corr = next((x for x in report.extra_multivariate if x.test == "corr"), None)
    if corr is not None and CORR_KEY not in stats:
        corr = None
    members: list[FeatureDrift | MultivariateDrift] = [*report.features]
    if use_mmd:
        assert mv is not None
        members.append(mv)
    if corr is not None:
        members.append(corr)
    m = max(len(members), 1)
    band_p = config.alpha / m  # band edge = Bonferroni level: outside it -> drifted under Holm
    raw: list[float] = []
    calibrated: list[bool] = []
    for member in members:
        if member is mv or member is corr:
            cal = stats[MMD_KEY if member is mv else CORR_KEY]
            _annotate(member, cal, member.statistic, member.n_cur, band_p)
        else:
            cal = stats.get(member.feature)  # type: ignore[union-attr]
            if cal is not None:
                _annotate(member, cal, member.effect_size, member.n_cur,  # type: ignore[union-attr]
                          band_p)
        calibrated.append(cal is not None)
        raw.append(member.calibrated_p if cal is not None else member.p_value)
    adjusted = adjust_pvalues(np.array(raw), config.correction)
    for member, p_adj, is_cal in zip(members, adjusted, calibrated, strict=True):
        significant = bool(p_adj < config.alpha)
        if member is mv or member is corr:
            member.calibrated_p_adjusted = float(p_adj)
            member.drifted = significant
            continue
        f: FeatureDrift = member  # type: ignore[assignment]
        gate = f.effect_size >= f.effect_threshold
        if is_cal:
            f.calibrated_p_adjusted = float(p_adj)
            f.drifted = significant and (gate or not config.calibrated_effect_gate)
        else:
            f.p_value_adjusted = float(p_adj)
            f.significant = significant
            f.drifted = significant and gate
    pred = report.prediction
    if pred is not None and pred.feature in stats:
        _annotate(pred, stats[pred.feature], pred.effect_size, pred.n_cur, config.alpha)
        pred.calibrated_p_adjusted = pred.calibrated_p  # a single test: no family
        pred.drifted = bool(pred.calibrated_p < config.alpha) and (
            pred.effect_size >= pred.effect_threshold or not config.calibrated_effect_gate)
    n_features = len(report.features)
    report.share_drifted = (sum(f.drifted for f in report.features) / n_features
                            if n_features else 0.0)
    report.drifted = any(x.drifted for x in members)
    report.verdict_method = CALIBRATED
    report.calibration_shape = cset.shape
    set_batch_score(report, float(adjusted.min()) if adjusted.size else 1.0)
    uncal = [x.feature for x, c in zip(members, calibrated, strict=True)  # type: ignore[union-attr]
             if not c and x is not mv and x is not corr]
    if uncal:
        report.notes.append(f"not calibrated (raw test + effect gate): {', '.join(uncal)}")
