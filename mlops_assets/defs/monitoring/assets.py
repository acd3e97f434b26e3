"""Drift reports: each new batch against the champion's reference, with checks the sensors read.

Checks are non-blocking on purpose: a drifted batch is still a valid batch and its report is
published; a failed `no_data_drift` or `performance_within_bounds` is what the retraining sensor
acts on. Thresholds gate on effect sizes, not p-values alone (at large n every tiny shift is
significant).
"""

from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from mlops_assets.core.check_names import (
    DATA_DRIFT,
    META_BATCHES,
    META_DRIFTED_BATCHES,
    META_DRIFTED_FEATURES,
    META_EFFECT_SIZES,
    META_OUT_OF_BOUNDS,
    META_SHARE_DRIFTED,
    PERFORMANCE,
    PREDICTION_DRIFT,
)
from mlops_assets.core.features import TARGET
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.code_versions import code_version
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.wap import commit_run_branch, ensure_run_branch, publish_run_branch
from mlops_assets.platform import layout
from mlops_assets.platform.frames import json_digest
from mlops_assets.platform.model_store import read_pointer

MIN_LABELLED_ROWS = 50


class DriftReportConfig(dg.Config):
    engine: str = Field(default="native", description="native (Apache-2.0) or alibi (BUSL-1.1)")
    alpha: float = Field(default=0.05, description="test level after Holm correction")
    numeric_effect_threshold: float = Field(
        default=0.1, description="Wasserstein distance in reference standard deviations")
    categorical_effect_threshold: float = Field(default=0.2, description="PSI")
    share_threshold: float = Field(
        default=0.5, description="share of drifted features that makes the batch drifted")
    mmd_in_verdict: bool = Field(
        default=False, description="let a significant MMD alone make the batch drifted (MMD "
        "has no effect-size gate, so at alpha 0.05 it alarms on 1 in 20 stable batches)")
    mmd_permutations: int = 100
    prediction_drift_severity: str = Field(default="WARN", description="WARN or ERROR")
    performance_tolerance: float = Field(
        default=0.05, description="how far (in the metric, e.g. AUC points) a batch's upper CI "
        "bound may fall below the evaluation's lower bound: single days vary more than the "
        "pooled evaluation window's CI says")

    def drift_config(self) -> Any:
        from mlops_assets.core.drift import DriftConfig

        return DriftConfig(
            alpha=self.alpha, numeric_effect_threshold=self.numeric_effect_threshold,
            categorical_effect_threshold=self.categorical_effect_threshold,
            share_threshold=self.share_threshold, mmd_in_verdict=self.mmd_in_verdict,
            mmd_permutations=self.mmd_permutations,
        )


def build_drift_report_asset(
    spec: DatasetSpec,
    partitions_def: dg.PartitionsDefinition,
    predictions: dg.AssetsDefinition,
    champion: dg.AssetsDefinition,
) -> dg.AssetsDefinition:
    ds = spec.name

    @dg.asset(
        name="drift_report",
        group_name=ds,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[predictions, champion],
        code_version=code_version(__name__, "mlops_assets.core.drift.native",
                                  "mlops_assets.core.drift.report",
                                  "mlops_assets.core.drift.reference", "mlops_assets.core.metrics"),
        kinds={"lakefs"},
        check_specs=[
            dg.AssetCheckSpec(DATA_DRIFT, asset="drift_report",
                              description="features within the champion's reference"),
            dg.AssetCheckSpec(PREDICTION_DRIFT, asset="drift_report",
                              description="model scores distributed as in training"),
            dg.AssetCheckSpec(PERFORMANCE, asset="drift_report",
                              description="labelled batches score within the evaluation CI"),
        ],
        description="Per batch: KS/chi-squared per feature with Holm-corrected p-values and "
        "effect sizes, MMD on a bounded sample, prediction drift and (with labels) performance "
        "drift, against the champion's reference summary.",
    )
    def drift_report(
        context: dg.AssetExecutionContext, config: DriftReportConfig, lakefs: LakeFS
    ) -> dg.MaterializeResult:
        from mlops_assets.core.drift import ReferenceSummary, get_detector, to_markdown

        branch = ensure_run_branch(lakefs, context.run)
        pointer = read_pointer(lakefs, branch, ds, "champion")
        if pointer is None:
            raise dg.Failure(f"no champion model of {ds} yet: drift needs its reference")
        version = pointer["version"]
        base = layout.model_dir(ds, version)
        reference = ReferenceSummary.from_dict(lakefs.get_json(branch, base + "reference.json"))
        evaluation = lakefs.get_json(branch, base + "evaluation.json")
        detector = get_detector(config.engine)  # fails clearly when the alibi extra is missing

        per_batch: dict[str, dict[str, Any]] = {}
        markdown = ""
        keys = context.partition_keys
        last = keys[-1]
        paths = [layout.features(ds, k) for k in keys] + [layout.predictions(ds, k) for k in keys]
        frames = lakefs.get_frames(branch, paths)
        for key, feats, preds in zip(keys, frames[: len(keys)], frames[len(keys):], strict=True):
            current = feats.with_columns(preds.get_column("score"))
            report = detector.detect(reference, current, config.drift_config())
            performance = performance_drift(feats, preds, evaluation, spec.target.task,
                                            config.performance_tolerance)
            doc = {"batch": key, "champion": version, "engine": config.engine,
                   "report": report.to_dict(), "performance": performance}
            lakefs.put_json(branch, layout.drift_report(ds, key), doc)
            per_batch[key] = doc
            if key == last:  # plots cost ~1 s a batch: the UI shows the newest batch's
                markdown = to_markdown(report, reference, current)
        commit_id = commit_run_branch(context, lakefs, branch, f"{ds}: drift reports",
                                      model_version=version)
        published = publish_run_branch(context, lakefs, f"{ds}: publish drift reports")
        checks = drift_check_results(per_batch, config)
        drifted = [k for k, d in per_batch.items() if d["report"]["drifted"]]
        summary = (
            f"{len(per_batch)} batch(es) against champion `{version}` ({config.engine} engine): "
            + (f"**data drift in {', '.join(drifted)}**" if drifted else "no data drift")
        )
        return dg.MaterializeResult(
            data_version=dg.DataVersion(json_digest(per_batch)),
            check_results=checks,
            metadata={
                "lakefs_commit": commit_id,
                "lakefs_uri": lakefs.uri(published.commit_id, layout.drift_report(ds, last)),
                "champion": version,
                "drifted_batches": dg.MetadataValue.json(drifted),
                "report": dg.MetadataValue.md(f"### Batch {last}\n\n{markdown}"),
                "summary": dg.MetadataValue.md(summary),
            },
        )

    return drift_report


