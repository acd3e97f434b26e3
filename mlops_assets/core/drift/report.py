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

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import polars as pl

    from .reference import ReferenceSummary

__all__ = [
    "DriftConfig",
    "DriftDetector",
    "DriftReport",
    "FeatureDrift",
    "MultivariateDrift",
    "adjust_pvalues",
    "effect_size_plot_png",
    "finalize_report",
    "histograms_png",
    "to_markdown",
]

FIXED = "fixed_thresholds"
CALIBRATED = "calibrated_holm"

Engine = Literal["native", "alibi"]


@dataclass(frozen=True)
class DriftConfig:
    alpha: float = 0.05
    correction: Literal["holm", "bonferroni"] = "holm"
    # Wasserstein-1 distance in reference standard deviations.
    numeric_effect_threshold: float = 0.1
    categorical_effect_metric: Literal["psi", "jensen_shannon"] = "psi"
    # None -> 0.2 for PSI (the usual "significant shift" rule of thumb), 0.1 for JS distance.
    categorical_effect_threshold: float | None = None
    share_threshold: float = 0.3
    # KS reference: "quantiles" = full-reference CDF (see reference.py), "sample" = the stored
    # sample (exactly what alibi's KSDrift sees; lower power, used for parity checks).
    ks_reference: Literal["quantiles", "sample"] = "quantiles"
    mmd: bool = True
    mmd_permutations: int = 100
    # Per side. MMD costs O(n^2) (native ~0.3 s at 2,000 + 2,000 rows, ~1.4 s at 5,000); the
    # reference sample holds build_reference(sample_size=2000) rows, so raise both together.
    mmd_max_samples: int = 2000
    mmd_in_verdict: bool = True
    # Use the reference's calibration (null bands from its own batches) when it has one.
    calibrated: bool = True
    # Which calibration set ("column:<batch col>" / "rows:<n>"); None = closest batch size.
    calibration_shape: str | None = None
    # Calibrated verdict: also require effect >= threshold (ignore tiny but real shifts at huge n).
    calibrated_effect_gate: bool = False
    lsdd: bool = False  # alibi engine only: extra LSDD test (reported, not in the verdict)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        if self.mmd_permutations < 1 or self.mmd_max_samples < 2:
            raise ValueError("mmd_permutations must be >= 1 and mmd_max_samples >= 2")
        if not 0 < self.share_threshold <= 1:
            raise ValueError("share_threshold must be in (0, 1]")

    @property
    def categorical_threshold(self) -> float:
        if self.categorical_effect_threshold is not None:
            return self.categorical_effect_threshold
        return 0.2 if self.categorical_effect_metric == "psi" else 0.1


@dataclass
class FeatureDrift:
    feature: str
    kind: Literal["numeric", "categorical", "prediction"]
    test: Literal["ks", "chi2"]
    statistic: float
    p_value: float
    effect_size: float
    effect_metric: str  # "wasserstein_sd" | "psi" | "jensen_shannon"
    effect_threshold: float
    n_ref: int
    n_cur: int
    p_value_adjusted: float = float("nan")
    significant: bool = False
    drifted: bool = False
    # Calibrated verdict (NaN/None without a calibration): p of the statistic against the
    # reference's batch-to-batch null band, Holm-adjusted, and the band at this batch's n.
    calibrated_p: float = float("nan")
    calibrated_p_adjusted: float = float("nan")
    calibrated_z: float = float("nan")
    band_low: float = float("nan")  # empirical 5% of reference pseudo-batches (display)
    band_high: float = float("nan")  # empirical 95%
    band_upper: float = float("nan")  # statistic at calibrated p = alpha / family size
    in_band: bool | None = None


@dataclass
class MultivariateDrift:
    test: Literal["mmd", "lsdd"]
    statistic: float  # unbiased MMD^2 (alibi's estimator) or LSDD
    p_value: float  # (1 + #{perm >= observed}) / (1 + P): never 0, a valid permutation p-value
    n_ref: int
    n_cur: int
    sigma: float
    n_permutations: int
    n_exceed: int  # permuted statistics >= observed
    drifted: bool = False
    # Calibrated verdict (NaN/None without a calibration): p of the statistic against the
    # reference's batch-to-batch null band, Holm-adjusted, and the band at this batch's n.
    calibrated_p: float = float("nan")
    calibrated_p_adjusted: float = float("nan")
    calibrated_z: float = float("nan")
    band_low: float = float("nan")  # empirical 5% of reference pseudo-batches (display)
    band_high: float = float("nan")  # empirical 95%
    band_upper: float = float("nan")  # statistic at calibrated p = alpha / family size
    in_band: bool | None = None

    @property
    def p_value_alibi(self) -> float:
        """alibi-detect's convention, #{perm >= observed} / P (can be 0; alibi-detect#960)."""
        return self.n_exceed / self.n_permutations


@dataclass
class DriftReport:
    engine: str
    features: list[FeatureDrift]
    multivariate: MultivariateDrift | None
    prediction: FeatureDrift | None
    share_drifted: float
    drifted: bool
    config: DriftConfig
    n_cur: int
    extra_multivariate: list[MultivariateDrift] = field(default_factory=list)
    seconds: float = float("nan")
    verdict_method: str = FIXED
    # min Holm-adjusted p of the verdict's family (a valid p for "no member drifted") and
    # -log10 of it, capped at 300: the number to plot and to feed a CUSUM.
    batch_p: float = float("nan")
    batch_score: float = float("nan")
    calibration_shape: str | None = None
    notes: list[str] = field(default_factory=list)

    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def top_drifted(self, k: int = 5) -> list[FeatureDrift]:
        """Features ranked by effect relative to its threshold (drifted ones first)."""
        ranked = sorted(
            self.features,
            key=lambda f: (f.drifted, f.effect_size / f.effect_threshold),
            reverse=True,
        )
        return ranked[:k]

    def to_dict(self) -> dict[str, Any]:
        def clean(obj: Any) -> Any:
            # JSON has no NaN/inf; None keeps it loadable everywhere (lakeFS, Dagster metadata).
            if isinstance(obj, float) and not np.isfinite(obj):
                return None
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [clean(v) for v in obj]
            return obj

        out = asdict(self)
        if self.multivariate is not None:
            out["multivariate"]["p_value_alibi"] = self.multivariate.p_value_alibi
        out["drifted_features"] = self.drifted_features()
        return clean(out)


class DriftDetector(ABC):
    """One drift engine. Implementations must apply :func:`finalize_report` for verdicts."""

    name: str

    @abstractmethod
    def detect(
        self, reference: ReferenceSummary, current: pl.DataFrame, config: DriftConfig
    ) -> DriftReport: ...


def adjust_pvalues(p: np.ndarray, method: Literal["holm", "bonferroni"]) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    if method != "holm":
        raise ValueError(f"unknown correction {method!r}")
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(1.0, stepped)
    return out


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
            from .verdict import apply_calibration

            apply_calibration(report, reference.calibration)
    return report


def set_batch_score(report: DriftReport, batch_p: float) -> None:
    report.batch_p = float(batch_p)
    report.batch_score = float(min(300.0, -np.log10(max(batch_p, 1e-300))))


# Rendering lives in render.py; re-exported here for callers of the old module layout.
from .render import effect_size_plot_png, histograms_png, to_markdown  # noqa: E402


