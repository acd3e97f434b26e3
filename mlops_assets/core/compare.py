"""Two model versions side by side on the same labelled rows: each one's metrics with bootstrap
CIs (at its own decision threshold) and the paired test of the headline metric. Used by
`mlops-assets models compare` and by the champion asset's decision table. numpy only."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops_assets.core.metrics import evaluate
from mlops_assets.core.quality_bar import compare_paired

BINARY_ROWS = ("auc", "log_loss", "brier", "f1", "accuracy", "ece")
REGRESSION_ROWS = ("rmse", "mae", "r2")


def compare_scores(
    y: Any, scores_a: Any, scores_b: Any, *, task: str, threshold_a: float = 0.5,
    threshold_b: float = 0.5, n_bootstrap: int = 1000, seed: int = 0,
) -> dict[str, Any]:
    """Metrics of a and b and the paired test of b against a (positive delta: b is better)."""
    y = np.asarray(y, dtype=np.float64)
    a = evaluate(y, scores_a, task, n_bootstrap=n_bootstrap, seed=seed,  # type: ignore[arg-type]
                 threshold=threshold_a)
    b = evaluate(y, scores_b, task, n_bootstrap=n_bootstrap, seed=seed,  # type: ignore[arg-type]
                 threshold=threshold_b)
    metric = "auc" if task == "binary" else "rmse"
    paired = compare_paired(y, np.asarray(scores_b, dtype=np.float64),
                            np.asarray(scores_a, dtype=np.float64), metric,
                            n_bootstrap=n_bootstrap, seed=seed)
    names = BINARY_ROWS if task == "binary" else REGRESSION_ROWS
    rows = [{"metric": name, "a": a[name]["value"], "a_ci_low": a[name]["ci_low"],
             "a_ci_high": a[name]["ci_high"], "b": b[name]["value"],
             "b_ci_low": b[name]["ci_low"], "b_ci_high": b[name]["ci_high"]} for name in names]
    return {"n": int(y.size), "task": task, "rows": rows, "metric": metric,
            # compare_paired's "model" is b and its "baseline" a.
            "paired": {**paired, "a": paired.pop("baseline"), "b": paired.pop("model")},
            "threshold_a": threshold_a, "threshold_b": threshold_b}


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def comparison_text(c: dict[str, Any], name_a: str, name_b: str) -> str:
    """A plain-text table (the CLI's output; also valid markdown)."""
    lines = [f"| metric | {name_a} | 95% CI | {name_b} | 95% CI |", "|---|---|---|---|---|"]
    for r in c["rows"]:
        lines.append(f"| {r['metric']} | {_fmt(r['a'])} | [{_fmt(r['a_ci_low'])}, "
                     f"{_fmt(r['a_ci_high'])}] | {_fmt(r['b'])} | [{_fmt(r['b_ci_low'])}, "
                     f"{_fmt(r['b_ci_high'])}] |")
    p = c["paired"]
    pv = "n/a" if p.get("p_value") is None else f"{p['p_value']:.3g}"
    lines.append(f"\n{c['metric']} {name_b} - {name_a}: {_fmt(p.get('delta'))} (95% CI "
                 f"[{_fmt(p.get('ci_low'))}, {_fmt(p.get('ci_high'))}], {p['test']}, one-sided "
                 f"p={pv} for '{name_b} is not better'), n={c['n']} rows")
    return "\n".join(lines)
