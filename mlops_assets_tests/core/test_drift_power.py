"""Power and false-alarm rate of the calibrated verdict at 1,000 rows per daily batch (fixed seeds):
each shift kind the docs claim is detected, and the no-change FAR stays at most ~alpha on the
weekday-structured stream and on an i.i.d. stream."""

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
from mlops_assets.core.drift.calibration import _fit
from mlops_assets.core.drift.correlation import CORR_KEY, fisher_z, leave_one_out_changes
from mlops_assets.core.drift.synthetic import CATEGORICAL, NUMERIC, daily_stream

CFG = DriftConfig(mmd=False)  # MMD adds nothing on this stream (its band is wide): fast tests
N = 1000


def batches(frame: pl.DataFrame) -> list[pl.DataFrame]:
    return [f for _, f in frame.group_by("day", maintain_order=True)]


@pytest.fixture(scope="module")
def ref() -> ReferenceSummary:
    frame = daily_stream(42, N, seed=100)
    summary = build_reference(frame, NUMERIC, CATEGORICAL, score_column="score",
                              sample_size=1000)
    summary.calibration = calibrate_reference(frame, summary, batch_column="day", config=CFG)
    return summary


@pytest.mark.parametrize(("shift", "member"), [
    ("mean", "x0"), ("scale", "x1"), ("category", "c1"), ("correlation", "corr"),
    ("subpopulation", "x7")])  # label_prior (x3 +0.12 sd) is too weak at 1,000: see docs
def test_each_shift_kind_is_detected_at_1000_rows(ref, shift: str, member: str) -> None:
    native = get_detector("native")
    stream = batches(daily_stream(3, N, seed=21, start_day=50, shift=shift, change_day=50))
    reports = [native.detect(ref, b, CFG) for b in stream]
    assert sum(r.drifted for r in reports) >= 2, [r.batch_p for r in reports]
    if member == "corr":
        assert all(r.extra_multivariate[0].test == "corr" for r in reports)
        assert sum(r.extra_multivariate[0].drifted for r in reports) >= 2
    else:
        assert sum(member in r.drifted_features() for r in reports) >= 2


def test_no_change_weekday_stream_far(ref) -> None:
    native = get_detector("native")
    reports = [native.detect(ref, b, CFG)
               for b in batches(daily_stream(40, N, seed=33, start_day=60))]
    assert sum(r.drifted for r in reports) <= 2
    corr = reports[0].extra_multivariate[0]
    assert corr.test == "corr" and corr.in_band and np.isfinite(corr.calibrated_p)
    assert json.dumps(reports[0].to_dict())


def test_no_change_iid_row_batches_far() -> None:
    frame = daily_stream(42, N, seed=5, structured=False)
    summary = build_reference(frame, NUMERIC, CATEGORICAL, sample_size=500)
    summary.calibration = calibrate_reference(frame, summary, batch_rows=N, config=CFG)
    native = get_detector("native")
    stream = daily_stream(40, N, seed=6, start_day=42, structured=False)
    reports = [native.detect(summary, stream.slice(i * N, N), CFG) for i in range(40)]
    assert sum(r.drifted for r in reports) <= 2


def test_power_transform_for_chi_squared_like_nulls() -> None:
    rng = np.random.default_rng(0)
    psi_like = rng.chisquare(4, size=60) / 1000  # log of it is left-skewed
    fit = _fit("c", "categorical", "psi", psi_like.tolist(), [1000] * 60, 0.15)
    assert fit.power > 0
    # The calibrated p of a value at the null's 99.9 % quantile is small but not tiny.
    p, _ = fit.p_value(float(np.quantile(rng.chisquare(4, 100_000) / 1000, 0.999)), 1000)
    assert 1e-5 < p < 0.02


def test_correlation_center_is_leave_one_out() -> None:
    rng = np.random.default_rng(1)
    zs = [fisher_z(rng.normal(size=(200, 3))) for _ in range(6)]
    center, changes = leave_one_out_changes(zs)
    others = np.mean(zs[1:], axis=0)
    assert center.shape == (3,) and changes[0] == pytest.approx(np.abs(zs[0] - others).max())
    assert CORR_KEY.startswith("__")
