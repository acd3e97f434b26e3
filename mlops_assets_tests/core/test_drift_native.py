"""Native drift engine: verdict rules, statistics against scipy, batched MMD, serialization."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from scipy.stats import ks_2samp, wasserstein_distance

from mlops_assets.core.drift import (
    DriftConfig,
    ReferenceSummary,
    adjust_pvalues,
    build_reference,
    get_detector,
    to_markdown,
)
from mlops_assets.core.drift.native import ks_statistic, mmd_permutation_test

NUM = ["a", "b", "c"]


def make_frame(n: int, seed: int, shift: float = 0.0, rho: float = 0.0,
               cat_p: tuple[float, ...] = (0.5, 0.3, 0.2)) -> pl.DataFrame:
    r = np.random.default_rng(seed)
    a = r.normal(size=n)
    b = rho * a + np.sqrt(1 - rho**2) * r.normal(size=n)
    return pl.DataFrame({
        "a": a + shift,
        "b": b,
        "c": r.normal(2.0, 3.0, size=n),
        "k": r.integers(0, 5, size=n),  # discrete numeric: exact reference counts
        "cat": r.choice(["x", "y", "z"], size=n, p=list(cat_p)),
        "score": r.uniform(size=n),
    })


@pytest.fixture(scope="module")
def ref() -> ReferenceSummary:
    return build_reference(make_frame(20_000, seed=1), [*NUM, "k"], ["cat"], score_column="score")


@pytest.fixture(scope="module")
def native():
    return get_detector("native")


def test_no_drift(ref, native) -> None:
    rep = native.detect(ref, make_frame(2000, seed=2), DriftConfig())
    assert not rep.drifted
    assert rep.drifted_features() == []
    assert not rep.multivariate.drifted
    assert rep.prediction is not None and not rep.prediction.drifted


def test_mean_shift_flags_only_that_feature(ref, native) -> None:
    rep = native.detect(ref, make_frame(2000, seed=3, shift=0.5), DriftConfig())
    assert rep.drifted_features() == ["a"]
    assert rep.top_drifted(1)[0].feature == "a"
    a = rep.features[0]
    assert a.p_value_adjusted < 1e-10 and 0.4 < a.effect_size < 0.6  # W1 of a 0.5 sd shift
    assert rep.multivariate.drifted


def test_tiny_shift_large_n_significant_but_not_drifted(native) -> None:
    ref = build_reference(make_frame(300_000, seed=4), NUM, [])
    rep = native.detect(ref, make_frame(300_000, seed=5, shift=0.02), DriftConfig(mmd=False))
    a = rep.features[0]
    assert a.significant and a.p_value_adjusted < 1e-4
    assert a.effect_size < 0.05 and not a.drifted
    assert not rep.drifted


def test_categorical_shift_and_unseen_category(ref, native) -> None:
    cur = make_frame(2000, seed=6, cat_p=(0.2, 0.3, 0.5))
    cur = cur.with_columns(
        pl.when(pl.int_range(pl.len()) < 100).then(pl.lit("new")).otherwise(pl.col("cat"))
        .alias("cat")
    )
    rep = native.detect(ref, cur, DriftConfig(mmd=False))
    assert rep.drifted_features() == ["cat"]
    cat = next(f for f in rep.features if f.feature == "cat")
    assert cat.test == "chi2" and cat.effect_metric == "psi" and cat.effect_size > 0.2
    js = native.detect(ref, cur, DriftConfig(mmd=False, categorical_effect_metric="jensen_shannon"))
    assert js.drifted_features() == ["cat"]


def test_mmd_catches_correlation_change_per_feature_tests_miss(ref, native) -> None:
    rep = native.detect(ref, make_frame(1000, seed=7, rho=0.7), DriftConfig())
    assert rep.drifted_features() == []
    assert rep.multivariate.drifted and rep.multivariate.p_value < 0.01
    assert rep.drifted  # MMD is part of the dataset verdict


def test_ks_matches_scipy(ref) -> None:
    cur = np.sort(make_frame(3000, seed=8, shift=0.1)["a"].to_numpy())
    sample = ref.sample_column("a")
    d, n_ref = ks_statistic(ref.numeric["a"], cur, sample)
    assert n_ref == sample.size
    assert d == pytest.approx(ks_2samp(sample, cur).statistic, abs=1e-12)
    # Full-reference CDF from 999 quantiles: within the documented ~1e-4 approximation.
    full = make_frame(20_000, seed=1)
    d_q, _ = ks_statistic(ref.numeric["a"], cur)
    assert d_q == pytest.approx(ks_2samp(full["a"].to_numpy(), cur).statistic, abs=5e-4)
    # Discrete column: exact against the full reference.
    cur_k = np.sort(make_frame(3000, seed=8)["k"].to_numpy().astype(float))
    d_k, _ = ks_statistic(ref.numeric["k"], cur_k)
    assert d_k == pytest.approx(ks_2samp(full["k"].to_numpy(), cur_k).statistic, abs=1e-12)


def test_wasserstein_matches_scipy(ref, native) -> None:
    cur = make_frame(3000, seed=9, shift=0.3)
    rep = native.detect(ref, cur, DriftConfig(mmd=False))
    full = make_frame(20_000, seed=1)
    for f in rep.features:
        if f.feature in ("a", "k"):
            want = wasserstein_distance(full[f.feature].to_numpy(), cur[f.feature].to_numpy())
            assert f.effect_size == pytest.approx(want / ref.numeric[f.feature].std, abs=2e-3)


def test_batched_mmd_equals_brute_force() -> None:
    r = np.random.default_rng(0)
    x, y = r.normal(size=(40, 3)), r.normal(0.3, 1.0, size=(30, 3))
    sigma = 1.3
    stat, p, n_exceed = mmd_permutation_test(x, y, sigma, n_permutations=200, seed=1)

    def mmd2_u(x: np.ndarray, y: np.ndarray) -> float:
        z = np.concatenate([x, y])
        k = np.exp(-((z[:, None] - z[None]) ** 2).sum(-1) / (2 * sigma**2))
        np.fill_diagonal(k, 0.0)
        n, m = len(x), len(y)
        return (k[:n, :n].sum() / (n * (n - 1)) + k[n:, n:].sum() / (m * (m - 1))
                - 2 * k[:n, n:].mean())

    assert stat == pytest.approx(mmd2_u(x, y), rel=1e-10)
    assert p == (1 + n_exceed) / 201 and p > 0
    # Chunked permutations give the same answer as one batch (same RNG stream).
    assert mmd_permutation_test(x, y, sigma, n_permutations=200, seed=1)[1] == p


def test_holm_and_bonferroni() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.04, 0.09, 0.09, 0.5])
    np.testing.assert_allclose(adjust_pvalues(p, "bonferroni"), [0.04, 0.16, 0.12, 1.0])


def test_reference_json_roundtrip_and_report_outputs(ref, native) -> None:
    back = ReferenceSummary.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert back == ref
    cur = make_frame(1500, seed=10, shift=0.5)
    rep = native.detect(back, cur, DriftConfig())
    out = json.loads(json.dumps(rep.to_dict(), allow_nan=False))
    assert out["drifted_features"] == ["a"] and out["multivariate"]["test"] == "mmd"
    md = to_markdown(rep, back, cur)
    assert md.count("data:image/png;base64,") == 2 and "DRIFT" in md


def test_unknown_engine() -> None:
    with pytest.raises(ValueError, match="native"):
        get_detector("evidently")  # type: ignore[arg-type]


def test_alibi_engine_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "alibi_detect", None)
    monkeypatch.setitem(sys.modules, "alibi_detect.cd", None)
    with pytest.raises(ImportError, match=r"mlops-assets\[alibi\]"):
        get_detector("alibi")


def test_import_is_light() -> None:
    code = ("import sys, mlops_assets.core.drift; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'torch', 'alibi_detect', 'scipy', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
