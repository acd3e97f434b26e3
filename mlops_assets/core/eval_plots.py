"""Evaluation figures as PNG bytes: ROC (with the baselines), reliability diagram, and the loss
curves of training. Written to lakeFS next to the evaluation and linked from the UI, not inlined:
base64 images inside metadata bloat Dagster's event log with every materialization.

matplotlib is imported inside the functions (headless Agg backend), so importing this module
costs nothing."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless workers; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    # Fixed metadata: the same figure gives the same bytes (no creation date in the PNG).
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def roc_points(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct score, from (0, 0)."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ps) != 0), ps.size - 1]
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    pos, neg = max(ys.sum(), 1.0), max(ys.size - ys.sum(), 1.0)
    return np.r_[0.0, fp / neg], np.r_[0.0, tp / pos]


def roc_png(y: Any, curves: dict[str, Any], threshold_point: tuple[float, float] | None) -> bytes:
    """ROC of each named score on the same rows (model first, then the baselines)."""
    plt = _pyplot()
    y = np.asarray(y, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, scores in curves.items():
        fpr, tpr = roc_points(y, np.asarray(scores, dtype=np.float64))
        ax.plot(fpr, tpr, label=name, lw=1.5)
    if threshold_point is not None:
        ax.plot(*threshold_point, "ko", ms=5, label="decision threshold")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def reliability_png(calibration: dict[str, Any]) -> bytes:
    """Observed rate vs mean predicted probability per bin (core.metrics.calibration_bins)."""
    plt = _pyplot()
    bins = [b for b in calibration.get("bins", []) if b["count"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    if bins:
        ax.plot([b["mean_predicted"] for b in bins], [b["observed_rate"] for b in bins], "o-",
                label=f"model (ECE {calibration.get('ece') or 0:.3f})")
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate",
           title="reliability", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def loss_curve_png(history: dict[str, Any]) -> bytes:
    """Training and validation loss per epoch, the best epoch marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    train, val = history.get("train_loss") or [], history.get("val_loss") or []
    ax.plot(range(1, len(train) + 1), train, label="train")
    if val:
        ax.plot(range(1, len(val) + 1), val, label="validation")
    if history.get("best_epoch"):
        ax.axvline(history["best_epoch"], ls="--", color="grey", label="best epoch")
    ax.set(xlabel="epoch", ylabel="loss", title="loss curves")
    ax.legend(fontsize=8)
    return _png(fig)


def evaluation_figures(
    y: Any, scores: Any, baselines: dict[str, Any], metrics: dict[str, Any],
    history: dict[str, Any], threshold: float, task: str,
) -> dict[str, bytes]:
    """File name -> PNG for one evaluation (binary: ROC and reliability; always: loss curves)."""
    out = {"loss_curve.png": loss_curve_png(history)}
    if task == "binary":
        y = np.asarray(y, dtype=np.float64)
        s = np.asarray(scores, dtype=np.float64)
        pred = s >= threshold
        pos, neg = max(y.sum(), 1.0), max(y.size - y.sum(), 1.0)
        point = (float((pred & (y == 0)).sum() / neg), float((pred & (y == 1)).sum() / pos))
        out["roc.png"] = roc_png(y, {"model": s, **baselines}, point)
        out["reliability.png"] = reliability_png(metrics.get("calibration") or {})
    return out
