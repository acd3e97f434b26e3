import polars as pl
import pytest
from scipy import stats

from mlops_assets.core.missingness import (
    _binomial_upper_tail,
    mask_imputed,
    missingness_findings,
    split_missing_indicators,
)


def test_indicators_are_split_from_value_features():
    values, indicators = split_missing_indicators(["temp", "temp_missing", "seats", "x_missing"])
    # x_missing has no value feature "x": it stays a feature of its own.
    assert values == ["temp", "seats", "x_missing"]
    assert indicators == {"temp": "temp_missing"}


def test_imputed_values_become_null_again():
    frame = pl.DataFrame({"temp": [0.0, 12.5, 0.0], "temp_missing": [1, 0, 0]})
    masked = mask_imputed(frame, {"temp": "temp_missing"})
    # Row 3 is a real 0.0 (not imputed) and must stay.
    assert masked["temp"].to_list() == [None, 12.5, 0.0]


@pytest.mark.parametrize(("k", "n", "p"), [(0, 10, 0.1), (3, 10, 0.1), (40, 300, 0.1),
                                           (5, 300, 0.1), (300, 300, 0.5)])
def test_binomial_tail_matches_scipy(k, n, p):
    assert _binomial_upper_tail(k, n, p) == pytest.approx(stats.binom.sf(k - 1, n, p), rel=1e-9,
                                                          abs=1e-12)


def test_an_outage_is_a_finding_and_normal_noise_is_not():
    reference = {"temp": 0.02, "seats": 0.10}
    outage = pl.DataFrame({"temp": [None] * 700 + [1.0] * 39, "seats": [1.0] * 670 + [None] * 69})
    found = {f.column: f for f in missingness_findings(reference, outage)}
    assert found["temp"].flagged and found["temp"].batch_share == pytest.approx(700 / 739)
    assert not found["seats"].flagged  # 9.3% missing against 10%: as usual

    # A statistically clear but negligible increase is not flagged (min_increase).
    big = pl.DataFrame({"seats": [None] * 12_000 + [1.0] * 88_000})
    assert not missingness_findings({"seats": 0.10}, big)[0].flagged
