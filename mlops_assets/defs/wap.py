"""Write-audit-publish on lakeFS, the mechanism every lakeFS-backed asset shares.

Write: each Dagster run writes on its own branch ``run-<run id>``, created from main on first use.
Audit: blocking asset checks read what the run wrote from that branch.
Publish: an asset downstream of the checks merges the branch into main; Dagster skips it when a
blocking check failed, so failed data stays quarantined on its branch and main never sees it.
Assets whose audit is computed in their own body (``check_specs``) publish only when it passed.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.resources import LakeFS
from mlops_assets.platform.lakefs_client import MergeResult

RUN_BRANCH_PREFIX = "run-"


def run_branch_name(run_id: str) -> str:
    return f"{RUN_BRANCH_PREFIX}{run_id}"


def ensure_run_branch(lakefs: LakeFS, run_id: str) -> str:
    """The run's branch, created from main on first use (steps may run in several processes)."""
    lakefs.ensure_repository()
    branch = run_branch_name(run_id)
    lakefs.create_branch(branch, lakefs.default_branch, exist_ok=True)
    return branch


def commit_metadata(context: dg.AssetExecutionContext, **extra: Any) -> dict[str, str]:
    """What every platform commit carries, so `lakectl log` alone tells who wrote what."""
    key = context.asset_key.to_user_string() if context.has_assets_def else ""
    meta = {
        "dagster_run_id": context.run.run_id,
        "dagster_job": context.run.job_name,
        "dagster_asset_key": key,
        "code_version": _code_version(context),
    }
    if context.has_partition_key:
        meta["dagster_partition"] = context.partition_key
    meta.update({k: str(v) for k, v in extra.items()})
    return meta


def _code_version(context: dg.AssetExecutionContext) -> str:
    if not context.has_assets_def:
        return ""
    return context.assets_def.code_versions_by_key.get(context.asset_key) or ""


def commit_run_branch(
    context: dg.AssetExecutionContext,
    lakefs: LakeFS,
    branch: str,
    message: str,
    **extra: Any,
) -> str:
    return lakefs.commit(branch, message, metadata=commit_metadata(context, **extra))


def publish_run_branch(
    context: dg.AssetExecutionContext,
    lakefs: LakeFS,
    message: str,
    delete_branch: bool = False,
    **extra: Any,
) -> MergeResult:
    """Merge this run's branch into main (its audit passed). A run may publish several times
    (batches, then features, then a model), so the branch is kept by default: merged run
    branches are the audit trail, and a failed run's branch is its quarantine."""
    branch = run_branch_name(context.run.run_id)
    result = lakefs.merge(branch, message=message, metadata=commit_metadata(context, **extra))
    if delete_branch:
        lakefs.delete_branch(branch)
    return result


def frame_metadata(
    lakefs: LakeFS, ref: str, commit_id: str, path: str, frame: pl.DataFrame, summary: str
) -> dict[str, Any]:
    """Metadata shown in the UI for a frame stored in lakeFS."""
    return {
        "lakefs_commit": commit_id,
        "lakefs_uri": lakefs.uri(commit_id, path),
        "lakefs_branch": ref,
        "dagster/row_count": frame.height,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
        ),
        "summary": dg.MetadataValue.md(summary),
    }
