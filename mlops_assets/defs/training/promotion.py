"""The guarded champion/challenger promotion: compare with the champion on the same recent
window, then move model, record, reference and the `champion` alias in one lakeFS merge."""

import dagster as dg
import polars as pl

from mlops_assets.core.features import TARGET
from mlops_assets.core.promotion import PromotionDecision, PromotionPolicy, decide_promotion
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.code_versions import code_version
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.training.config import PromotionConfig
from mlops_assets.defs.training.render import decision_numbers, links
from mlops_assets.defs.wap import commit_run_branch, ensure_run_branch, publish_run_branch
from mlops_assets.platform import layout
from mlops_assets.platform.frames import json_digest, read_features
from mlops_assets.platform.lakefs_client import LakeFSConflictError
from mlops_assets.platform.model_store import load_version, read_pointer, write_pointer
from mlops_assets.registry import (
    PromotionInFlightError,
    alias_metadata,
    headline,
    registry_lock,
    tag_version,
    version_tag,
)
from mlops_assets.registry.lock import Lease


def candidate_version(lakefs: LakeFS, branch: str, ds: str) -> str:
    pointer = read_pointer(lakefs, branch, ds, "candidate")
    if pointer is None:
        raise dg.Failure("no trained model on this run's branch: materialize `model` first")
    return pointer["version"]


def decide_against_champion(
    lakefs: LakeFS, branch: str, spec: DatasetSpec, version: str, policy: PromotionPolicy
) -> tuple[PromotionDecision, str | None, dict | None]:
    """Score the challenger and the champion (as on main now) on the challenger's evaluation
    window, the most recent labelled batches, and decide. Returns the decision, the champion
    version compared against and both versions' metrics side by side (None without a
    champion)."""
    from mlops_assets.core.compare import compare_scores
    from mlops_assets.core.model import predict
    from mlops_assets.core.model_quality import record_threshold

    ds = spec.name
    challenger, record = load_version(lakefs, branch, ds, version)
    frame = read_features(lakefs, record["data_commit"], ds, record["eval_batches"]).filter(
        pl.col(TARGET).is_not_null()
    )
    y = frame.get_column(TARGET).to_numpy()
    main_commit = lakefs.resolve(lakefs.default_branch)
    pointer = read_pointer(lakefs, main_commit, ds, "champion")
    champion_version = pointer["version"] if pointer else None
    champion_scores = side_by_side = None
    challenger_scores = predict(challenger, frame)
    if champion_version is not None:
        champion_model, champion_record = load_version(lakefs, main_commit, ds, champion_version)
        champion_scores = predict(champion_model, frame)
        side_by_side = compare_scores(
            y, champion_scores, challenger_scores, task=spec.target.task,
            threshold_a=record_threshold(champion_record), threshold_b=record_threshold(record),
            n_bootstrap=min(policy.n_bootstrap, 500), seed=policy.seed)
    decision = decide_promotion(
        y, champion_scores, challenger_scores, challenger_version=version,
        champion_version=champion_version, policy=policy,
    )
    return decision, champion_version, side_by_side


def comparison_table(side_by_side: dict, champion: str, challenger: str) -> dg.MetadataValue:
    """Champion and challenger metrics (with CIs) on the same window, one row per metric."""
    def num(x: float | None) -> float | None:
        return None if x is None else round(float(x), 4)

    records = [dg.TableRecord({
        "metric": r["metric"], "champion": num(r["a"]),
        "champion_ci": f"[{num(r['a_ci_low'])}, {num(r['a_ci_high'])}]",
        "challenger": num(r["b"]),
        "challenger_ci": f"[{num(r['b_ci_low'])}, {num(r['b_ci_high'])}]",
    }) for r in side_by_side["rows"]]
    schema = dg.TableSchema(columns=[
        dg.TableColumn("metric", "string"),
        dg.TableColumn("champion", "float", description=champion),
        dg.TableColumn("champion_ci", "string"),
        dg.TableColumn("challenger", "float", description=challenger),
        dg.TableColumn("challenger_ci", "string"),
    ])
    return dg.MetadataValue.table(records=records, schema=schema)



def build_champion_asset(
    spec: DatasetSpec,
    evaluation: dg.AssetsDefinition,
    reference_summary: dg.AssetsDefinition,
    model_card: dg.AssetsDefinition,
) -> dg.AssetsDefinition:
    ds = spec.name

    @dg.asset(
        name="champion",
        key_prefix=[ds],
        group_name=ds,
        deps=[evaluation, reference_summary, model_card],
        code_version=code_version(__name__, "mlops_assets.core.promotion",
                                  "mlops_assets.core.compare",
                                  "mlops_assets.registry.lock",
                                  "mlops_assets.registry.history"),
        kinds={"lakefs"},
        pool=f"promotion/{ds}",  # one promotion per dataset at a time (infra/dagster/dagster.yaml)
        description="Champion/challenger: the new model replaces the champion only if it is "
        "better on the same most recent labelled window by the configured margin, with a paired "
        "test (DeLong for AUC). The model, its record, reference and the `champion` alias move "
        "together in one lakeFS merge; the decision is recorded either way.",
    )
    def champion(
        context: dg.AssetExecutionContext, config: PromotionConfig, lakefs: LakeFS
    ) -> dg.MaterializeResult:
        branch = ensure_run_branch(lakefs, context.run)
        version = candidate_version(lakefs, branch, ds)
        actor = f"dagster run {context.run.run_id}"
        try:
            # One promotion (or rollback) at a time per dataset: a lock held in lakeFS.
            with registry_lock(lakefs, ds, holder=actor, purpose=f"promotion of {version}",
                               wait_seconds=config.lock_wait_seconds) as lease:
                return _promote(context, config, lakefs, branch, version, actor, lease)
        except PromotionInFlightError as error:
            raise dg.Failure(f"not promoting {version}: {error}") from None

    def _promote(
        context: dg.AssetExecutionContext, config: PromotionConfig, lakefs: LakeFS,
        branch: str, version: str, actor: str, lease: Lease,
    ) -> dg.MaterializeResult:
        decision, champion_at, side_by_side = decide_against_champion(
            lakefs, branch, spec, version, config.policy(spec)
        )
        base = layout.model_dir(ds, version)
        lakefs.put_json(branch, base + "decision.json",
                        {**decision.to_dict(), "side_by_side": side_by_side})
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
        lease.ensure_held()  # our lease expired and was taken over: do not merge
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
            # Who is champion and why: the same comparison gives the same version.
            data_version=dg.DataVersion(json_digest(decision.to_dict())),
            metadata={
                "model_version": version,
                "promoted": decision.promote,
                "champion": version if decision.promote else (champion_at or ""),
                "decision": dg.MetadataValue.json(decision.to_dict()),
                **({"champion_vs_challenger": comparison_table(side_by_side, champion_at or "",
                                                                version)}
                   if side_by_side else {}),
                **decision_numbers(decision),
                **links(lakefs, merged.commit_id, base + "decision.json"),
                "version_tag": version_tag(version),
                "summary": dg.MetadataValue.md(
                    f"`{version}` {verdict}: {decision.reason}"
                    + (f" (champion {champion_at})" if champion_at else "")
                ),
            },
        )

    return champion
