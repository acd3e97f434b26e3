"""Shared drift configuration, result types, verdict rules and rendering (plots, markdown).

Verdict rules are engine-independent so "native" and "alibi" reports are comparable:

* per-feature p-values are Holm-adjusted (default; ``correction="bonferroni"`` is available) over
  all tested features. Holm controls the family-wise error rate like Bonferroni and is never less
  powerful;
* a feature is drifted only if it is significant (adjusted p < alpha) AND its effect size reaches
  the threshold, because at large n every negligible shift is significant;
* the dataset is drifted if the share of drifted features reaches ``share_threshold`` or (when
  ``mmd_in_verdict``) the multivariate MMD test is significant. MMD runs on a bounded sample
  (``mmd_max_samples`` per side), which keeps it from flagging negligible shifts.
"""

from __future__ import annotations

import base64
import io
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import polars as pl

    from .reference import ReferenceSummary

__all__ = [
    "DriftConfig",
    "DriftDetector",
    "DriftReport",
    "FeatureDrift",
    "MultivariateDrift",
    "adjust_pvalues",
    "effect_size_plot_png",
    "finalize_report",
    "histograms_png",
    "to_markdown",
]

Engine = Literal["native", "alibi"]


@dataclass(frozen=True)
class DriftConfig:
    alpha: float = 0.05
    correction: Literal["holm", "bonferroni"] = "holm"
    # Wasserstein-1 distance in reference standard deviations.
    numeric_effect_threshold: float = 0.1
    categorical_effect_metric: Literal["psi", "jensen_shannon"] = "psi"
    # None -> 0.2 for PSI (the usual "significant shift" rule of thumb), 0.1 for JS distance.
    categorical_effect_threshold: float | None = None
    share_threshold: float = 0.3
    # KS reference: "quantiles" = full-reference CDF (see reference.py), "sample" = the stored
    # sample (exactly what alibi's KSDrift sees; lower power, used for parity checks).
    ks_reference: Literal["quantiles", "sample"] = "quantiles"
    mmd: bool = True
    mmd_permutations: int = 100
    mmd_max_samples: int = 1000  # per side
    mmd_in_verdict: bool = True
    lsdd: bool = False  # alibi engine only: extra LSDD test (reported, not in the verdict)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        if self.mmd_permutations < 1 or self.mmd_max_samples < 2:
            raise ValueError("mmd_permutations must be >= 1 and mmd_max_samples >= 2")
        if not 0 < self.share_threshold <= 1:
            raise ValueError("share_threshold must be in (0, 1]")

    @property
    def categorical_threshold(self) -> float:
        if self.categorical_effect_threshold is not None:
            return self.categorical_effect_threshold
        return 0.2 if self.categorical_effect_metric == "psi" else 0.1


@dataclass
class FeatureDrift:
    feature: str
    kind: Literal["numeric", "categorical", "prediction"]
    test: Literal["ks", "chi2"]
    statistic: float
    p_value: float
    effect_size: float
    effect_metric: str  # "wasserstein_sd" | "psi" | "jensen_shannon"
    effect_threshold: float
    n_ref: int
    n_cur: int
    p_value_adjusted: float = float("nan")
    significant: bool = False
    drifted: bool = False


@dataclass
class MultivariateDrift:
    test: Literal["mmd", "lsdd"]
    statistic: float  # unbiased MMD^2 (alibi's estimator) or LSDD
    p_value: float  # (1 + #{perm >= observed}) / (1 + P): never 0, a valid permutation p-value
    n_ref: int
    n_cur: int
    sigma: float
    n_permutations: int
    n_exceed: int  # permuted statistics >= observed
    drifted: bool = False

    @property
    def p_value_alibi(self) -> float:
        """alibi-detect's convention, #{perm >= observed} / P (can be 0; alibi-detect#960)."""
        return self.n_exceed / self.n_permutations


