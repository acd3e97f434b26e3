"""Training: a model version per run, its drift reference and its evaluation; the model card
(model_card.py) and the guarded promotion (promotion.py) complete the stage."""

from dataclasses import asdict
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from mlops_assets.core.check_names import QUALITY_BAR
from mlops_assets.core.features import TARGET, feature_code_version, feature_columns, order_column
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.code_versions import code_version
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.training.config import (
    EvaluationConfig,
    TrainingConfig,
    quality_bar,
    quality_policy,
)
from mlops_assets.defs.training.model_card import build_model_card_asset
from mlops_assets.defs.training.promotion import build_champion_asset, candidate_version
from mlops_assets.defs.training.render import (
    evaluation_numbers,
    headline_text,
    links,
    metrics_table,
    object_link,
    small_record,
    training_numbers,
    verdict_table,
)
from mlops_assets.defs.wap import commit_run_branch, ensure_run_branch
from mlops_assets.platform import layout
from mlops_assets.platform.frames import json_digest, read_features, rows_digest
from mlops_assets.platform.model_store import (
    library_versions,
    load_version,
    save_version,
    write_pointer,
)

SCORE = "score"
BATCH = "__batch"  # the partition key of each row, for per-batch calibration and metrics


def read_batches(lakefs: LakeFS, ref: str, ds: str, keys: list[str]) -> pl.DataFrame:
    """Feature rows of `keys` at `ref`, in batch order, each with its batch key in BATCH."""
    frames = lakefs.get_frames(ref, [layout.features(ds, k) for k in keys])
    return pl.concat([f.with_columns(pl.lit(k).alias(BATCH)) for k, f in zip(keys, frames,
                                                                               strict=True)],
                     how="vertical_relaxed")


