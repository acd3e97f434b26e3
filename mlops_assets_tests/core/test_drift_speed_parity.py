"""Issue 16: every drift speed-up gives the same numbers as the implementation it replaced
(frozen in _drift_legacy.py), and the report no longer imports torch or scipy.stats."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from mlops_assets.core.drift import DriftConfig, build_reference, get_detector
from mlops_assets.core.drift import statistics as new
from mlops_assets.core.drift.calibration import StatCalibration
from mlops_assets.core.drift.reference import _summarize_numeric

from . import _drift_legacy as old


def _columns(n: int, seed: int) -> pl.DataFrame:
    r = np.random.default_rng(seed)
    x = r.normal(size=n)
    return pl.DataFrame({
        "cont": x,
        "f32": r.normal(size=n).astype(np.float32),
        "ties": np.round(x * 3) / 3,  # many ties, more distinct values than quantiles
        "few": r.integers(0, 5, n).astype(float),  # discrete: exact counts
        "nulls": pl.Series(np.where(r.random(n) < 0.1, np.nan, x + 1.0)),
        "skew": r.exponential(size=n) ** 3,
        "const": np.full(n, 2.5),
    }).with_columns(pl.when(pl.col("cont") > 1.5).then(None).otherwise(pl.col("cont"))
                    .alias("with_null"))


@pytest.mark.parametrize("n", [1, 2, 7, 1_000, 30_011])
def test_reference_summary_identical(n: int) -> None:
    frame = _columns(max(n, 1), seed=n)
    ref = build_reference(frame, frame.columns, [], n_quantiles=99 if n < 100 else 999,
                          sample_size=min(50, max(n, 2)) if n >= 2 else 2)
    for c in frame.columns:
        before = old._summarize_numeric(c, frame[c], 99 if n < 100 else 999, 30)
        assert ref.numeric[c] == before, c  # every quantile, bin and moment bit for bit
        assert _summarize_numeric(c, frame[c], 99 if n < 100 else 999, 30) == before


@pytest.mark.parametrize("n_cur", [1, 3, 500, 20_000])
def test_ks_and_wasserstein_identical(n_cur: int) -> None:
    frame = _columns(20_000, seed=1)
    ref = build_reference(frame, frame.columns, [], sample_size=200)
    cur_frame = _columns(n_cur, seed=2).with_columns(pl.col("cont") + 0.1)
    cols = new.sorted_numeric_columns(cur_frame, cur_frame.columns)
    before = old.sorted_numeric_columns(cur_frame, cur_frame.columns)
    assert cols.keys() == before.keys()
    for c, cur in cols.items():
        assert cur.dtype == np.float64 and np.array_equal(cur, before[c]), c  # numpy sort
        if cur.size == 0:
            continue
        r = ref.numeric[c]
        # Wasserstein without the merge: the same trapezoids, summed in another order.
        w = old.wasserstein_sd(r, cur)
        assert new.wasserstein_sd(r, cur) == pytest.approx(w, rel=1e-12, abs=1e-15), c
        d, m = new.ks_statistic(r, cur)
        assert (d, m) == old.ks_statistic(r, cur)  # KS bit for bit
        assert new.ks_and_effect(r, cur)[:2] == (d, m)
        assert new.ks_and_effect(r, cur)[2] == pytest.approx(w, rel=1e-12, abs=1e-15), c
        # p: bit for bit, or to 1e-8 where kolmogn's 2 * smirnov sum runs in numpy
        assert new.ks_pvalue(d, m, cur.size) == pytest.approx(
            old.ks_pvalue(d, m, cur.size), rel=1e-8, abs=1e-300)


def test_ks_wasserstein_without_merge_on_random_shapes() -> None:
    """Knots before, inside and after the batch, ties at knots, float32 ties, few values."""
    r = np.random.default_rng(11)
    for t in range(120):
        kind = t % 5
        gens = [lambda k, s: r.normal(size=k) + s,
                lambda k, s: np.round(r.normal(size=k) * 5) / 5 + s,
                lambda k, s: r.exponential(size=k) ** 3 + s,
                lambda k, s: r.normal(size=k).astype(np.float32).astype(float) + s,
                lambda k, s: np.concatenate([np.zeros(k // 2), r.normal(size=k - k // 2)]) + s]
        frame = pl.DataFrame({"x": gens[kind](int(r.integers(50, 4000)), 0.0)})
        ref = build_reference(frame, ["x"], [], n_quantiles=int(r.choice([9, 99, 999])),
                              sample_size=10).numeric["x"]
        cur = new.sorted_values(pl.Series(gens[kind](int(r.integers(1, 3000)),
                                                     float(r.choice([0.0, 0.1, 3.0, -5.0])))))
        assert new.ks_statistic(ref, cur) == old.ks_statistic(ref, cur), t
        assert new.wasserstein_sd(ref, cur) == pytest.approx(
            old.wasserstein_sd(ref, cur), rel=1e-12, abs=1e-15), t


def test_merge_sorted_is_the_stable_sort() -> None:
    r = np.random.default_rng(3)
    for _ in range(50):
        a = np.unique(r.integers(0, 20, r.integers(1, 10)).astype(float))
        b = np.sort(r.integers(0, 20, r.integers(1, 40)).astype(float))
        merged, count = new._merge_sorted(a, b)
        assert np.array_equal(merged, np.sort(np.concatenate([a, b]), kind="stable"))
        assert np.array_equal(count, np.searchsorted(b, merged, "right"))


def test_ks_pvalue_is_kstwo_sf() -> None:
    from scipy.stats import kstwo

    r = np.random.default_rng(4)
    for n in [1, 2, 10, 140, 141, 5_000, 99_999, 100_001, 1_000_000]:
        for d in [0.0, 1.0, 0.5, 1 / n, 0.5 / n, *r.uniform(0, 0.2, 15), *r.uniform(0, 1, 5)]:
            # Bit for bit except where 2 * smirnov is summed in numpy (n > 140, n d^2 in
            # [2.2, 370)): there to 1e-8 relative, or both below 1e-300.
            assert new._kstwo_sf(d, float(n)) == pytest.approx(kstwo.sf(d, n), rel=1e-8,
                                                              abs=1e-300), (n, d)
            if not (n > 140 and 2.2 <= n * d * d < 370):
                assert new._kstwo_sf(d, float(n)) == kstwo.sf(d, n), (n, d)
        for t in [2.2, 3.0, 10.0, 50.0, 200.0, 369.0]:  # the numpy branch, densely
            d = float(np.sqrt(t / n))
            if n > 140 and d < 0.5:
                assert new._kstwo_sf(d, float(n)) == pytest.approx(kstwo.sf(d, n), rel=1e-8,
                                                                  abs=1e-300), (n, d)


def test_student_t_without_scipy_stats() -> None:
    from scipy.stats import t

    cal = StatCalibration(name="x", kind="numeric", statistic="wasserstein_sd", scale="log",
                          values=[0.1] * 10, n=[100] * 10, center=-2.0, spread=0.4,
                          slope=-0.5, log_n0=float(np.log(100)), n_eff=7.3)
    for stat in [0.01, 0.1, 0.5, 3.0]:
        mean, sd = cal.predictive(250)
        z = (cal._transform(stat, 250) - mean) / sd
        assert cal.p_value(stat, 250) == (float(t.sf(z, df=cal.df)), float(z))
    mean, sd = cal.predictive(250)
    assert cal.limit(250, 0.0025) == float(cal._inverse(
        np.array(mean + sd * t.isf(0.0025, cal.df)), 250))


@pytest.mark.parametrize(("n", "m", "shift", "seed"),
                         [(40, 30, 0.0, 0), (300, 200, 0.3, 1), (1000, 1000, 0.05, 2),
                          (2600, 2400, 0.0, 3)])
def test_mmd_same_statistic_and_permutations(n: int, m: int, shift: float, seed: int) -> None:
    r = np.random.default_rng(seed)
    x, y = r.normal(size=(n, 4)), r.normal(size=(m, 4))
    y[:, 0] += shift
    a = new.mmd_permutation_test(x, y, 1.7, n_permutations=60, seed=seed)
    b = old.mmd_permutation_test(x, y, 1.7, n_permutations=60, seed=seed)
    assert a[0] == pytest.approx(b[0], rel=1e-9, abs=1e-12)
    assert abs(a[1] - b[1]) <= 0.02  # same permutations: equal except for a tie at the cut


def test_mmd_rff_agrees_with_exact_and_detects() -> None:
    r = np.random.default_rng(5)
    x, y = r.normal(size=(3000, 6)), r.normal(size=(3000, 6))
    exact = new.mmd_permutation_test(x, y, 2.4, 50, method="exact")
    rff = new.mmd_permutation_test(x, y, 2.4, 50, method="rff")
    assert abs(rff[0] - exact[0]) < 5e-4 and rff[1] > 0.01  # no shift: not significant
    y[:, 0] += 0.3
    assert new.mmd_permutation_test(x, y, 2.4, 50, method="rff")[1] <= 1 / 51 + 1e-12


def test_report_imports_neither_torch_nor_scipy_stats() -> None:
    code = (
        "import sys, json, numpy as np, polars as pl\n"
        "from mlops_assets.core.drift import DriftConfig, build_reference, get_detector\n"
        "r = np.random.default_rng(0)\n"
        "f = pl.DataFrame({f'x{j}': r.normal(size=3000) for j in range(4)})\n"
        "ref = build_reference(f, f.columns, [], sample_size=300)\n"
        "rep = get_detector('native').detect(ref, f, DriftConfig(mmd_max_samples=300))\n"
        "print(json.dumps([m for m in ('torch', 'scipy.stats') if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_report_identical_to_legacy_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _columns(20_000, seed=7).drop("const")
    ref = build_reference(frame, frame.columns, [], sample_size=500)
    cur = _columns(5_000, seed=8).drop("const").with_columns(pl.col("skew") * 1.1)
    cfg = DriftConfig(mmd_max_samples=500, mmd_permutations=50)
    after = get_detector("native").detect(ref, cur, cfg)
    from mlops_assets.core.drift import native

    for name in ("ks_statistic", "ks_pvalue", "sorted_numeric_columns",
                 "mmd_permutation_test"):
        monkeypatch.setattr(native, name, getattr(old, name))
    monkeypatch.setattr(native, "ks_and_effect", lambda r, c, s=None: (*old.ks_statistic(r, c, s),
                                                                       None))
    monkeypatch.setattr(native, "numeric_feature",
                        lambda *a, effect=None, **k: old.numeric_feature(*a, **k))
    before = get_detector("native").detect(ref, cur, cfg)
    for a, b in zip(after.features, before.features, strict=True):
        va, vb = dict(vars(a)), dict(vars(b))
        assert va.pop("effect_size") == pytest.approx(vb.pop("effect_size"), rel=1e-12,
                                                      abs=1e-15)
        for k in ("p_value", "p_value_adjusted"):  # 1e-8 where smirnov's sum runs in numpy
            assert va.pop(k) == pytest.approx(vb.pop(k), rel=1e-8, abs=1e-300)
        assert va == vb
    assert after.drifted_features() == before.drifted_features()
    assert after.multivariate is not None and before.multivariate is not None
    assert after.multivariate.statistic == pytest.approx(before.multivariate.statistic,
                                                         rel=1e-9)
    assert abs(after.multivariate.p_value - before.multivariate.p_value) <= 0.02
