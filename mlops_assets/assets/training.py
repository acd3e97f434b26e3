"""Training: a model version per run, its drift reference, its evaluation, and the guarded
champion/challenger promotion that publishes it."""

import hashlib
from dataclasses import asdict
from datetime import UTC, datetime

import dagster as dg
import polars as pl
from pydantic import Field

from mlops_assets import layout
from mlops_assets.assets.model_card import build_model_card_asset
from mlops_assets.core.features import TARGET, feature_code_version, feature_columns, order_column
from mlops_assets.core.promotion import PromotionDecision, PromotionPolicy, decide_promotion
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.model_store import (
    library_versions,
    load_version,
    read_pointer,
    save_version,
    write_pointer,
)
from mlops_assets.registry import (
    PromotionInFlightError,
    alias_metadata,
    headline,
    registry_lock,
    tag_version,
    version_tag,
)
from mlops_assets.resources.lakefs import LakeFSConflictError, LakeFSResource
from mlops_assets.wap import commit_run_branch, ensure_run_branch, publish_run_branch


class TrainingConfig(dg.Config):
    """Which batches to train on and the model's hyperparameters (all in the model record).

    Besides the two windows, the fields are a subset of core.model.TrainConfig with the same
    names and defaults, declared here so the Dagster UI shows and validates them."""

    train_days: int = Field(
        default=60, description="batches used for training (and its time-ordered validation split)"
    )
    eval_days: int = Field(default=14, description="the latest batches, held out for evaluation")
    hidden_sizes: list[int] = Field(default_factory=lambda: [64, 32])
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 256
    max_epochs: int = 30
    patience: int = 4
    val_fraction: float = 0.2
    seed: int = 0


class PromotionConfig(dg.Config):
    min_improvement: float = Field(default=0.005, description="required gain in the metric")
    alpha: float = Field(default=0.05, description="level of the paired one-sided test")
    test: str = Field(default="delong", description="delong (AUC) or bootstrap")
    n_bootstrap: int = 1000
    lock_wait_seconds: float = Field(
        default=120.0, description="how long to wait for another promotion or rollback to end")

    def policy(self, spec: DatasetSpec) -> PromotionPolicy:
        metric = "auc" if spec.target.task == "binary" else "rmse"
        test = self.test if metric == "auc" else "bootstrap"
        return PromotionPolicy(metric=metric, min_improvement=self.min_improvement,
                               alpha=self.alpha, test=test, n_bootstrap=self.n_bootstrap)


class EvaluationConfig(dg.Config):
    min_auc: float = Field(default=0.55, description="quality bar for binary targets")
    min_r2: float = Field(default=0.0, description="quality bar for regression targets")
    n_bootstrap: int = Field(default=200, description="bootstrap draws for the CIs")


def rows_digest(frame: pl.DataFrame) -> str:
    """A content hash of exactly the rows trained on (order-sensitive; same polars version)."""
    return hashlib.sha256(frame.hash_rows(seed=0).to_numpy().tobytes()).hexdigest()


