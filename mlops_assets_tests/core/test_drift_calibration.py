"""Calibrated drift verdicts on a daily stream with weekday structure (fixed seeds, small n)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from mlops_assets.core.drift import (
    DriftConfig,
    ReferenceSummary,
    build_reference,
    calibrate_reference,
    get_detector,
)
from mlops_assets.core.drift.calibration import pseudo_batches
from mlops_assets.core.drift.synthetic import CATEGORICAL, NUMERIC, daily_stream

CFG = DriftConfig(mmd_permutations=20, mmd_max_samples=500)  # small MMD: fast tests
REF_DAYS = 42


@pytest.fixture(scope="module")
def ref_frame() -> pl.DataFrame:
    return daily_stream(REF_DAYS, 300, seed=1)


@pytest.fixture(scope="module")
def ref(ref_frame: pl.DataFrame) -> ReferenceSummary:
    summary = build_reference(ref_frame, NUMERIC, CATEGORICAL, score_column="score",
                              sample_size=500)
    summary.calibration = calibrate_reference(ref_frame, summary, batch_column="day",
                                              config=CFG)
    return summary


def batches(frame: pl.DataFrame) -> list[pl.DataFrame]:
    return [f for _, f in frame.group_by("day", maintain_order=True)]


def test_no_change_stream_alarms_rarely_and_less_than_fixed_thresholds(ref) -> None:
    native = get_detector("native")
    stream = batches(daily_stream(40, 300, seed=3, start_day=REF_DAYS))
    calibrated = [native.detect(ref, b, CFG) for b in stream]
    fixed = [native.detect(ref, b, DriftConfig(mmd_permutations=20, mmd_max_samples=500,
                                                calibrated=False))
             for b in stream]
    assert all(r.verdict_method == "calibrated_holm" for r in calibrated)
    assert sum(r.drifted for r in calibrated) <= 2
    # The old verdict: MMD against the pooled reference flags nearly every batch.
    assert sum(r.drifted for r in fixed) >= 20
    assert all(r.verdict_method == "fixed_thresholds" for r in fixed)
    day = calibrated[0]
    weekday = next(f for f in day.features if f.feature == "weekday")
    # Constant within a day: a huge PSI, yet inside the band of the reference's own days.
    assert weekday.effect_size > 1 and weekday.in_band and not weekday.drifted
    assert weekday.band_low <= weekday.effect_size <= weekday.band_upper
    assert np.isfinite(day.batch_score) and day.multivariate.calibrated_p > 0


@pytest.mark.parametrize(("shift", "feature"), [("mean", "x0"), ("scale", "x1"),
                                                ("category", "c1")])
def test_shifts_are_detected_at_2000_rows(shift: str, feature: str) -> None:
    ref_frame = daily_stream(30, 2000, seed=11)
    cfg = DriftConfig(mmd=False)
    summary = build_reference(ref_frame, NUMERIC, CATEGORICAL)
    summary.calibration = calibrate_reference(ref_frame, summary, batch_column="day", config=cfg)
    native = get_detector("native")
    hits = [native.detect(summary, b, cfg) for b in batches(
        daily_stream(3, 2000, seed=12, start_day=30, shift=shift, change_day=30))]
    assert all(r.drifted and feature in r.drifted_features() for r in hits)


def test_calibration_json_round_trip(ref) -> None:
    data = json.loads(json.dumps(ref.to_dict()))
    back = ReferenceSummary.from_dict(data)
    assert back.version == 2 and back.calibration == ref.calibration
    cal = back.calibration.sets[0]
    assert cal.shape == "column:day" and len(cal.batches) == REF_DAYS
    assert {"x0", "weekday", "score", "__mmd__"} <= set(cal.stats)


def test_old_reference_without_calibration_falls_back(ref) -> None:
    data = ref.to_dict()
    data.pop("calibration")
    data["version"] = 1
    old = ReferenceSummary.from_dict(data)
    assert old.calibration is None
    report = get_detector("native").detect(old, daily_stream(1, 300, seed=5), CFG)
    assert report.verdict_method == "fixed_thresholds"
    assert report.notes and "no calibration" in report.notes[0]
    assert json.dumps(report.to_dict())  # JSON-clean (NaN -> null)


def test_in_sample_correction_and_row_batches(ref_frame) -> None:
    summary = build_reference(ref_frame, ["x0"], [], sample_size=200)
    cal = calibrate_reference(ref_frame, summary, batch_rows=[500, 2000],
                              config=DriftConfig(mmd=False))
    assert [s.shape for s in cal.sets] == ["rows:500", "rows:2000"]
    assert cal.choose(1800).shape == "rows:2000" and cal.choose(400).shape == "rows:500"
    # iid column: the median Wasserstein ~ sqrt(2/pi) / sqrt(n) * ~0.9 at both sizes.
    for s, n in zip(cal.sets, [500, 2000], strict=True):
        med = float(np.median(s.stats["x0"].values))
        assert 0.5 / np.sqrt(n) < med < 1.5 / np.sqrt(n)
    assert len(pseudo_batches(ref_frame, batch_rows=500)) == ref_frame.height // 500
    with pytest.raises(ValueError):
        pseudo_batches(ref_frame)
