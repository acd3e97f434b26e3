"""Baselines, the decision threshold and the quality bar (issue #14 item 7), on synthetic data."""

import numpy as np
import polars as pl
import pytest

from mlops_assets.core.baselines import base_rate_scores, fit_linear
from mlops_assets.core.compare import compare_scores
from mlops_assets.core.metrics import auc_score, evaluate
from mlops_assets.core.quality_bar import QualityBar, judge_quality
from mlops_assets.core.threshold import choose_threshold


def _frame(n: int, signal: float, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    seg = rng.choice(["a", "b", "c"], size=n)
    logit = -1.5 + signal * (1.2 * x1 - 0.8 * x2 + (seg == "b") * 0.7)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return pl.DataFrame({"x1": x1, "x2": x2, "seg": seg, "y": y})


def test_logistic_baseline_recovers_signal_and_is_deterministic():
    train, test = _frame(4000, 1.0, 0), _frame(2000, 1.0, 1)
    kw = dict(numeric=["x1", "x2"], categorical=["seg"], target="y", task="binary")
    a, b = fit_linear(train, **kw), fit_linear(train, **kw)
    assert a.coef == b.coef
    assert auc_score(test["y"], a.predict(test)) > 0.7
    assert a.coef[1] > 0 > a.coef[2]  # x1 up, x2 down


def test_threshold_f1_beats_half_on_rare_positives():
    df = _frame(5000, 1.0, 2)
    p = fit_linear(df, numeric=["x1", "x2"], categorical=["seg"], target="y",
                   task="binary").predict(df)
    y = df["y"].to_numpy()
    choice = choose_threshold(y, p, "f1")
    assert choice.chosen_on == "validation" and choice.threshold < 0.5
    f1_at = evaluate(y, p, "binary", n_bootstrap=0, threshold=choice.threshold)["f1"]["value"]
    f1_half = evaluate(y, p, "binary", n_bootstrap=0)["f1"]["value"]
    assert f1_at == pytest.approx(choice.value) and f1_at > f1_half
    # Brute force over every candidate agrees.
    best = max(evaluate(y, p, "binary", n_bootstrap=0, threshold=t)["f1"]["value"]
               for t in np.unique(p)[::50])
    assert choice.value >= best - 1e-12


def test_threshold_cost_matches_brute_force():
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.25, 0.3, 0.6, 0.7, 0.8, 0.9])
    choice = choose_threshold(y, p, "cost", cost_ratio=3.0)
    costs = {t: (3.0 * ((p < t) & (y == 1)).sum() + ((p >= t) & (y == 0)).sum()) / y.size
             for t in [*p, 1.01]}
    assert choice.value == pytest.approx(min(costs.values()))
    assert costs[choice.threshold] == pytest.approx(choice.value)


def test_threshold_one_class_falls_back_to_default():
    c = choose_threshold(np.zeros(5), np.linspace(0, 1, 5))
    assert (c.threshold, c.chosen_on) == (0.5, "default")


def test_quality_bar_rejects_a_model_without_signal():
    """Features carry no signal: a model's AUC may clear 0.5 by luck, never the base rate."""
    train, test = _frame(3000, 0.0, 3), _frame(3000, 0.0, 4)
    y = test["y"].to_numpy()
    linear = fit_linear(train, numeric=["x1", "x2"], categorical=["seg"], target="y",
                        task="binary")
    model = linear.predict(test)
    baselines = {"base_rate": base_rate_scores(train["y"].to_numpy(), test.height),
                 "logistic": linear.predict(test)}
    verdict = judge_quality(y, model, baselines, QualityBar(minimum=0.0), auc_score(y, model))
    assert not verdict.passed
    assert any("does not beat base_rate" in r for r in verdict.reasons)


def test_quality_bar_default_rejects_a_model_equal_to_logistic_and_passes_a_better_one():
    train, test = _frame(4000, 1.0, 5), _frame(4000, 1.0, 6)
    y = test["y"].to_numpy()
    linear = fit_linear(train, numeric=["x1", "x2"], categorical=["seg"], target="y",
                        task="binary")
    weak = fit_linear(train, numeric=["x2"], categorical=[], target="y", task="binary")
    baselines = {"base_rate": base_rate_scores(train["y"].to_numpy(), test.height),
                 "logistic": weak.predict(test)}
    strict = QualityBar()  # the default: beat the base rate and the logistic regression
    good = linear.predict(test)
    assert judge_quality(y, good, baselines, strict, auc_score(y, good)).passed
    same = weak.predict(test)
    verdict = judge_quality(y, same, baselines, strict, auc_score(y, same))
    assert not verdict.passed and verdict.comparisons["logistic"]["beaten"] is False
    # Relaxed (the synthetic spec's): the logistic baseline may be tied but not lost to.
    relaxed = QualityBar(must_beat=("base_rate",), must_not_lose_to=("logistic",))
    assert judge_quality(y, same, baselines, relaxed, auc_score(y, same)).passed
    worse = judge_quality(y, weak.predict(test), {**baselines, "logistic": good}, relaxed,
                          auc_score(y, weak.predict(test)))
    assert not worse.passed and any("worse than logistic" in r for r in worse.reasons)


def test_compare_scores_equals_direct_evaluation():
    df = _frame(2000, 1.0, 7)
    y = df["y"].to_numpy()
    a = fit_linear(df, numeric=["x2"], categorical=[], target="y", task="binary").predict(df)
    b = fit_linear(df, numeric=["x1", "x2"], categorical=["seg"], target="y",
                   task="binary").predict(df)
    c = compare_scores(y, a, b, task="binary", threshold_a=0.3, threshold_b=0.4,
                       n_bootstrap=100)
    direct_b = evaluate(y, b, "binary", n_bootstrap=100, threshold=0.4)
    rows = {r["metric"]: r for r in c["rows"]}
    assert rows["f1"]["b"] == direct_b["f1"]["value"]
    assert rows["auc"]["b_ci_low"] == direct_b["auc"]["ci_low"]
    assert c["paired"]["delta"] == pytest.approx(auc_score(y, b) - auc_score(y, a))
    assert c["paired"]["test"] == "delong" and c["paired"]["delta"] > 0


def test_a_baseline_in_both_lists_is_a_spec_error():
    from mlops_assets.core.spec import QualityBarSpec, load_spec

    with pytest.raises(ValueError, match="both must_beat and must_not_lose_to"):
        QualityBarSpec(must_beat=["logistic"], must_not_lose_to=["logistic"])
    assert QualityBarSpec().must_beat == ["base_rate", "logistic"]  # a new spec's default
    assert load_spec("synthetic").quality_bar.must_not_lose_to == ["logistic"]
