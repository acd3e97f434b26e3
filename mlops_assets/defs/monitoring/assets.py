"""Drift reports: each new batch against the champion's reference, with checks the sensors read.

Checks are non-blocking on purpose: a drifted batch is still a valid batch and its report is
published; a failed `no_data_drift` or `performance_within_bounds` is what the retraining sensor
acts on. The verdicts are calibrated on the champion's own training batches (docs/drift.md), so a
batch is judged against what batches of its shape look like when nothing changed; the
assessment itself is the pure `core.batch_assessment.assess_batch`.
"""

from typing import Any

import dagster as dg
from pydantic import Field

from mlops_assets.core.batch_assessment import AssessmentSettings, assess_batch, summarize_checks
from mlops_assets.core.check_names import (
    DATA_DRIFT,
    MISSINGNESS,
    PERFORMANCE,
    PREDICTION_DRIFT,
)
from mlops_assets.core.features import feature_columns
from mlops_assets.core.spec import DatasetSpec, ResolvedMonitoring, resolve_monitoring
from mlops_assets.defs.code_versions import code_version
from mlops_assets.defs.monitoring.status import publish_drift_reports
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.wap import commit_run_branch, ensure_run_branch, publish_run_branch
from mlops_assets.platform import layout
from mlops_assets.platform.frames import json_digest
from mlops_assets.platform.model_store import read_pointer


class DriftReportConfig(dg.Config):
    engine: str = Field(default="native", description="native (Apache-2.0) or alibi (BUSL-1.1)")
    alpha: float = Field(default=0.05, description="per-batch false-alarm rate of each check "
                         "(Holm over the features and MMD, each calibrated on training batches)")
    mmd_in_verdict: bool = Field(
        default=False, description="let the calibrated MMD vote in the Holm family. Off by "
        "default: MMD pools the autocorrelated rolling-rate features, and a band fitted on a "
        "short training window under-states how far they wander later (false alarms on the "
        "synthetic stream's no-change days with 10 training batches). The within-batch "
        "correlation member covers co-variation changes; MMD is always reported")
    mmd_permutations: int = 100
    numeric_effect_threshold: float = Field(
        default=0.1, description="only for references without calibration (older models): "
        "Wasserstein distance in reference standard deviations")
    categorical_effect_threshold: float = Field(
        default=0.2, description="only for references without calibration: PSI")
    share_threshold: float = Field(
        default=0.3, description="only for references without calibration: share of drifted "
        "features that makes the batch drifted")
    prediction_drift_severity: str = Field(default="WARN", description="WARN or ERROR")
    # None: the dataset's own (its spec's `monitoring`, else a default for its batch size).
    min_positives: int | None = Field(default=None, description="performance: fewer positive "
                                      "labels in a batch and its AUC is 'not assessable'")
    min_negatives: int | None = Field(default=None, description="performance: the same for "
                                      "negatives")
    min_labelled_rows: int | None = Field(default=None, description="performance of a "
                                          "regression: fewer labelled rows and it is 'not "
                                          "assessable'")
    missingness_min_increase: float = Field(
        default=0.05, description="data quality: how much more of a column must be missing "
        "than in the reference (share) before the missingness check flags it")
    missingness_severity: str = Field(default="WARN", description="WARN or ERROR")

    def drift_config(self) -> Any:
        from mlops_assets.core.drift import DriftConfig

        return DriftConfig(
            alpha=self.alpha, numeric_effect_threshold=self.numeric_effect_threshold,
            categorical_effect_threshold=self.categorical_effect_threshold,
            share_threshold=self.share_threshold, mmd_in_verdict=self.mmd_in_verdict,
            mmd_permutations=self.mmd_permutations,
        )

    def assessment(self, dataset: ResolvedMonitoring) -> AssessmentSettings:
        return AssessmentSettings(
            alpha=self.alpha, min_positives=self.min_positives or dataset.min_positives,
            min_negatives=self.min_negatives or dataset.min_negatives,
            min_rows=self.min_labelled_rows or dataset.min_labelled_rows,
            missingness_min_increase=self.missingness_min_increase)


