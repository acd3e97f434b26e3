"""Drift data types: configuration, per-member results, the report and the engine interface.

Separate from report.py (the verdict) so that the statistics, the calibration and the verdict
modules can all import the types without importing each other (no import cycle).
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
    "CALIBRATED",
    "FIXED",
    "DriftConfig",
    "DriftDetector",
    "DriftReport",
    "Engine",
    "FeatureDrift",
    "MultivariateDrift",
    "adjust_pvalues",
    "set_batch_score",
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
    # Calibrated verdict: add the within-batch correlation member (correlation.py) to the family.
    correlation: bool = True
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
    test: Literal["mmd", "lsdd", "corr"]  # corr: correlation.py (calibrated verdict only)
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


def set_batch_score(report: DriftReport, batch_p: float) -> None:
    report.batch_p = float(batch_p)
    report.batch_score = float(min(300.0, -np.log10(max(batch_p, 1e-300))))
