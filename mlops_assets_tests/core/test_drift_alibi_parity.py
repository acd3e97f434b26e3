"""Native vs alibi-detect engines on identical inputs: statistics, p-values and verdicts.

MMD p-values: alibi returns k / P (k = permuted statistics >= observed; can be 0,
SeldonIO/alibi-detect#960), native returns (1 + k) / (1 + P). Both reports expose k, so the
comparison is made in alibi's convention via ``MultivariateDrift.p_value_alibi``. The
permutations come from different RNGs, so p-values agree only up to Monte Carlo error: with
P = 2000 its standard deviation for the difference is at most sqrt(2 * 0.25 / 2000) = 0.016.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

pytest.importorskip("alibi_detect")

from mlops_assets.core.drift import DriftConfig, build_reference, get_detector

N = 150
CFG = DriftConfig(ks_reference="sample", mmd_permutations=2000, mmd_max_samples=N, lsdd=True)


def make_frame(n: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    r = np.random.default_rng(seed)
    return pl.DataFrame({
        "a": r.normal(size=n) + shift,
        "b": r.normal(size=n),
        "k": r.integers(0, 4, size=n),
        "cat": r.choice(["x", "y", "z"], size=n, p=[0.5, 0.3, 0.2] if shift == 0 else
                        [0.2, 0.3, 0.5]),
    })


@pytest.fixture(scope="module")
def reference():
    return build_reference(make_frame(3000, seed=1), ["a", "b", "k"], ["cat"], sample_size=N)


@pytest.fixture(scope="module")
def engines():
    return get_detector("native"), get_detector("alibi")


@pytest.mark.parametrize(("shift", "drifted"), [(0.0, False), (1.0, True)])
def test_parity(reference, engines, shift: float, drifted: bool) -> None:
    cur = make_frame(N, seed=7, shift=shift)
    native, alibi = (e.detect(reference, cur, CFG) for e in engines)
    assert [f.feature for f in native.features] == [f.feature for f in alibi.features]
    for fn, fa in zip(native.features, alibi.features, strict=True):
        assert fn.test == fa.test
        assert fn.statistic == pytest.approx(fa.statistic, rel=1e-6, abs=1e-6)  # alibi: float32
        assert fn.p_value == pytest.approx(fa.p_value, rel=1e-5, abs=1e-9)
        assert fn.effect_size == fa.effect_size  # shared code
        assert fn.drifted == fa.drifted
    mn, ma = native.multivariate, alibi.multivariate
    assert mn.statistic == pytest.approx(ma.statistic, rel=1e-9)  # same unbiased MMD^2, sigma
    assert mn.sigma == ma.sigma == reference.sigma
    assert abs(mn.p_value_alibi - ma.p_value_alibi) <= 0.02
    assert mn.drifted == ma.drifted == drifted
    assert native.drifted == alibi.drifted == drifted
    assert alibi.extra_multivariate[0].test == "lsdd"
    assert alibi.extra_multivariate[0].drifted == drifted