def performance_drift(
    feats: pl.DataFrame, preds: pl.DataFrame, evaluation: dict, task: str, tolerance: float
) -> dict[str, Any]:
    """The headline metric on the batch's labelled rows against the champion's evaluation CI:
    out of bounds when even the batch's upper CI bound is below the evaluation's lower bound
    minus `tolerance`."""
    from mlops_assets.core.metrics import evaluate

    labelled = feats.select(TARGET).with_columns(preds.get_column("score")).drop_nulls()
    metric = "auc" if task == "binary" else "r2"
    reference = evaluation["metrics"].get(metric) or {}
    if labelled.height < MIN_LABELLED_ROWS:
        return {"metric": metric, "labelled_rows": labelled.height, "evaluated": False}
    batch = evaluate(labelled.get_column(TARGET).to_numpy(), labelled.get_column("score")
                     .to_numpy(), task, n_bootstrap=200, seed=0).get(metric) or {}
    within = (
        batch.get("ci_high") is None or reference.get("ci_low") is None
        or batch["ci_high"] >= reference["ci_low"] - tolerance
    )
    return {"metric": metric, "labelled_rows": labelled.height, "evaluated": True,
            "batch": batch, "evaluation": reference, "tolerance": tolerance,
            "within_bounds": within}


def drift_check_results(
    per_batch: dict[str, dict[str, Any]], config: DriftReportConfig
) -> list[dg.AssetCheckResult]:
    data_drifted = {k: d["report"] for k, d in per_batch.items() if d["report"]["drifted"]}
    pred_drifted = {
        k: d["report"]["prediction"] for k, d in per_batch.items()
        if (d["report"].get("prediction") or {}).get("drifted")
    }
    perf_out = {k: d["performance"] for k, d in per_batch.items()
                if d["performance"].get("evaluated") and not d["performance"]["within_bounds"]}
    batches = sorted(per_batch)

    def effects(report: dict) -> dict[str, float]:
        return {f["feature"]: round(f["effect_size"], 4) for f in report["features"]
                if f["drifted"]}

    return [
        dg.AssetCheckResult(
            check_name=DATA_DRIFT,
            passed=not data_drifted,
            severity=dg.AssetCheckSeverity.ERROR,
            description=("no data drift" if not data_drifted else "data drift in " + "; ".join(
                f"{k}: {', '.join(effects(r))}" for k, r in data_drifted.items())),
            metadata={
                META_BATCHES: dg.MetadataValue.json(batches),
                META_DRIFTED_BATCHES: dg.MetadataValue.json(sorted(data_drifted)),
                META_DRIFTED_FEATURES: dg.MetadataValue.json(
                    {k: effects(r) for k, r in data_drifted.items()}),
                META_SHARE_DRIFTED: dg.MetadataValue.json(
                    {k: round(d["report"]["share_drifted"], 3) for k, d in per_batch.items()}),
            },
        ),
        dg.AssetCheckResult(
            check_name=PREDICTION_DRIFT,
            passed=not pred_drifted,
            severity=dg.AssetCheckSeverity(config.prediction_drift_severity.upper()),
            description=("scores as in training" if not pred_drifted else
                         "score distribution shifted in " + ", ".join(sorted(pred_drifted))),
            metadata={META_BATCHES: dg.MetadataValue.json(batches),
                      META_EFFECT_SIZES: dg.MetadataValue.json(
                          {k: round(p["effect_size"], 4) for k, p in pred_drifted.items()})},
        ),
        dg.AssetCheckResult(
            check_name=PERFORMANCE,
            passed=not perf_out,
            severity=dg.AssetCheckSeverity.ERROR,
            description=("performance within the evaluation interval" if not perf_out else
                         "performance below the evaluation interval in "
                         + ", ".join(sorted(perf_out))),
            metadata={META_BATCHES: dg.MetadataValue.json(batches),
                      META_OUT_OF_BOUNDS: dg.MetadataValue.json(perf_out)},
        ),
    ]
