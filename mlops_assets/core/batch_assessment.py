"""One batch against the champion, and the per-check verdicts the retrain policy reads.

``assess_batch`` is what the drift_report asset runs for each partition (polars in, a JSON-able
dict out): calibrated data drift (core.drift), prediction drift, performance drift against the
evaluation window's per-batch baseline (core.performance), and missingness as data quality
(core.missingness). A batch inside the champion's training or evaluation window (or older than
it) is assessed and reported but flagged ``in_sample``: it cannot show that the world moved on
since the model was trained, so it never counts toward a retrain.

``summarize_checks`` folds the per-batch documents of a run into one result per drift check
(pass/fail, a description naming the batches, and metadata with every batch's verdict).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from mlops_assets.core.check_names import (
    DATA_DRIFT,
    META_BATCHES,
    META_DRIFTED_BATCHES,
    META_DRIFTED_FEATURES,
    META_EFFECT_SIZES,
    META_OUT_OF_BOUNDS,
    META_SHARE_DRIFTED,
    META_VERDICTS,
    MISSINGNESS,
    PERFORMANCE,
    PREDICTION_DRIFT,
)
from mlops_assets.core.features import TARGET
from mlops_assets.core.missingness import (
    mask_imputed,
    missingness_findings,
    split_missing_indicators,
)

if TYPE_CHECKING:
    from mlops_assets.core.drift import DriftConfig, DriftDetector, DriftReport, ReferenceSummary

SCORE = "score"


@dataclass(frozen=True)
class AssessmentSettings:
    """Performance and missingness knobs (the data-drift ones live in DriftConfig)."""

    alpha: float = 0.05
    # AUC on fewer labels is noise: such a batch is "not assessable", never "fine".
    min_positives: int = 10
    min_negatives: int = 10
    min_rows: int = 30  # regression metrics
    missingness_min_increase: float = 0.05


def assess_batch(
    key: str,
    feats: pl.DataFrame,
    scores: pl.Series,
    *,
    reference: ReferenceSummary,
    evaluation: dict[str, Any],
    record: dict[str, Any],
    detector: DriftDetector,
    drift_config: DriftConfig,
    numeric_features: list[str],
    settings: AssessmentSettings = AssessmentSettings(),  # frozen, so a safe default
) -> tuple[dict[str, Any], DriftReport, pl.DataFrame]:
    """(the drift report document of one batch, its DriftReport, the frame it was measured on:
    imputed values masked, with the scores) (see the module docstring)."""
    from mlops_assets.core.performance import label_shift, performance_drift

    _, indicators = split_missing_indicators(numeric_features)
    current = mask_imputed(feats, indicators).with_columns(scores.alias(SCORE))
    report = detector.detect(reference, current, drift_config)

    labelled = current.select(TARGET, SCORE).drop_nulls()
    baseline = evaluation.get("baseline")
    if baseline:
        performance = performance_drift(
            labelled.get_column(TARGET).to_numpy(), labelled.get_column(SCORE).to_numpy(),
            baseline, alpha=settings.alpha, min_positives=settings.min_positives,
            min_negatives=settings.min_negatives, min_rows=settings.min_rows)
    else:  # a champion evaluated before per-batch baselines existed
        performance = {"assessable": False, "within_bounds": None, "n": labelled.height,
                       "reason": "the champion's evaluation has no per-batch baseline; "
                                 "retrain it to assess performance per batch"}

    if evaluation.get("per_batch") and "n_pos" in (evaluation["per_batch"][0] or {}):
        # Binary tasks: a label-prior shift is performance drift even when AUC is unassessable.
        y = labelled.get_column(TARGET)
        shift = label_shift(int((y == 1).sum()), labelled.height, evaluation["per_batch"],
                            alpha=settings.alpha)
        performance["label_shift"] = shift
        if shift.get("shifted"):
            performance["within_bounds"] = False
            performance["reason"] = (
                f"label rate {shift['rate']:.1%} vs {shift['expected']:.1%} in the evaluation "
                f"window (p {shift['p']:.2g}); " + str(performance.get("reason") or ""))

    shares = {
        name: ref.n_null / max(ref.n + ref.n_null, 1)
        for name, ref in reference.numeric.items() if name in indicators
    }
    missing = missingness_findings(shares, current, alpha=settings.alpha,
                                   min_increase=settings.missingness_min_increase)
    report_doc = report.to_dict()
    prediction = report_doc.get("prediction") or {}
    # Inside the model's training/evaluation window, or older than it (partition keys sort in
    # time order): such a batch says nothing about the world moving on since training.
    window = set(record.get("train_batches") or []) | set(record.get("eval_batches") or [])
    in_sample = key in window or (bool(window) and key < min(window))
    doc = {
        "batch": key,
        "champion": record.get("version"),
        "engine": report.engine,
        "rows": feats.height,
        "in_sample": in_sample,
        "report": report_doc,
        "performance": performance,
        "missingness": [f.to_dict() for f in missing],
        "verdicts": {
            DATA_DRIFT: bool(report.drifted),
            PREDICTION_DRIFT: bool(prediction.get("drifted")),
            PERFORMANCE: (True if performance.get("within_bounds") is False
                          else None if not performance.get("assessable") else False),
            MISSINGNESS: any(f.flagged for f in missing),
        },
        "batch_score": report_doc.get("batch_score"),
    }
    return doc, report, current


@dataclass(frozen=True)
class CheckSummary:
    check: str
    passed: bool
    description: str
    metadata: dict[str, Any]


def _drifted_effects(doc: dict[str, Any]) -> dict[str, float]:
    return {f["feature"]: round(f["effect_size"], 4) for f in doc["report"]["features"]
            if f.get("drifted")}


def summarize_checks(per_batch: dict[str, dict[str, Any]]) -> list[CheckSummary]:
    """One summary per drift check. A check fails only on batches the champion has not seen
    (in-sample ones are listed, flagged, and ignored); a not-assessable batch never fails."""
    batches = sorted(per_batch)
    out = []
    for check in (DATA_DRIFT, PREDICTION_DRIFT, PERFORMANCE, MISSINGNESS):
        verdicts = {
            k: {"drifted": d["verdicts"][check], "in_sample": d["in_sample"],
                "batch_score": d.get("batch_score") if check == DATA_DRIFT else None,
                "model_version": d["champion"]}
            for k, d in per_batch.items()
        }
        failed = [k for k in batches if verdicts[k]["drifted"] and not verdicts[k]["in_sample"]]
        in_sample = [k for k in batches if verdicts[k]["drifted"] and verdicts[k]["in_sample"]]
        meta: dict[str, Any] = {META_BATCHES: batches, META_VERDICTS: verdicts,
                                META_DRIFTED_BATCHES: failed, "failed_batch_count": len(failed)}
        if check == DATA_DRIFT:
            meta[META_DRIFTED_FEATURES] = {k: _drifted_effects(per_batch[k]) for k in failed}
            meta[META_SHARE_DRIFTED] = {k: round(d["report"]["share_drifted"], 3)
                                        for k, d in per_batch.items()}
            scores = [d.get("batch_score") for d in per_batch.values()]
            meta["max_batch_score"] = max((s for s in scores if s is not None), default=0.0)
            detail = "; ".join(f"{k}: {', '.join(_drifted_effects(per_batch[k])) or 'MMD'}"
                               for k in failed)
            ok_text, fail_text = "no data drift", f"data drift in {detail}"
        elif check == PREDICTION_DRIFT:
            meta[META_EFFECT_SIZES] = {
                k: round((per_batch[k]["report"].get("prediction") or {}).get("effect_size", 0),
                         4) for k in failed}
            ok_text = "scores distributed as in training"
            fail_text = "score distribution shifted in " + ", ".join(failed)
        elif check == PERFORMANCE:
            meta[META_OUT_OF_BOUNDS] = {k: per_batch[k]["performance"] for k in failed}
            not_assessable = [k for k in batches if verdicts[k]["drifted"] is None]
            meta["not_assessable"] = {k: per_batch[k]["performance"].get("reason")
                                      for k in not_assessable}
            ok_text = "performance within the per-batch band" + (
                f" ({len(not_assessable)} batch(es) not assessable: too few labels)"
                if not_assessable else "")
            fail_text = "performance below the per-batch band in " + ", ".join(failed)
        else:
            flagged = {k: [f["column"] for f in per_batch[k]["missingness"] if f["flagged"]]
                       for k in batches if verdicts[k]["drifted"]}
            meta["columns"] = flagged
            failed = sorted(flagged)  # data quality: in-sample batches count too
            meta[META_DRIFTED_BATCHES] = failed
            ok_text = "missing values as in the reference"
            fail_text = "data quality, not drift: more missing values than in the reference " \
                + "; ".join(f"{k}: {', '.join(c)}" for k, c in flagged.items())
        if in_sample and check != MISSINGNESS:
            note = f" (in-sample, ignored: {', '.join(in_sample)})"
            ok_text += note
            fail_text += note
        out.append(CheckSummary(check, not failed, fail_text if failed else ok_text, meta))
    return out