@dataclass
class DriftReport:
    engine: str
    features: list[FeatureDrift]
    multivariate: MultivariateDrift | None
    prediction: FeatureDrift | None
    share_drifted: float
    drifted: bool
    config: DriftConfig
    n_cur: int
    extra_multivariate: list[MultivariateDrift] = field(default_factory=list)
    seconds: float = float("nan")

    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def top_drifted(self, k: int = 5) -> list[FeatureDrift]:
        """Features ranked by effect relative to its threshold (drifted ones first)."""
        ranked = sorted(
            self.features,
            key=lambda f: (f.drifted, f.effect_size / f.effect_threshold),
            reverse=True,
        )
        return ranked[:k]

    def to_dict(self) -> dict[str, Any]:
        def clean(obj: Any) -> Any:
            # JSON has no NaN/inf; None keeps it loadable everywhere (lakeFS, Dagster metadata).
            if isinstance(obj, float) and not np.isfinite(obj):
                return None
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [clean(v) for v in obj]
            return obj

        out = asdict(self)
        if self.multivariate is not None:
            out["multivariate"]["p_value_alibi"] = self.multivariate.p_value_alibi
        out["drifted_features"] = self.drifted_features()
        return clean(out)


class DriftDetector(ABC):
    """One drift engine. Implementations must apply :func:`finalize_report` for verdicts."""

    name: str

    @abstractmethod
    def detect(
        self, reference: ReferenceSummary, current: pl.DataFrame, config: DriftConfig
    ) -> DriftReport: ...


def adjust_pvalues(p: np.ndarray, method: Literal["holm", "bonferroni"]) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    if method != "holm":
        raise ValueError(f"unknown correction {method!r}")
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(1.0, stepped)
    return out


def finalize_report(
    engine: str,
    features: list[FeatureDrift],
    multivariate: MultivariateDrift | None,
    prediction: FeatureDrift | None,
    config: DriftConfig,
    n_cur: int,
    extra_multivariate: list[MultivariateDrift] | None = None,
) -> DriftReport:
    """Apply multiple-testing correction and the significance-AND-effect rule."""
    adjusted = adjust_pvalues(np.array([f.p_value for f in features]), config.correction)
    for f, p_adj in zip(features, adjusted, strict=True):
        f.p_value_adjusted = float(p_adj)
        f.significant = bool(p_adj < config.alpha)
        f.drifted = f.significant and f.effect_size >= f.effect_threshold
    if prediction is not None:  # a single test of its own, no family to correct for
        prediction.p_value_adjusted = prediction.p_value
        prediction.significant = bool(prediction.p_value < config.alpha)
        prediction.drifted = prediction.significant and (
            prediction.effect_size >= prediction.effect_threshold
        )
    for mv in [multivariate, *(extra_multivariate or [])]:
        if mv is not None:
            mv.drifted = bool(mv.p_value < config.alpha)
    share = sum(f.drifted for f in features) / len(features) if features else 0.0
    drifted = (bool(features) and share >= config.share_threshold) or bool(
        config.mmd_in_verdict and multivariate is not None and multivariate.drifted
    )
    return DriftReport(
        engine=engine,
        features=features,
        multivariate=multivariate,
        prediction=prediction,
        share_drifted=share,
        drifted=drifted,
        config=config,
        n_cur=n_cur,
        extra_multivariate=list(extra_multivariate or []),
    )


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
    lines = [
        f"**Drift verdict: {verdict}** (engine `{report.engine}`, {report.n_cur:,} current rows, "
        f"{report.share_drifted:.0%} of features drifted; threshold {cfg.share_threshold:.0%}, "
        f"alpha {cfg.alpha} with {cfg.correction} correction)",
        "",
        "| feature | kind | test | statistic | p (adj.) | effect | metric | drifted |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    rows = report.top_drifted(len(report.features))
    if report.prediction is not None:
        rows = [*rows, report.prediction]
    for f in rows:
        lines.append(
            f"| {f.feature} | {f.kind} | {f.test} | {f.statistic:.4g} | {f.p_value_adjusted:.3g} "
            f"| {f.effect_size:.3g} | {f.effect_metric} >= {f.effect_threshold:g} "
            f"| {'**yes**' if f.drifted else 'no'} |"
        )
    for mv in [report.multivariate, *report.extra_multivariate]:
        if mv is not None:
            lines += [
                "",
                f"Multivariate {mv.test.upper()}: statistic {mv.statistic:.4g}, "
                f"p {mv.p_value:.3g} ({mv.n_permutations} permutations, n_ref {mv.n_ref}, "
                f"n_cur {mv.n_cur}, sigma {mv.sigma:.3g}) -> "
                f"{'**drifted**' if mv.drifted else 'not drifted'}",
            ]
    if plots and report.features:
        lines += ["", _img(effect_size_plot_png(report), "effect sizes")]
        if reference is not None and current is not None:
            names = [f.feature for f in report.top_drifted(top_k)]
            lines += ["", _img(histograms_png(reference, current, names), "distributions")]
    return "\n".join(lines)
