"""Model card core: metrics by group, the largest gap, the markdown card."""

import numpy as np
import polars as pl
import pytest

from mlops_assets.core.metrics import evaluate
from mlops_assets.core.model_card import (
    describe_gap,
    group_metrics,
    largest_gaps,
    render_model_card,
    worst_gap,
)


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    n = 600
    carrier = np.array(["AA", "UA", "B6"])[np.arange(n) % 3]
    y = rng.integers(0, 2, n)
    # AA: perfect scores, UA: noisy, B6: random.
    noise = {"AA": 0.0, "UA": 0.6, "B6": 10.0}
    s = np.array([np.clip(y[i] * 0.8 + 0.1 + rng.normal(0, noise[c]) * 0.1, 0, 1)
                  for i, c in enumerate(carrier)])
    frame = pl.DataFrame({"carrier": carrier, "origin": ["JFK"] * (n - 10) + [None] * 10,
                          "target": y, "tiny": ["x"] * (n - 5) + ["y"] * 5})
    return frame, s


def test_group_metrics_per_value(scored):
    frame, s = scored
    by = group_metrics(frame, s, ["carrier", "origin"], "target")
    assert [r["group"] for r in by["carrier"]] == ["AA", "B6", "UA"]  # equal n: by name
    aa = next(r for r in by["carrier"] if r["group"] == "AA")
    assert aa["n"] == 200 and aa["auc"] == 1.0 and aa["accuracy"] == 1.0
    assert aa["prevalence"] == pytest.approx(frame.filter(pl.col("carrier") == "AA")
                                             ["target"].mean())
    assert {r["group"] for r in by["origin"]} == {"JFK", "(missing)"}
    assert sum(r["n"] for r in by["carrier"]) == frame.height


def test_unlabelled_rows_are_ignored_and_lengths_checked(scored):
    frame, s = scored
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(None)
                               .otherwise(pl.col("target")).alias("target"))
    by = group_metrics(frame, s, ["carrier"], "target")
    assert sum(r["n"] for r in by["carrier"]) == frame.height - 3
    with pytest.raises(ValueError, match="scores for"):
        group_metrics(frame, s[:-1], ["carrier"], "target")
    with pytest.raises(KeyError, match="nope"):
        group_metrics(frame, s, ["nope"], "target")


def test_largest_gap_names_the_worst_pair(scored):
    frame, s = scored
    by = group_metrics(frame, s, ["carrier", "origin", "tiny"], "target")
    gap = worst_gap(by, "auc", min_rows=30)
    assert gap["column"] == "carrier" and gap["best_group"] == "AA"
    assert gap["worst_group"] == "B6" and gap["gap"] == pytest.approx(1.0 - gap["worst_value"])
    columns = [g["column"] for g in largest_gaps(by, "auc", min_rows=30)]
    assert "tiny" not in columns and "origin" not in columns  # one comparable group only
    assert "AA" in describe_gap(gap) and "B6" in describe_gap(gap)
    assert describe_gap(None).startswith("no two groups")
    # Lower-is-better metrics rank the other way.
    reg = {"g": [{"group": "a", "n": 50, "rmse": 1.0}, {"group": "b", "n": 50, "rmse": 3.0}]}
    g = worst_gap(reg, "rmse")
    assert (g["best_group"], g["worst_group"], g["gap"]) == ("a", "b", 2.0)


def test_regression_groups():
    frame = pl.DataFrame({"g": ["a", "a", "b", "b"], "y": [1.0, 2.0, 3.0, 5.0]})
    by = group_metrics(frame, np.array([1.0, 2.0, 3.0, 3.0]), ["g"], "y", task="regression")
    b = next(r for r in by["g"] if r["group"] == "b")
    assert b["mae"] == 1.0 and b["rmse"] == pytest.approx(np.sqrt(2.0))


def test_render_model_card(scored):
    frame, s = scored
    y = frame["target"].to_numpy()
    metrics = evaluate(y, s, "binary", n_bootstrap=20)
    record = {
        "version": "synthetic-20240101T000000-abcd1234", "dataset": "synthetic",
        "task": "binary", "data_commit": "c0ffee" * 10, "repository": "repo",
        "train_batches": ["2024-01-01", "2024-01-02"], "training_rows": 1000,
        "training_rows_sha256": "ab" * 32, "feature_code_version": "f00d",
        "numeric_features": ["x1"], "categorical_features": ["carrier"],
        "hyperparameters": {"lr": 0.001, "seed": 0}, "seed": 0,
        "library_versions": {"torch": "2.x"}, "weights_sha256": "ee" * 32,
    }
    evaluation = {"batches": ["2024-01-03"], "rows": len(y), "metrics": metrics,
                  "quality_bar": {"auc": 0.55}, "passed": True}
    by = group_metrics(frame, s, ["carrier"], "target")
    card = render_model_card(record, evaluation, by, drift_status="no drift (p=0.4)",
                             max_gap=0.1)
    for expected in ("# Model card: `synthetic-20240101T000000-abcd1234`", "## Intended use",
                     "c0ffee" * 10, "2024-01-01 .. 2024-01-02", "feature code version `f00d`",
                     "| auc |", "95% bootstrap CIs", "Expected calibration error",
                     "### by `carrier`", "| AA |", "**exceeds the bound 0.1**",
                     "no drift (p=0.4)", "seed 0", "torch 2.x", "ee" * 32):
        assert expected in card, expected
    plain = render_model_card(record, evaluation, {}, max_gap=None)
    assert "declares no `groups`" in plain and "not assessed" in plain
