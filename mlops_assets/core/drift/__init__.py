"""Drift detection core: reference summaries, two engines behind one interface, reports.

>>> ref = build_reference(train, numeric=["x"], categorical=["c"], score_column="score")
>>> ref.calibration = calibrate_reference(train, ref, batch_column="day")  # null bands
>>> report = get_detector("native").detect(ref, batch, DriftConfig())
>>> report.drifted, report.drifted_features(), to_markdown(report, ref, batch)

torch, scipy, matplotlib and alibi_detect are imported inside the functions that use them, so
importing this package stays cheap.
"""

from .calibration import Calibration, CalibrationSet, StatCalibration, calibrate_reference
from .engines import get_detector
from .reference import (
    CategoricalReference,
    NumericReference,
    ReferenceSummary,
    build_reference,
    median_heuristic_sigma,
)
from .render import effect_size_plot_png, histograms_png, to_markdown
from .report import finalize_report
from .types import (
    DriftConfig,
    DriftDetector,
    DriftReport,
    Engine,
    FeatureDrift,
    MultivariateDrift,
    adjust_pvalues,
)

__all__ = [
    "Calibration",
    "CalibrationSet",
    "CategoricalReference",
    "DriftConfig",
    "DriftDetector",
    "DriftReport",
    "Engine",
    "FeatureDrift",
    "MultivariateDrift",
    "NumericReference",
    "ReferenceSummary",
    "StatCalibration",
    "adjust_pvalues",
    "build_reference",
    "calibrate_reference",
    "effect_size_plot_png",
    "finalize_report",
    "get_detector",
    "histograms_png",
    "median_heuristic_sigma",
    "to_markdown",
]
