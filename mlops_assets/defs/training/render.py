"""Metadata the training assets show in the UI: numbers Dagster can plot (float/int values, one
key per metric), links that open whole (lakeFS URIs as paths, objects as lakeFS web-UI URLs)
and small markdown tables."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import dagster as dg

# Metrics worth a plot over time; each becomes its own numeric metadata key.
PLOTTED = ("auc", "log_loss", "f1", "accuracy", "brier", "ece", "prevalence", "positive_rate",
           "rmse", "mae", "r2")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _value(m: Any) -> float | None:
    return m.get("value") if isinstance(m, dict) else None


def metrics_table(metrics: dict, baselines: dict[str, dict] | None = None) -> str:
    baselines = baselines or {}
    head = "| metric | value | 95% CI |" + "".join(f" {b} |" for b in baselines)
    lines = [head, "|---|---|---|" + "---|" * len(baselines)]
    for name, value in metrics.items():
        if isinstance(value, dict) and "value" in value:
            v, lo, hi = value["value"], value.get("ci_low"), value.get("ci_high")
            extra = "".join(f" {_fmt(_value(b.get(name)))} |" for b in baselines.values())
            lines.append(f"| {name} | {_fmt(v)} | [{_fmt(lo)}, {_fmt(hi)}] |{extra}")
    return "\n".join(lines)


def evaluation_numbers(metrics: dict, baselines: dict[str, dict], verdict: Any) -> dict:
    """One float per metric (and per baseline metric), the row count and the paired deltas."""
    out: dict[str, Any] = {}
    for name in PLOTTED:
        v = _value(metrics.get(name))
        if v is not None:
            out[name] = dg.MetadataValue.float(float(v))
            lo, hi = metrics[name].get("ci_low"), metrics[name].get("ci_high")
            if lo is not None and hi is not None:
                out[f"{name}_ci_low"] = dg.MetadataValue.float(float(lo))
                out[f"{name}_ci_high"] = dg.MetadataValue.float(float(hi))
    for base, m in baselines.items():
        for name in ("auc", "log_loss", "f1", "rmse", "r2"):
            v = _value(m.get(name))
            if v is not None:
                out[f"{base}_{name}"] = dg.MetadataValue.float(float(v))
    for base, c in verdict.comparisons.items():
        if c.get("delta") is not None:
            out[f"delta_vs_{base}"] = dg.MetadataValue.float(float(c["delta"]))
        if c.get("p_value") is not None:
            out[f"p_value_vs_{base}"] = dg.MetadataValue.float(float(c["p_value"]))
    if "threshold" in metrics:
        out["threshold"] = dg.MetadataValue.float(float(metrics["threshold"]))
    out["rows"] = dg.MetadataValue.int(int(metrics.get("n", 0)))
    return out


def training_numbers(history: dict, threshold: float | None) -> dict:
    """Best epoch, epochs run, losses and row counts of one training run, as plottable numbers."""
    out: dict[str, Any] = {}
    for key in ("best_epoch", "epochs_run", "n_train", "n_val"):
        if history.get(key) is not None:
            out[key] = dg.MetadataValue.int(int(history[key]))
    if history.get("best_val_loss") is not None:
        out["best_val_loss"] = dg.MetadataValue.float(float(history["best_val_loss"]))
    if history.get("train_loss"):
        out["final_train_loss"] = dg.MetadataValue.float(float(history["train_loss"][-1]))
    if threshold is not None:
        out["threshold"] = dg.MetadataValue.float(float(threshold))
    return out


def decision_numbers(decision: Any) -> dict:
    """The champion/challenger comparison as plottable numbers."""
    out: dict[str, Any] = {"rows": dg.MetadataValue.int(int(decision.n))}
    for key in ("champion_value", "challenger_value", "delta", "p_value"):
        value = getattr(decision, key)
        if value is not None:
            out[key] = dg.MetadataValue.float(float(value))
    return out


def verdict_table(verdict: Any) -> str:
    lines = [f"| baseline | requirement | model {verdict.metric} | baseline {verdict.metric} "
             "| delta | 95% CI | p (one-sided) | test | ok |", "|---" * 9 + "|"]
    for name, c in verdict.comparisons.items():
        ok = c["beaten"] if c["requirement"] == "beat" else not c["lost"]
        p = "n/a" if c.get("p_value") is None else f"{c['p_value']:.3g}"
        lines.append(f"| {name} | {c['requirement']} | {_fmt(c['model'])} | "
                     f"{_fmt(c['baseline'])} | {_fmt(c['delta'])} | "
                     f"[{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}] | {p} | {c['test']} | "
                     f"{'yes' if ok else '**no**'} |")
    return "\n".join(lines)


def object_url(lakefs: Any, ref: str, path: str) -> str:
    """The lakeFS web UI page of one object (opens in a browser, unlike lakefs:// URIs)."""
    endpoint = str(getattr(lakefs, "endpoint", "")).rstrip("/")
    page = "objects" if path.endswith("/") or not path else "object"  # a folder or one object
    return (f"{endpoint}/repositories/{quote(lakefs.repository)}/{page}?ref={quote(ref)}"
            f"&path={quote(path)}")


def object_link(lakefs: Any, ref: str, path: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(object_url(lakefs, ref, path))


def links(lakefs: Any, commit_id: str, path: str) -> dict[str, Any]:
    """The commit id whole, the lakefs:// URI as a path value (copied whole) and a browser link."""
    return {
        "lakefs_commit": dg.MetadataValue.text(commit_id),
        "lakefs_uri": dg.MetadataValue.path(lakefs.uri(commit_id, path)),
        "lakefs_ui": object_link(lakefs, commit_id, path),
    }


def headline_text(metrics: dict, task: str) -> str:
    names = ["auc", "log_loss", "accuracy", "f1"] if task == "binary" else ["rmse", "mae", "r2"]
    parts = []
    for name in names:
        m = metrics.get(name) or {}
        if m.get("value") is not None:
            parts.append(f"{name} {m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]")
    return ", ".join(parts)


def small_record(record: dict) -> dict:
    """The record without bulky per-epoch history, for the UI."""
    return {k: v for k, v in record.items() if k != "history"}
