"""Markdown the training assets show in the UI (metrics tables, headlines)."""


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def metrics_table(metrics: dict) -> str:
    lines = ["| metric | value | 95% CI |", "|---|---|---|"]
    for name, value in metrics.items():
        if isinstance(value, dict) and "value" in value:
            v, lo, hi = value["value"], value.get("ci_low"), value.get("ci_high")
            lines.append(f"| {name} | {_fmt(v)} | [{_fmt(lo)}, {_fmt(hi)}] |")
    return "\n".join(lines)


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
