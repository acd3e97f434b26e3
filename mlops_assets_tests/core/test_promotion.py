import numpy as np

from mlops_assets.core.promotion import PromotionPolicy, decide_promotion


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = y + rng.normal(0, 1.0, n)
    weak = 1 / (1 + np.exp(-(0.3 * signal + rng.normal(0, 1.5, n))))
    strong = 1 / (1 + np.exp(-(2.0 * signal)))
    return y, weak, strong


def test_first_model_is_promoted_without_a_test():
    y, weak, _ = _data()
    d = decide_promotion(y, None, weak, challenger_version="v1", champion_version=None,
                         policy=PromotionPolicy())
    assert d.promote and d.test == "none" and "no champion" in d.reason


def test_clearly_better_challenger_wins_with_both_tests():
    y, weak, strong = _data()
    for test in ("delong", "bootstrap"):
        d = decide_promotion(y, weak, strong, challenger_version="v2", champion_version="v1",
                             policy=PromotionPolicy(test=test, n_bootstrap=300))
        assert d.promote, d.reason
        assert d.delta > 0.05 and d.p_value < 0.01 and d.challenger_value > d.champion_value


def test_worse_or_equal_challenger_is_rejected_with_a_reason():
    y, weak, strong = _data()
    worse = decide_promotion(y, strong, weak, challenger_version="v2", champion_version="v1",
                             policy=PromotionPolicy())
    assert not worse.promote and "below the required margin" in worse.reason
    same = decide_promotion(y, strong, strong, challenger_version="v2", champion_version="v1",
                            policy=PromotionPolicy(min_improvement=0.0))
    assert not same.promote and "not significant" in same.reason


def test_margin_is_respected():
    y, weak, strong = _data()
    d = decide_promotion(y, weak, strong, challenger_version="v2", champion_version="v1",
                         policy=PromotionPolicy(min_improvement=0.9))
    assert not d.promote and "margin 0.9" in d.reason
