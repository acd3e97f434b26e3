"""Model cards: metrics broken down by the dataset's groups, the largest gap between groups, and
the card itself as markdown. Pure (polars/numpy in, dicts and text out)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from mlops_assets.core.metrics import HIGHER_IS_BETTER, auc_score

# Metrics compared across groups; the direction comes from metrics.HIGHER_IS_BETTER.
GROUP_METRICS_BINARY = ("auc", "accuracy", "positive_rate", "prevalence", "mean_score")
GROUP_METRICS_REGRESSION = ("rmse", "mae", "mean_target", "mean_score")


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _one_group(y: np.ndarray, s: np.ndarray, task: str, threshold: float) -> dict[str, Any]:
    n = int(y.size)
    if task == "binary":
        predicted = s >= threshold
        return {
            "n": n,
            "auc": auc_score(y, s) if n else None,
            "accuracy": _clean(float((predicted == (y > 0.5)).mean())) if n else None,
            "positive_rate": _clean(float(predicted.mean())) if n else None,
            "prevalence": _clean(float(y.mean())) if n else None,
            "mean_score": _clean(float(s.mean())) if n else None,
        }
    err = s - y
    return {
        "n": n,
        "rmse": _clean(float(np.sqrt((err**2).mean()))) if n else None,
        "mae": _clean(float(np.abs(err).mean())) if n else None,
        "mean_target": _clean(float(y.mean())) if n else None,
        "mean_score": _clean(float(s.mean())) if n else None,
    }


def group_metrics(
    frame: pl.DataFrame,
    scores: Any,
    groups: list[str],
    target: str,
    task: str = "binary",
    threshold: float = 0.5,
) -> dict[str, list[dict[str, Any]]]:
    """For each group column, one row per value (largest groups first): n and the metrics
    (binary: auc, accuracy, positive_rate = share predicted positive, prevalence = observed share,
    mean_score; regression: rmse, mae, mean_target, mean_score). Rows without a label are
    ignored; a missing group value is reported as "(missing)"."""
    s_all = np.asarray(scores, dtype=np.float64).ravel()
    if s_all.size != frame.height:
        raise ValueError(f"{s_all.size} scores for {frame.height} rows")
    labelled = frame.select(target).to_series().is_not_null().to_numpy()
    out: dict[str, list[dict[str, Any]]] = {}
    for column in groups:
        if column not in frame.columns:
            raise KeyError(f"group column {column!r} is not in the frame")
        values = frame.get_column(column).cast(pl.Utf8).fill_null("(missing)").to_numpy()
        y_all = frame.get_column(target).cast(pl.Float64).to_numpy()
        rows = []
        for value in np.unique(values[labelled]):
            mask = labelled & (values == value)
            rows.append({"group": str(value), **_one_group(y_all[mask], s_all[mask], task,
                                                           threshold)})
        rows.sort(key=lambda r: (-r["n"], r["group"]))
        out[column] = rows
    return out


def largest_gaps(
    metrics_by_group: dict[str, list[dict[str, Any]]], metric: str = "auc", min_rows: int = 30
) -> list[dict[str, Any]]:
    """Per group column: the best and the worst group on `metric` among groups with at least
    `min_rows` labelled rows, and the gap (always >= 0). Columns with fewer than two such groups
    are skipped. Sorted by gap, largest first."""
    higher_better = HIGHER_IS_BETTER.get(metric, True)
    gaps = []
    for column, rows in metrics_by_group.items():
        usable = [r for r in rows if r["n"] >= min_rows and r.get(metric) is not None]
        if len(usable) < 2:
            continue
        ranked = sorted(usable, key=lambda r: r[metric], reverse=higher_better)
        best, worst = ranked[0], ranked[-1]
        gaps.append({
            "column": column, "metric": metric,
            "best_group": best["group"], "best_value": best[metric], "best_n": best["n"],
            "worst_group": worst["group"], "worst_value": worst[metric], "worst_n": worst["n"],
            "gap": abs(best[metric] - worst[metric]),
        })
    return sorted(gaps, key=lambda g: -g["gap"])


def worst_gap(
    metrics_by_group: dict[str, list[dict[str, Any]]], metric: str = "auc", min_rows: int = 30
) -> dict[str, Any] | None:
    gaps = largest_gaps(metrics_by_group, metric, min_rows)
    return gaps[0] if gaps else None


def describe_gap(gap: dict[str, Any] | None) -> str:
    if gap is None:
        return "no two groups large enough to compare"
    return (f"{gap['metric']} gap {gap['gap']:.3f} on {gap['column']}: "
            f"{gap['best_group']} {gap['best_value']:.3f} (n={gap['best_n']}) vs "
            f"{gap['worst_group']} {gap['worst_value']:.3f} (n={gap['worst_n']})")


# ------------------------------------------------------------------------------------ the card
def _f(x: Any, digits: int = 4) -> str:
    return "n/a" if x is None else (f"{x:.{digits}f}" if isinstance(x, float) else str(x))


def _metrics_section(metrics: dict[str, Any]) -> list[str]:
    lines = ["| metric | value | 95% CI |", "|---|---|---|"]
    for name, value in metrics.items():
        if isinstance(value, dict) and "value" in value:
            lines.append(f"| {name} | {_f(value['value'])} | "
                         f"[{_f(value.get('ci_low'))}, {_f(value.get('ci_high'))}] |")
    return lines


def _calibration_section(metrics: dict[str, Any]) -> list[str]:
    calibration = metrics.get("calibration") or {}
    bins = [b for b in calibration.get("bins", []) if b.get("count")]
    if not bins:
        return ["Not applicable (regression target) or no scored rows."]
    lines = [f"Expected calibration error: {_f(calibration.get('ece'))}", "",
             "| predicted | mean predicted | observed rate | rows |", "|---|---|---|---|"]
    for b in bins:
        lines.append(f"| {b['bin_low']:.1f}-{b['bin_high']:.1f} | {_f(b['mean_predicted'], 3)} "
                     f"| {_f(b['observed_rate'], 3)} | {b['count']} |")
    return lines


def _group_section(
    metrics_by_group: dict[str, list[dict[str, Any]]], metric: str, min_rows: int,
    max_gap: float | None, max_rows: int = 15,
) -> list[str]:
    if not metrics_by_group:
        return ["The dataset spec declares no `groups`."]
    lines = []
    for column, rows in metrics_by_group.items():
        names = [k for k in rows[0] if k != "group"] if rows else ["n"]
        lines += [f"### by `{column}`", "", "| group | " + " | ".join(names) + " |",
                  "|---|" + "---|" * len(names)]
        for row in rows[:max_rows]:
            lines.append(f"| {row['group']} | " + " | ".join(_f(row[k], 3) for k in names) + " |")
        if len(rows) > max_rows:
            lines.append(f"| ... {len(rows) - max_rows} more | " + " | " * (len(names) - 1) + " |")
        lines.append("")
    gap = worst_gap(metrics_by_group, metric, min_rows)
    flag = ""
    if gap is not None and max_gap is not None:
        flag = (f" **exceeds the bound {max_gap}**" if gap["gap"] > max_gap
                else f" (within the bound {max_gap})")
    lines.append(f"Largest gap between groups with at least {min_rows} rows: "
                 f"{describe_gap(gap)}{flag}.")
    return lines


DRIFT_STATUS_PREFIX = "- drift status (latest reports):"


def with_drift_status(card: str, summary: str) -> str:
    """The card with its drift status line replaced by the latest verdicts (the drift report
    rewrites it after every run, so the card never says "not assessed" once batches were)."""
    lines = card.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(DRIFT_STATUS_PREFIX) or line.startswith("- drift status at promotion"):
            lines[i] = f"{DRIFT_STATUS_PREFIX} {summary}"
            return "\n".join(lines) + ("\n" if card.endswith("\n") else "")
    return card


def render_model_card(
    record: dict[str, Any],
    evaluation: dict[str, Any],
    group_metrics: dict[str, list[dict[str, Any]]],
    drift_status: str | None = None,
    *,
    gap_metric: str = "auc",
    min_group_rows: int = 30,
    max_gap: float | None = None,
    intended_use: str | None = None,
) -> str:
    """The model card of a version as markdown: intended use, data (commit and date range),
    features, metrics with CIs, calibration, group breakdown and the largest gap, drift status at
    promotion, and what reproduces it."""
    version = record.get("version", "?")
    ds = record.get("dataset", "?")
    task = record.get("task", "binary")
    train, held_out = record.get("train_batches") or [], evaluation.get("batches") or []
    metrics = evaluation.get("metrics") or {}
    hyper = record.get("hyperparameters") or {}
    libs = record.get("library_versions") or {}
    use = intended_use or (
        f"Scores new `{ds}` batches ({'probability of the positive class' if task == 'binary' else 'a numeric estimate'}) "  # noqa: E501
        "for monitoring and decision support on data like its training window. Not validated for "
        "other populations, periods after a detected drift, or decisions about individuals "
        "without human review."
    )
    bar = evaluation.get("quality_bar") or {}
    passed = evaluation.get("passed")
    lines = [
        f"# Model card: `{version}`",
        "",
        f"- dataset `{ds}`, task {task}, created {record.get('created_at', '?')}",
        f"- quality bar {bar or 'n/a'}: {'passed' if passed else 'not passed'}",
        f"{DRIFT_STATUS_PREFIX} {drift_status or 'not assessed yet'}",
        "",
        "## Intended use",
        "",
        use,
        "",
        "## Data",
        "",
        f"- lakeFS data commit `{record.get('data_commit', '?')}` "
        f"(repository `{record.get('repository', '?')}`)",
        f"- training batches: {len(train)} ({train[0]} .. {train[-1]}), "
        f"{record.get('training_rows', '?')} labelled rows (sha256 "
        f"`{str(record.get('training_rows_sha256', '?'))[:16]}...`)" if train else
        "- training batches: none recorded",
        f"- evaluation batches (held out, later in time): {len(held_out)} "
        f"({held_out[0]} .. {held_out[-1]}), {evaluation.get('rows', '?')} rows" if held_out
        else "- evaluation batches: none recorded",
        "",
        "## Features",
        "",
        f"- feature code version `{record.get('feature_code_version', '?')}`",
        f"- numeric: {', '.join(record.get('numeric_features') or []) or 'none'}",
        f"- categorical: {', '.join(record.get('categorical_features') or []) or 'none'}",
        "",
        "## Metrics (held-out batches, 95% bootstrap CIs)",
        "",
        *_metrics_section(metrics),
        "",
        "## Calibration",
        "",
        *_calibration_section(metrics),
        "",
        "## Metrics by group",
        "",
        *_group_section(group_metrics, gap_metric, min_group_rows, max_gap),
        "",
        "## Reproduction",
        "",
        f"- seed {record.get('seed', '?')}, hyperparameters "
        + ", ".join(f"{k}={v}" for k, v in sorted(hyper.items())),
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(libs.items())),
        f"- weights sha256 `{record.get('weights_sha256', '?')}`",
        f"- `mlops-assets reproduce {version}` retrains it on a scratch branch and compares.",
        "",
    ]
    return "\n".join(lines)