def build_drift_report_asset(
    spec: DatasetSpec,
    partitions_def: dg.PartitionsDefinition,
    predictions: dg.AssetsDefinition,
    champion: dg.AssetsDefinition,
) -> dg.AssetsDefinition:
    ds = spec.name
    monitoring = resolve_monitoring(spec)

    @dg.asset(
        name="drift_report",
        key_prefix=[ds],
        group_name=ds,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[predictions, champion],
        code_version=code_version(__name__, "mlops_assets.defs.monitoring.status",
                                  "mlops_assets.core.batch_assessment",
                                  "mlops_assets.core.drift.native",
                                  "mlops_assets.core.drift.report",
                                  "mlops_assets.core.drift.verdict",
                                  "mlops_assets.core.drift.calibration",
                                  "mlops_assets.core.performance",
                                  "mlops_assets.core.missingness"),
        kinds={"lakefs"},
        check_specs=[
            dg.AssetCheckSpec(DATA_DRIFT, asset=dg.AssetKey([ds, "drift_report"]),
                              description="features (and MMD) within the band of the "
                              "champion's own training batches, Holm at alpha"),
            dg.AssetCheckSpec(PREDICTION_DRIFT, asset=dg.AssetKey([ds, "drift_report"]),
                              description="model scores within the band of training batches"),
            dg.AssetCheckSpec(PERFORMANCE, asset=dg.AssetKey([ds, "drift_report"]),
                              description="each labelled batch's metric within the band of "
                              "the evaluation window's batches"),
            dg.AssetCheckSpec(MISSINGNESS, asset=dg.AssetKey([ds, "drift_report"]),
                              description="data quality, not drift: missing values no more "
                              "frequent than in the reference"),
        ],
        description="Per batch, against the champion: per-feature tests and effect sizes, "
        "MMD, prediction and performance drift, each judged against the band the champion's "
        "own training batches span (a calibrated, Holm-controlled verdict); missing values "
        "reported as data quality. Batches the champion has seen are flagged in_sample.",
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
        record = lakefs.get_json(branch, base + "record.json")
        detector = get_detector(config.engine)  # fails clearly when the alibi extra is missing
        numeric, _ = feature_columns(spec)

        per_batch: dict[str, dict[str, Any]] = {}
        markdown = ""
        keys = context.partition_keys
        paths = [layout.features(ds, k) for k in keys] + [layout.predictions(ds, k) for k in keys]
        frames = lakefs.get_frames(branch, paths)
        for i, (key, feats, preds) in enumerate(
            zip(keys, frames[: len(keys)], frames[len(keys):], strict=True)
        ):
            doc, report, current = assess_batch(
                key, feats, preds.get_column("score"), reference=reference,
                evaluation=evaluation, record=record, detector=detector,
                drift_config=config.drift_config(), numeric_features=numeric,
                settings=config.assessment(monitoring))
            per_batch[key] = doc
            if key == keys[-1]:  # plots cost ~1 s a batch: the run's page shows the newest
                markdown = to_markdown(report, reference, current)
            if len(keys) > 5 and (i + 1) % max(1, len(keys) // 5) == 0:
                context.log.info(f"drift: {i + 1}/{len(keys)} batches assessed")
        # Reports and the champion's shared status go out together; another drift run that
        # published meanwhile is folded in, never overwritten (status.py).
        published, status = publish_drift_reports(
            lakefs, branch, base, version, per_batch,
            {layout.drift_report(ds, key): doc for key, doc in per_batch.items()},
            commit=lambda: commit_run_branch(context, lakefs, branch, f"{ds}: drift reports",
                                             model_version=version),
            publish=lambda: publish_run_branch(context, lakefs, f"{ds}: publish drift reports"))
        # Each partition its own numbers (plotted across partitions in the UI) and its own
        # report; a range run's MaterializeResult metadata would land on every partition.
        last = keys[-1]
        for key, doc in per_batch.items():
            context.add_asset_metadata(
                partition_metadata(doc, lakefs.uri(published.commit_id,
                                                   layout.drift_report(ds, key))),
                partition_key=key)
        summaries = summarize_checks(per_batch)
        severities = {PREDICTION_DRIFT: config.prediction_drift_severity,
                      MISSINGNESS: config.missingness_severity}
        checks = [
            dg.AssetCheckResult(
                check_name=s.check, passed=s.passed, description=s.description[:2000],
                severity=dg.AssetCheckSeverity(severities.get(s.check, "ERROR").upper()),
                metadata={k: (dg.MetadataValue.json(v) if isinstance(v, dict | list) else v)
                          for k, v in s.metadata.items()},
            )
            for s in summaries
        ]
        return dg.MaterializeResult(
            data_version=dg.DataVersion(json_digest(per_batch)),
            check_results=checks,
            metadata={
                "lakefs_commit": published.commit_id,
                "champion": version,
                "batches_assessed": len(per_batch),
                "drifted_batches": dg.MetadataValue.json(
                    summaries[0].metadata["drifted_batches"]),
                "summary": dg.MetadataValue.md(status["summary"]),
                "report": dg.MetadataValue.md(f"### Batch {last}\n\n{markdown}"),
            },
        )

    return drift_report


def verdict_text(doc: dict[str, Any]) -> str:
    v = doc["verdicts"]
    parts = [name for name, flag in (("data drift", v[DATA_DRIFT]),
                                     ("prediction drift", v[PREDICTION_DRIFT]),
                                     ("performance drift", v[PERFORMANCE]),
                                     ("missing values", v[MISSINGNESS])) if flag]
    text = ", ".join(parts) if parts else "no drift"
    if v[PERFORMANCE] is None:
        text += " (performance not assessable)"
    return text + (" [in-sample]" if doc["in_sample"] else "")


def partition_metadata(doc: dict[str, Any], uri: str) -> dict[str, Any]:
    """What one drift_report partition shows: numbers the UI plots, and its own report."""
    report, perf = doc["report"], doc["performance"]
    drifted = [f["feature"] for f in report["features"] if f.get("drifted")]
    mv = report.get("multivariate") or {}
    meta: dict[str, Any] = {
        "dagster/row_count": doc["rows"],
        "batch_score": dg.MetadataValue.float(float(doc.get("batch_score") or 0.0)),
        "share_drifted": dg.MetadataValue.float(float(report["share_drifted"])),
        "drifted_features": dg.MetadataValue.int(len(drifted)),
        "in_sample": dg.MetadataValue.bool(doc["in_sample"]),
        "verdict": verdict_text(doc),
        "lakefs_uri": dg.MetadataValue.url(uri),
        "summary": dg.MetadataValue.md(batch_markdown(doc)),
    }
    if mv.get("statistic") is not None:
        meta["mmd2"] = dg.MetadataValue.float(float(mv["statistic"]))
    if perf.get("value") is not None:
        meta["batch_" + str(perf.get("metric", "metric"))] = dg.MetadataValue.float(
            float(perf["value"]))
    return meta


def batch_markdown(doc: dict[str, Any]) -> str:
    """A compact per-batch table: the features furthest outside their band first."""
    report = doc["report"]
    rows = sorted(report["features"], key=lambda f: f.get("calibrated_z") or 0.0, reverse=True)
    lines = [f"**Batch {doc['batch']}: {verdict_text(doc)}** (champion `{doc['champion']}`, "
             f"{doc['rows']:,} rows, batch score {doc.get('batch_score') or 0:.2f}, "
             f"method {report.get('verdict_method', '?')})", "",
             "| feature | effect | band (5-95%) | calibrated p (Holm) | drifted |",
             "|---|---:|---|---:|---|"]
    for f in rows[:8]:
        band = (f"{f['band_low']:.3g}..{f['band_high']:.3g}"
                if f.get("band_low") is not None and f.get("band_high") is not None else "-")
        p_adj = f.get("calibrated_p_adjusted")
        lines.append(f"| {f['feature']} | {f['effect_size']:.3g} {f['effect_metric']} | {band} "
                     f"| {'-' if p_adj is None else f'{p_adj:.3g}'} "
                     f"| {'**yes**' if f.get('drifted') else 'no'} |")
    perf = doc["performance"]
    lines += ["", "Performance: " + (
        f"{perf.get('metric')} {perf['value']:.3f} vs expected {perf['expected']:.3f} "
        f"(p {perf['p']:.3g})" if perf.get("assessable") else
        f"not assessable ({perf.get('reason')})")]
    flagged = [m for m in doc["missingness"] if m["flagged"]]
    if flagged:
        lines += ["", "Data quality: " + ", ".join(
            f"{m['column']} {m['batch_share']:.0%} missing (reference {m['reference_share']:.0%})"
            for m in flagged)]
    return "\n".join(lines)