def split_batches(keys: list[str], train_days: int, eval_days: int) -> tuple[list[str], list[str]]:
    """(training batches, evaluation batches): evaluation is the latest `eval_days`."""
    if len(keys) < 2:
        raise dg.Failure(f"need at least 2 featured batches to train and evaluate, found {keys}")
    eval_days = max(1, min(eval_days, len(keys) // 3 or 1))
    train_keys = keys[:-eval_days][-train_days:]
    return train_keys, keys[-eval_days:]



def build_training_assets(spec: DatasetSpec, features: dg.AssetsDefinition) -> list:
    ds = spec.name
    numeric, categorical = feature_columns(spec)

    @dg.asset(
        name="model",
        key_prefix=[ds],
        group_name=ds,
        deps=[features],
        code_version=code_version(__name__, "mlops_assets.defs.training.config",
                                  "mlops_assets.core.model", "mlops_assets.core.train_config",
                                  "mlops_assets.core.model_quality",
                                  "mlops_assets.core.threshold", "mlops_assets.core.baselines",
                                  "mlops_assets.platform.model_store"),
        kinds={"pytorch", "lakefs"},
        pool="training",  # caps concurrent training steps (infra/dagster/dagster.yaml)
        description=f"A tabular MLP (embeddings + MLP) trained on {ds} features read at one "
        "lakeFS commit; weights (safetensors) and a JSON record (the experiment log).",
    )
    def model(
        context: dg.AssetExecutionContext, config: TrainingConfig, lakefs: LakeFS
    ) -> dg.MaterializeResult:
        from mlops_assets.core.model import train_model
        from mlops_assets.core.model_quality import (
            fit_baselines,
            pick_threshold,
            split_like_training,
        )

        branch = ensure_run_branch(lakefs, context.run)
        data_commit = lakefs.resolve(branch)  # read by commit id: the exact version trained on
        available = layout.keys_in(lakefs.list_objects(data_commit, layout.features_prefix(ds)))
        train_keys, eval_keys = split_batches(available, config.train_days, config.eval_days)
        frame = read_features(lakefs, data_commit, ds, train_keys).filter(
            pl.col(TARGET).is_not_null()
        )
        if frame.height == 0:
            raise dg.Failure(f"no labelled rows in batches {train_keys[0]}..{train_keys[-1]}")
        hyper = config.train_config()  # the run config's model fields are TrainConfig's own
        context.log.info(
            f"Training on {frame.height} rows ({train_keys[0]}..{train_keys[-1]}) "
            f"at lakeFS commit {data_commit[:12]}"
        )
        trained = train_model(
            frame,
            numeric=numeric,
            categorical=categorical,
            target=TARGET,
            task=spec.target.task,
            time_column=order_column(spec),
            config=hyper,
            progress=context.log.info,
        )
        # Threshold and baselines come from the model's own split: the evaluation rows stay unseen.
        fit_rows, val_rows = split_like_training(trained, frame)
        choice = pick_threshold(trained, val_rows, config.threshold_objective, config.cost_ratio)
        baselines = fit_baselines(trained, fit_rows)
        version = f"{ds}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"
        record = save_version(
            lakefs,
            branch,
            ds,
            version,
            trained,
            {
                "version": version,
                "dataset": ds,
                "task": spec.target.task,
                "data_commit": data_commit,
                "repository": lakefs.repository,
                "train_batches": train_keys,
                "eval_batches": eval_keys,
                "training_rows": frame.height,
                "training_rows_sha256": rows_digest(frame),
                "feature_code_version": feature_code_version(spec),
                "numeric_features": numeric,
                "categorical_features": categorical,
                "hyperparameters": asdict(hyper),
                "seed": config.seed,
                "history": trained.history,
                "decision_threshold": choice.to_dict() if choice else None,
                "library_versions": library_versions(),
                "dagster_run_id": context.run.run_id,
                "created_at": datetime.now(UTC).isoformat(),
            },
        )
        lakefs.put_json(branch, layout.model_dir(ds, version) + "baselines.json", baselines)
        write_pointer(lakefs, branch, ds, "candidate", {"version": version})
        commit_id = commit_run_branch(
            context,
            lakefs,
            branch,
            f"{ds}: train model {version}",
            model_version=version,
            data_commit=data_commit,
        )
        best = trained.history.get("best_val_loss")
        return dg.MaterializeResult(
            data_version=dg.DataVersion(record["weights_sha256"]),
            metadata={
                "model_version": version,
                **links(lakefs, commit_id, layout.model_dir(ds, version)),
                "data_commit": dg.MetadataValue.text(data_commit),
                "weights_sha256": dg.MetadataValue.text(record["weights_sha256"]),
                "dagster/row_count": dg.MetadataValue.int(frame.height),
                **training_numbers(trained.history, choice.threshold if choice else None),
                "hyperparameters": dg.MetadataValue.json(asdict(hyper)),
                "record": dg.MetadataValue.json(small_record(record)),
                "summary": dg.MetadataValue.md(
                    f"Model `{version}` trained on {frame.height} rows of "
                    f"{len(train_keys)} batches ({train_keys[0]}..{train_keys[-1]}) at data "
                    f"commit `{data_commit[:12]}`; best epoch {trained.history.get('best_epoch')}"
                    + (f", val loss {best:.4f}" if isinstance(best, float) else "")
                ),
            },
        )

    @dg.asset(
        name="reference_summary",
        key_prefix=[ds],
        group_name=ds,
        deps=[model],
        code_version=code_version(__name__, "mlops_assets.core.drift.reference",
                                  "mlops_assets.core.drift.calibration",
                                  "mlops_assets.core.missingness", "mlops_assets.core.model"),
        kinds={"lakefs"},
        description="What drift is measured against, computed once per trained model from its "
        "training rows at their data commit: per-feature quantiles, category counts, a fixed "
        "sample and kernel width for MMD, the model's score distribution, and the null band of "
        "every drift statistic over the training window's own batches (the calibration).",
    )
    def reference_summary(
        context: dg.AssetExecutionContext, lakefs: LakeFS
    ) -> dg.MaterializeResult:
        from mlops_assets.core.drift import DriftConfig, build_reference, calibrate_reference
        from mlops_assets.core.missingness import mask_imputed, split_missing_indicators
        from mlops_assets.core.model import predict

        branch = ensure_run_branch(lakefs, context.run)
        version = candidate_version(lakefs, branch, ds)
        trained, record = load_version(lakefs, branch, ds, version)
        frame = read_batches(lakefs, record["data_commit"], ds, record["train_batches"])
        frame = frame.with_columns(pl.Series(SCORE, predict(trained, frame)))
        # Drift is measured on observed values: imputed ones are data quality (missingness.py).
        values, indicators = split_missing_indicators(numeric)
        frame = mask_imputed(frame, indicators)
        reference = build_reference(frame, values, categorical, score_column=SCORE, seed=0)
        # The same DriftConfig defaults the drift report uses (sample cap, categorical metric).
        reference.calibration = calibrate_reference(frame, reference, batch_column=BATCH,
                                                    config=DriftConfig())
        context.log.info(f"calibrated drift statistics on {len(record['train_batches'])} "
                         "training batches")
        path = layout.model_dir(ds, version) + "reference.json"
        reference_doc = reference.to_dict()
        lakefs.put_json(branch, path, reference_doc)
        commit_id = commit_run_branch(context, lakefs, branch, f"{ds}: reference of {version}",
                                      model_version=version)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(json_digest(reference_doc)),
            metadata={
                "model_version": version,
                **links(lakefs, commit_id, path),
                "dagster/row_count": dg.MetadataValue.int(frame.height),
                "summary": dg.MetadataValue.md(
                    f"Reference of `{version}` from {frame.height} training rows at data commit "
                    f"`{record['data_commit'][:12]}` ({len(values)} numeric, "
                    f"{len(categorical)} categorical features, model scores), calibrated on "
                    f"{len(record['train_batches'])} training batches"
                ),
            },
        )

    @dg.asset(
        name="evaluation",
        key_prefix=[ds],
        group_name=ds,
        deps=[model],
        code_version=code_version(__name__, "mlops_assets.core.metrics",
                                  "mlops_assets.core.performance", "mlops_assets.core.model",
                                  "mlops_assets.core.quality_bar", "mlops_assets.core.baselines",
                                  "mlops_assets.core.eval_plots"),
        kinds={"lakefs"},
        check_specs=[dg.AssetCheckSpec(QUALITY_BAR, asset=dg.AssetKey([ds, "evaluation"]),
                                       blocking=True)],
        description="The new model on the later, held-out batches: metrics with bootstrap CIs, "
        "calibration, and the same metrics of the baselines (base rate, logistic regression) on "
        "the same rows; ROC, reliability and loss-curve PNGs next to evaluation.json. A model "
        "below the quality bar (the floor, and a paired win over the baselines) never reaches "
        "main.",
    )
    def evaluation(
        context: dg.AssetExecutionContext, config: EvaluationConfig, lakefs: LakeFS
    ) -> dg.MaterializeResult:
        from mlops_assets.core.eval_plots import evaluation_figures
        from mlops_assets.core.metrics import evaluate
        from mlops_assets.core.model import predict
        from mlops_assets.core.model_quality import baseline_scores, record_threshold
        from mlops_assets.core.performance import per_batch_metrics, performance_baseline
        from mlops_assets.core.quality_bar import judge_quality

        branch = ensure_run_branch(lakefs, context.run)
        version = candidate_version(lakefs, branch, ds)
        trained, record = load_version(lakefs, branch, ds, version)
        base = layout.model_dir(ds, version)
        frame = read_batches(lakefs, record["data_commit"], ds, record["eval_batches"]).filter(
            pl.col(TARGET).is_not_null()
        )
        scores = predict(trained, frame)
        labels = frame.get_column(TARGET).to_numpy()
        task = spec.target.task
        # F1/accuracy at the threshold chosen on the validation split (stored in the record).
        threshold = record_threshold(record)
        metrics = evaluate(labels, scores, task, n_bootstrap=config.n_bootstrap, seed=0,
                           threshold=threshold)
        baselines = baseline_scores(lakefs.get_json(branch, base + "baselines.json"), frame)
        baseline_metrics = {
            name: evaluate(labels, s, task, n_bootstrap=config.n_bootstrap, seed=0,
                           threshold=threshold)
            for name, s in baselines.items()
        }
        for m in baseline_metrics.values():
            m.pop("calibration", None)
        # What a single batch's metric looks like when nothing changed: the drift report's
        # performance check judges each batch against this (core/performance.py).
        per_batch = per_batch_metrics(labels, scores, frame.get_column(BATCH).to_numpy(),
                                      "auc" if task == "binary" else "r2")
        headline, bar = quality_bar(spec, config)
        value = (metrics.get(headline) or {}).get("value")
        policy = quality_policy(spec, config)
        verdict = judge_quality(labels, scores, baselines, policy, value)
        passed = verdict.passed
        window = {"batches": record["eval_batches"], "data_commit": record["data_commit"],
                  "rows": frame.height}
        evaluation_doc = {
            "version": version, "batches": record["eval_batches"], "rows": frame.height,
            "window": window, "threshold": threshold, "metrics": metrics,
            "baselines": baseline_metrics, "quality_bar": {headline: bar},
            "verdict": verdict.to_dict(), "passed": passed,
            "per_batch": per_batch, "baseline": performance_baseline(per_batch),
        }
        lakefs.put_json(branch, base + "evaluation.json", evaluation_doc)
        figures = evaluation_figures(labels, scores, baselines, metrics, trained.history,
                                     threshold, task)
        for name, png in figures.items():
            lakefs.put_bytes(branch, base + name, png, content_type="image/png")
        commit_id = commit_run_branch(context, lakefs, branch, f"{ds}: evaluate {version}",
                                      model_version=version, passed=passed)
        numbers = evaluation_numbers(metrics, baseline_metrics, verdict)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(json_digest(evaluation_doc)),
            check_results=[dg.AssetCheckResult(
                check_name=QUALITY_BAR,
                passed=passed,
                metadata={**numbers, "bar": dg.MetadataValue.float(bar),
                          "model_version": version,
                          "baselines": dg.MetadataValue.md(verdict_table(verdict))},
                description="; ".join(verdict.reasons) or
                f"{headline} {value:.4f} >= {bar}, beats {', '.join(policy.must_beat) or '-'}, "
                f"not worse than {', '.join(policy.must_not_lose_to) or '-'}",
            )],
            metadata={
                "model_version": version,
                **links(lakefs, commit_id, base + "evaluation.json"),
                "dagster/row_count": dg.MetadataValue.int(frame.height),
                **numbers,
                "metrics": dg.MetadataValue.md(metrics_table(metrics, baseline_metrics)),
                "baselines": dg.MetadataValue.md(verdict_table(verdict)),
                **{name.removesuffix(".png"): object_link(lakefs, commit_id, base + name)
                   for name in figures},
                "summary": dg.MetadataValue.md(
                    f"`{version}` on {frame.height} held-out rows "
                    f"({record['eval_batches'][0]}..{record['eval_batches'][-1]}): "
                    + headline_text(metrics, task)
                    + ("" if passed else f"; **below the bar: {'; '.join(verdict.reasons)}**")
                ),
            },
        )

    model_card = build_model_card_asset(spec, evaluation)
    champion = build_champion_asset(spec, evaluation, reference_summary, model_card)
    return [model, reference_summary, evaluation, model_card, champion]
