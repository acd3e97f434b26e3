"""The model card of each trained version, written next to its weights on the run branch (the
champion merge publishes it) and shown in the UI, with a check on the largest gap between groups.
"""

import contextlib
import json

import dagster as dg
import polars as pl
from pydantic import Field

from mlops_assets.core.check_names import GROUP_GAP
from mlops_assets.core.features import TARGET
from mlops_assets.core.model_card import (
    describe_gap,
    group_metrics,
    render_model_card,
    worst_gap,
)
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.code_versions import code_version
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.training.render import links
from mlops_assets.defs.wap import commit_run_branch, ensure_run_branch
from mlops_assets.platform import layout
from mlops_assets.platform.frames import json_digest
from mlops_assets.platform.lakefs_client import LakeFSNotFoundError
from mlops_assets.platform.model_store import load_version, read_pointer

GAP_CHECK = GROUP_GAP  # kept: tests and callers know the old name


class ModelCardConfig(dg.Config):
    max_group_gap: float = Field(
        default=0.1, description="largest allowed gap of `gap_metric` between two groups"
    )
    gap_metric: str = Field(
        default="", description="metric compared across groups; empty: auc (binary) or rmse"
    )
    min_group_rows: int = Field(default=30, description="smaller groups are shown, not compared")
    intended_use: str = Field(default="", description="replaces the generic intended-use text")


def build_model_card_asset(
    spec: DatasetSpec,
    evaluation: dg.AssetsDefinition,
    gap_severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN,
) -> dg.AssetsDefinition:
    ds = spec.name

    @dg.asset(
        name="model_card",
        key_prefix=[ds],
        group_name=ds,
        deps=[evaluation],
        code_version=code_version(__name__, "mlops_assets.core.model_card",
                                  "mlops_assets.core.model"),
        kinds={"lakefs"},
        check_specs=[dg.AssetCheckSpec(
            GAP_CHECK, asset=dg.AssetKey([ds, "model_card"]), blocking=False,
            description="the largest gap of the metric between groups of the spec's `groups` is "
            "within the configured bound (WARN by default: the card flags it, nothing blocks)",
        )],
        # The path is a code span: bare <ds>/<version> render as (empty) HTML tags in the UI.
        description=f"The model card of the trained {ds} version (markdown, stored as "
        f"`models/{ds}/<version>/model_card.md`): intended use, data commit and range, features, "
        "metrics with CIs, calibration, and metrics by group "
        f"({', '.join(spec.groups) or 'none declared'}).",
    )
    def model_card(
        context: dg.AssetExecutionContext, config: ModelCardConfig, lakefs: LakeFS
    ) -> dg.MaterializeResult:
        from mlops_assets.core.model import predict
        from mlops_assets.platform.frames import read_features

        branch = ensure_run_branch(lakefs, context.run)
        pointer = read_pointer(lakefs, branch, ds, "candidate")
        if pointer is None:
            raise dg.Failure("no trained model on this run's branch: materialize `model` first")
        version = pointer["version"]
        base = layout.model_dir(ds, version)
        trained, record = load_version(lakefs, branch, ds, version)
        try:
            evaluation_doc = lakefs.get_json(branch, base + "evaluation.json")
        except LakeFSNotFoundError:
            raise dg.Failure(f"{version} has no evaluation yet: materialize `evaluation`") from None
        frame = read_features(lakefs, record["data_commit"], ds, record["eval_batches"]).filter(
            pl.col(TARGET).is_not_null()
        )
        groups = [g for g in spec.groups if g in frame.columns]
        if len(groups) < len(spec.groups):
            context.log.warning(f"group columns not in the feature table, skipped: "
                                f"{sorted(set(spec.groups) - set(groups))}")
        by_group = group_metrics(frame, predict(trained, frame), groups, TARGET,
                                 spec.target.task)
        metric = config.gap_metric or ("auc" if spec.target.task == "binary" else "rmse")
        gap = worst_gap(by_group, metric, config.min_group_rows)
        drift_status = None  # the drift monitor may leave `drift_status.json` in the version
        with contextlib.suppress(LakeFSNotFoundError):
            drift_status = lakefs.get_json(branch, base + "drift_status.json").get("summary")
        card = render_model_card(
            record, evaluation_doc, by_group, drift_status, gap_metric=metric,
            min_group_rows=config.min_group_rows, max_gap=config.max_group_gap,
            intended_use=config.intended_use or None,
        )
        lakefs.put_bytes(branch, base + "model_card.md", card.encode(),
                         content_type="text/markdown")
        lakefs.put_json(branch, base + "group_metrics.json", {
            "version": version, "metric": metric, "min_group_rows": config.min_group_rows,
            "groups": by_group, "worst_gap": gap, "bound": config.max_group_gap,
        })
        commit_id = commit_run_branch(context, lakefs, branch, f"{ds}: model card of {version}",
                                      model_version=version)
        within = gap is None or gap["gap"] <= config.max_group_gap
        return dg.MaterializeResult(
            data_version=dg.DataVersion(json_digest(card)),
            metadata={
                "model_version": version,
                **links(lakefs, commit_id, base + "model_card.md"),
                "model_card": dg.MetadataValue.md(card),
                "worst_group_gap": dg.MetadataValue.json(gap or {}),
                "summary": dg.MetadataValue.md(
                    f"Model card of `{version}`; largest group gap: {describe_gap(gap)}"
                    + ("" if within else f" (above the bound {config.max_group_gap})")
                ),
            },
            check_results=[dg.AssetCheckResult(
                check_name=GAP_CHECK,
                passed=within,
                severity=gap_severity,
                metadata={
                    "bound": config.max_group_gap,
                    "metric": metric,
                    "gap": gap["gap"] if gap else None,
                    "worst_pair": json.dumps(
                        [gap["best_group"], gap["worst_group"]] if gap else []),
                    "column": gap["column"] if gap else "",
                },
                description=describe_gap(gap)
                + ("" if within else f" exceeds the bound {config.max_group_gap}"),
            )],
        )

    return model_card
