"""Rendering of drift reports: effect-size bars, reference-vs-current histograms, markdown."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import polars as pl

    from .reference import ReferenceSummary
    from .types import DriftReport

__all__ = ["effect_size_plot_png", "histograms_png", "to_markdown"]


# ---- rendering ----------------------------------------------------------------------------------
def _figure_png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless workers; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def effect_size_plot_png(report: DriftReport) -> bytes:
    """Horizontal bars of effect / threshold per feature (1.0 = threshold), drifted in red."""
    plt = _pyplot()
    rows = sorted(report.features, key=lambda f: f.effect_size / f.effect_threshold)
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(rows) + 1.2))
    ratios = [f.effect_size / f.effect_threshold for f in rows]
    colors = ["tab:red" if f.drifted else ("tab:orange" if f.significant else "tab:gray")
              for f in rows]
    ax.barh([f"{f.feature} ({f.effect_metric})" for f in rows], ratios, color=colors)
    ax.axvline(1.0, color="black", lw=1, ls="--")
    ax.set_xlabel("effect size / threshold  (red: drifted, orange: significant only)")
    ax.set_title(f"Drift effect sizes ({report.engine}), share drifted {report.share_drifted:.0%}")
    return _figure_png(fig)


def histograms_png(
    reference: ReferenceSummary, current: pl.DataFrame, features: list[str]
) -> bytes:
    """Reference vs current distributions for a few features (numeric: density on the stored
    reference bins, values outside clipped into the end bins; categorical: top-15 shares)."""
    import polars as pl

    plt = _pyplot()
    features = features or []
    ncols = min(3, max(1, len(features)))
    nrows = max(1, -(-len(features) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax in axes.ravel()[len(features):]:
        ax.axis("off")
    for ax, name in zip(axes.ravel(), features, strict=False):
        if name in reference.numeric:
            ref = reference.numeric[name]
            edges = np.asarray(ref.bin_edges)
            cur = current[name].cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
            cur_counts, _ = np.histogram(np.clip(cur, edges[0], edges[-1]), bins=edges)
            width = np.diff(edges)
            ref_counts = np.asarray(ref.bin_counts, dtype=float)
            ax.stairs(ref_counts / max(ref_counts.sum(), 1) / width, edges, label="reference")
            ax.stairs(cur_counts / max(cur_counts.sum(), 1) / width, edges, label="current")
        elif name in reference.categorical:
            ref_c = reference.categorical[name]
            cur_vc = current[name].cast(pl.Utf8).drop_nulls().value_counts()
            cur_map = dict(zip(cur_vc[name].to_list(), cur_vc["count"].to_list(), strict=True))
            cats = list(dict.fromkeys([*ref_c.categories, *cur_map]))[:15]
            ref_map = dict(zip(ref_c.categories, ref_c.counts, strict=True))
            x = np.arange(len(cats))
            ref_tot, cur_tot = max(ref_c.n, 1), max(sum(cur_map.values()), 1)
            ax.bar(x - 0.2, [ref_map.get(c, 0) / ref_tot for c in cats], 0.4, label="reference")
            ax.bar(x + 0.2, [cur_map.get(c, 0) / cur_tot for c in cats], 0.4, label="current")
            ax.set_xticks(x, [str(c)[:12] for c in cats], rotation=45, ha="right", fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _figure_png(fig)


def _img(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def to_markdown(
    report: DriftReport,
    reference: ReferenceSummary | None = None,
    current: pl.DataFrame | None = None,
    *,
    plots: bool = True,
    top_k: int = 6,
) -> str:
    """Markdown summary with PNGs embedded as base64 data URIs (rendered by the Dagster UI)."""
    verdict = "DRIFT" if report.drifted else "no drift"
    cfg = report.config
    calibrated = report.verdict_method == "calibrated_holm"
    rule = (f"calibrated on the reference's batches ({report.calibration_shape}), "
            if calibrated else f"fixed thresholds, share threshold {cfg.share_threshold:.0%}, ")
    lines = [
        f"**Drift verdict: {verdict}** (engine `{report.engine}`, {report.n_cur:,} current rows, "
        f"{report.share_drifted:.0%} of features drifted; {rule}"
        f"alpha {cfg.alpha} with {cfg.correction} correction; batch score "
        f"{report.batch_score:.2f})",
        *[f"\n_Note: {n}_" for n in report.notes],
        "",
        "| feature | kind | test | statistic | p (adj.) | effect | metric | band (5-95%) "
        "| limit | p calibrated (adj.) | drifted |",
        "|---|---|---|---:|---:|---:|---|---|---:|---:|---|",
    ]
    rows = report.top_drifted(len(report.features))
    if report.prediction is not None:
        rows = [*rows, report.prediction]
    for f in rows:
        lines.append(
            f"| {f.feature} | {f.kind} | {f.test} | {f.statistic:.4g} | {f.p_value_adjusted:.3g} "
            f"| {f.effect_size:.3g} | {f.effect_metric} >= {f.effect_threshold:g} "
            f"| {f.band_low:.3g}-{f.band_high:.3g} | {f.band_upper:.3g} "
            f"| {f.calibrated_p_adjusted:.3g} | {'**yes**' if f.drifted else 'no'} |"
        )
    for mv in [report.multivariate, *report.extra_multivariate]:
        if mv is not None:
            lines += [
                "",
                f"Multivariate {mv.test.upper()}: statistic {mv.statistic:.4g}, "
                f"p {mv.p_value:.3g} ({mv.n_permutations} permutations, n_ref {mv.n_ref}, "
                f"n_cur {mv.n_cur}, sigma {mv.sigma:.3g}; calibrated p (adj.) "
                f"{mv.calibrated_p_adjusted:.3g}, limit {mv.band_upper:.3g}) -> "
                f"{'**drifted**' if mv.drifted else 'not drifted'}",
            ]
    if plots and report.features:
        lines += ["", _img(effect_size_plot_png(report), "effect sizes")]
        if reference is not None and current is not None:
            names = [f.feature for f in report.top_drifted(top_k)]
            lines += ["", _img(histograms_png(reference, current, names), "distributions")]
    return "\n".join(lines)