def split_batches(keys: list[str], train_days: int, eval_days: int) -> tuple[list[str], list[str]]:
    """(training batches, evaluation batches): evaluation is the latest `eval_days`."""
    if len(keys) < 2:
        raise dg.Failure(f"need at least 2 featured batches to train and evaluate, found {keys}")
    eval_days = max(1, min(eval_days, len(keys) // 3 or 1))
    train_keys = keys[:-eval_days][-train_days:]
    return train_keys, keys[-eval_days:]


def read_features(lakefs: LakeFSResource, ref: str, ds: str, keys: list[str]) -> pl.DataFrame:
    frames = lakefs.get_frames(ref, [layout.features(ds, k) for k in keys])
    return pl.concat(frames, how="vertical_relaxed")


SCORE = "score"


def _candidate_version(lakefs: LakeFSResource, branch: str, ds: str) -> str:
    pointer = read_pointer(lakefs, branch, ds, "candidate")
    if pointer is None:
        raise dg.Failure("no trained model on this run's branch: materialize `model` first")
    return pointer["version"]


def _quality_bar(spec: DatasetSpec, config: EvaluationConfig) -> tuple[str, float]:
    return ("auc", config.min_auc) if spec.target.task == "binary" else ("r2", config.min_r2)


def decide_against_champion(
    lakefs: LakeFSResource, branch: str, spec: DatasetSpec, version: str, policy: PromotionPolicy
) -> tuple[PromotionDecision, str | None]:
    """Score the challenger and the champion (as on main now) on the challenger's evaluation
    window, the most recent labelled batches, and decide. Returns the decision and the champion
    version compared against."""
    from mlops_assets.core.model import predict

    ds = spec.name
    challenger, record = load_version(lakefs, branch, ds, version)
    frame = read_features(lakefs, record["data_commit"], ds, record["eval_batches"]).filter(
        pl.col(TARGET).is_not_null()
    )
    y = frame.get_column(TARGET).to_numpy()
    main_commit = lakefs.resolve(lakefs.default_branch)
    pointer = read_pointer(lakefs, main_commit, ds, "champion")
    champion_version = pointer["version"] if pointer else None
    champion_scores = None
    if champion_version is not None:
        champion_model, _ = load_version(lakefs, main_commit, ds, champion_version)
        champion_scores = predict(champion_model, frame)
    decision = decide_promotion(
        y, champion_scores, predict(challenger, frame), challenger_version=version,
        champion_version=champion_version, policy=policy,
    )
    return decision, champion_version


def build_training_assets(spec: DatasetSpec, features: dg.AssetsDefinition) -> list:
    ds = spec.name
    numeric, categorical = feature_columns(spec)

    @dg.asset(
        name="model",
        group_name=ds,
        deps=[features],
        code_version="1",
        kinds={"pytorch", "lakefs"},
        description=f"A tabular MLP (embeddings + MLP) trained on {ds} features read at one "
        "lakeFS commit; weights (safetensors) and a JSON record (the experiment log).",
    )
    def model(
        context: dg.AssetExecutionContext, config: TrainingConfig, lakefs: LakeFSResource
    ) -> dg.MaterializeResult:
        from mlops_assets.core.model import TrainConfig, train_model

        branch = ensure_run_branch(lakefs, context.run.run_id)
        data_commit = lakefs.resolve(branch)  # read by commit id: the exact version trained on
        available = layout.keys_in(lakefs.list_objects(data_commit, layout.features_prefix(ds)))
        train_keys, eval_keys = split_batches(available, config.train_days, config.eval_days)
        frame = read_features(lakefs, data_commit, ds, train_keys).filter(
            pl.col(TARGET).is_not_null()
        )
        if frame.height == 0:
            raise dg.Failure(f"no labelled rows in batches {train_keys[0]}..{train_keys[-1]}")
        # The run config's model fields are the core TrainConfig's (from_dict refuses strays).
        hyper = TrainConfig.from_dict(config.model_dump(exclude={"train_days", "eval_days"}))
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
                "library_versions": library_versions(),
                "dagster_run_id": context.run.run_id,
                "created_at": datetime.now(UTC).isoformat(),
            },
        )
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
            data_version=dg.DataVersion(commit_id),
            metadata={
                "model_version": version,
                "lakefs_commit": commit_id,
                "lakefs_uri": lakefs.uri(commit_id, layout.model_dir(ds, version)),
                "data_commit": data_commit,
                "weights_sha256": record["weights_sha256"],
                "dagster/row_count": frame.height,
                "hyperparameters": dg.MetadataValue.json(asdict(hyper)),
                "record": dg.MetadataValue.json(_small(record)),
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
        group_name=ds,
        deps=[model],
        code_version="1",
        kinds={"lakefs"},
        description="What drift is measured against, computed once per trained model from its "
        "training rows at their data commit: per-feature quantiles, category counts, a fixed "
        "sample and kernel width for MMD, and the model's score distribution.",
    )
    def reference_summary(
        context: dg.AssetExecutionContext, lakefs: LakeFSResource
    ) -> dg.MaterializeResult:
        from mlops_assets.core.drift import build_reference
        from mlops_assets.core.model import predict

        branch = ensure_run_branch(lakefs, context.run.run_id)
        version = _candidate_version(lakefs, branch, ds)
        trained, record = load_version(lakefs, branch, ds, version)
        frame = read_features(lakefs, record["data_commit"], ds, record["train_batches"])
        frame = frame.with_columns(pl.Series(SCORE, predict(trained, frame)))
        reference = build_reference(frame, numeric, categorical, score_column=SCORE, seed=0)
        path = layout.model_dir(ds, version) + "reference.json"
        lakefs.put_json(branch, path, reference.to_dict())
        commit_id = commit_run_branch(context, lakefs, branch, f"{ds}: reference of {version}",
                                      model_version=version)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(commit_id),
            metadata={
                "model_version": version,
                "lakefs_commit": commit_id,
                "lakefs_uri": lakefs.uri(commit_id, path),
                "dagster/row_count": frame.height,
                "summary": dg.MetadataValue.md(
                    f"Reference of `{version}` from {frame.height} training rows at data commit "
                    f"`{record['data_commit'][:12]}` ({len(numeric)} numeric, "
                    f"{len(categorical)} categorical features, model scores)"
                ),
            },
        )

    @dg.asset(
        name="evaluation",
        group_name=ds,
        deps=[model],
        code_version="1",
        kinds={"lakefs"},
        check_specs=[dg.AssetCheckSpec("meets_quality_bar", asset="evaluation", blocking=True)],
        description="The new model on the later, held-out batches: metrics with bootstrap CIs and "
        "calibration. A model below the quality bar never reaches main.",
    )
    def evaluation(
        context: dg.AssetExecutionContext, config: EvaluationConfig, lakefs: LakeFSResource
    ) -> dg.MaterializeResult:
        from mlops_assets.core.metrics import evaluate
        from mlops_assets.core.model import predict

        branch = ensure_run_branch(lakefs, context.run.run_id)
        version = _candidate_version(lakefs, branch, ds)
        trained, record = load_version(lakefs, branch, ds, version)
        frame = read_features(lakefs, record["data_commit"], ds, record["eval_batches"]).filter(
            pl.col(TARGET).is_not_null()
        )
        scores = predict(trained, frame)
        metrics = evaluate(frame.get_column(TARGET).to_numpy(), scores, spec.target.task,
                           n_bootstrap=config.n_bootstrap, seed=0)
        headline, bar = _quality_bar(spec, config)
        value = (metrics.get(headline) or {}).get("value")
        passed = value is not None and value >= bar
        base = layout.model_dir(ds, version)
        lakefs.put_json(branch, base + "evaluation.json", {
            "version": version, "batches": record["eval_batches"], "rows": frame.height,
            "metrics": metrics, "quality_bar": {headline: bar}, "passed": passed,
        })
        commit_id = commit_run_branch(context, lakefs, branch, f"{ds}: evaluate {version}",
                                      model_version=version, passed=passed)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(commit_id),
            check_results=[dg.AssetCheckResult(
                check_name="meets_quality_bar",
                passed=passed,
                metadata={headline: value, "bar": bar, "model_version": version},
                description=f"{headline} {value} vs bar {bar}",
            )],
            metadata={
                "model_version": version,
                "lakefs_commit": commit_id,
                "lakefs_uri": lakefs.uri(commit_id, base + "evaluation.json"),
                "dagster/row_count": frame.height,
                "metrics": dg.MetadataValue.md(metrics_table(metrics)),
                "calibration": dg.MetadataValue.json(metrics.get("calibration", {})),
                "summary": dg.MetadataValue.md(
                    f"`{version}` on {frame.height} held-out rows "
                    f"({record['eval_batches'][0]}..{record['eval_batches'][-1]}): "
                    + _headline(metrics, spec.target.task)
                    + ("" if passed else f"; **below the bar {headline} >= {bar}**")
                ),
            },
        )

    model_card = build_model_card_asset(spec, evaluation)

    @dg.asset(
        name="champion",
        group_name=ds,
        deps=[evaluation, reference_summary, model_card],
        code_version="1",
        kinds={"lakefs"},
        description="Champion/challenger: the new model replaces the champion only if it is "
        "better on the same most recent labelled window by the configured margin, with a paired "
        "test (DeLong for AUC). The model, its record, reference and the `champion` alias move "
        "together in one lakeFS merge; the decision is recorded either way.",
    )
    def champion(
        context: dg.AssetExecutionContext, config: PromotionConfig, lakefs: LakeFSResource
    ) -> dg.MaterializeResult:
        branch = ensure_run_branch(lakefs, context.run.run_id)
        version = _candidate_version(lakefs, branch, ds)
        actor = f"dagster run {context.run.run_id}"
        try:
            # One promotion (or rollback) at a time per dataset: a lock held in lakeFS.
            with registry_lock(lakefs, ds, holder=actor, purpose=f"promotion of {version}",
                               wait_seconds=config.lock_wait_seconds):
                return _promote(context, config, lakefs, branch, version, actor)
        except PromotionInFlightError as error:
            raise dg.Failure(f"not promoting {version}: {error}") from None

    def _promote(
        context: dg.AssetExecutionContext, config: PromotionConfig, lakefs: LakeFSResource,
        branch: str, version: str, actor: str,
    ) -> dg.MaterializeResult:
        decision, champion_at = decide_against_champion(
            lakefs, branch, spec, version, config.policy(spec)
        )
        base = layout.model_dir(ds, version)
        lakefs.put_json(branch, base + "decision.json", decision.to_dict())
        if decision.promote:
            write_pointer(lakefs, branch, ds, "champion", {
                "version": version, "previous": decision.champion_version,
                "decided_by_run": context.run.run_id, "reason": decision.reason,
                "action": "promote",
            })
        commit_run_branch(context, lakefs, branch,
                          f"{ds}: {'promote' if decision.promote else 'keep champion over'} "
                          f"{version}", model_version=version, promoted=decision.promote)
        # Belt and braces behind the lock: if the champion moved since we compared, we lost.
        champion_now = read_pointer(lakefs, lakefs.default_branch, ds, "champion")
        if decision.promote and (champion_now or {}).get("version") != champion_at:
            raise dg.Failure(
                f"champion changed to {champion_now.get('version')} while {version} was compared "
                f"against {champion_at}: not promoting; retrain to compare with the new champion"
            )
        # The alias move is described in the merge commit itself: the promotion history is
        # main's commit log (see registry.alias_history).
        extra = (
            alias_metadata(ds, "champion", version, decision.champion_version, decision.reason,
                           actor=actor, action="promote",
                           evaluation=headline(lakefs.get_json(branch, base + "evaluation.json")))
            if decision.promote else {"reason": decision.reason}
        )
        try:
            merged = publish_run_branch(
                context, lakefs,
                f"{ds}: {'promote' if decision.promote else 'record rejected'} {version}",
                model_version=version, promoted=decision.promote, **extra,
            )
        except LakeFSConflictError as error:
            raise dg.Failure(f"promotion of {version} lost a concurrent race and was aborted "
                             f"cleanly (main unchanged): {error}") from None
        tag_version(lakefs, ds, version, merged.commit_id)  # the version's published commit
        if decision.promote:
            lakefs.create_tag(f"champion-{version}", merged.commit_id, exist_ok=True)
        verdict = "promoted to champion" if decision.promote else "rejected; champion kept"
        return dg.MaterializeResult(
            data_version=dg.DataVersion(merged.commit_id),
            metadata={
                "model_version": version,
                "promoted": decision.promote,
                "champion": version if decision.promote else (champion_at or ""),
                "decision": dg.MetadataValue.json(decision.to_dict()),
                "lakefs_commit": merged.commit_id,
                "lakefs_uri": lakefs.uri(merged.commit_id, base + "decision.json"),
                "version_tag": version_tag(version),
                "summary": dg.MetadataValue.md(
                    f"`{version}` {verdict}: {decision.reason}"
                    + (f" (champion {champion_at})" if champion_at else "")
                ),
            },
        )

    return [model, reference_summary, evaluation, model_card, champion]


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def metrics_table(metrics: dict) -> str:
    lines = ["| metric | value | 95% CI |", "|---|---|---|"]
    for name, value in metrics.items():
        if isinstance(value, dict) and "value" in value:
            v, lo, hi = value["value"], value.get("ci_low"), value.get("ci_high")
            lines.append(f"| {name} | {_fmt(v)} | [{_fmt(lo)}, {_fmt(hi)}] |")
    return "\n".join(lines)


def _headline(metrics: dict, task: str) -> str:
    names = ["auc", "log_loss", "accuracy", "f1"] if task == "binary" else ["rmse", "mae", "r2"]
    parts = []
    for name in names:
        m = metrics.get(name) or {}
        if m.get("value") is not None:
            parts.append(f"{name} {m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]")
    return ", ".join(parts)


def _small(record: dict) -> dict:
    """The record without bulky per-epoch history, for the UI."""
    return {k: v for k, v in record.items() if k != "history"}
