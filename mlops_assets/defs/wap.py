"""Write-audit-publish on lakeFS, the mechanism every lakeFS-backed asset shares.

Write: each Dagster run writes on its own branch ``run-<root run id>``, created from main on first
use. Re-executions and retries get a new run id but keep the root run's id, so they continue on
the branch holding what the original run wrote (a branch named after the new run would be empty).
Audit: blocking asset checks read what the run wrote from that branch; a gate that finds no batch
fails (it never passes on nothing).
Publish: an asset downstream of the checks merges the branch into main; Dagster skips it when a
blocking check failed, so failed data stays quarantined on its branch and main never sees it.
Assets whose audit is computed in their own body (``check_specs``) publish only when it passed.
Publishing fails loudly when an object it expected is not on the branch.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.resources import LakeFS
from mlops_assets.platform.lakefs_client import MergeResult

RUN_BRANCH_PREFIX = "run-"
ROOT_RUN_ID_TAG = "dagster/root_run_id"
# A range's commit names every batch up to this many; beyond, first/last/count only.
MAX_LISTED_PARTITIONS = 60


def root_run_id(run: dg.DagsterRun) -> str:
    """The id of the run a re-execution descends from (the run itself when it is the root)."""
    return run.root_run_id or run.tags.get(ROOT_RUN_ID_TAG) or run.run_id


def run_branch_name(run: dg.DagsterRun | str) -> str:
    """The branch of a run's lineage: keyed on the root run, so a re-execution or retry (a new
    run id) reads and publishes what the original run wrote."""
    run_id = run if isinstance(run, str) else root_run_id(run)
    return f"{RUN_BRANCH_PREFIX}{run_id}"


def ensure_run_branch(lakefs: LakeFS, run: dg.DagsterRun | str) -> str:
    """The run's branch, created from main on first use (steps may run in several processes)."""
    lakefs.ensure_repository()
    branch = run_branch_name(run)
    lakefs.create_branch(branch, lakefs.default_branch, exist_ok=True)
    return branch


def partition_metadata(keys: list[str]) -> dict[str, str]:
    """Which batches a commit covers: one key, or a range named by first/last (and every key
    when there are few), so `lakectl log` tells what a range publish contained."""
    if not keys:
        return {}
    if len(keys) == 1:
        return {"dagster_partition": keys[0]}
    meta = {"dagster_partition_first": keys[0], "dagster_partition_last": keys[-1],
            "dagster_partition_count": str(len(keys))}
    if len(keys) <= MAX_LISTED_PARTITIONS:
        meta["dagster_partitions"] = ",".join(keys)
    return meta


def context_partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    if context.has_partition_key_range or context.has_partition_key:
        return list(context.partition_keys)
    return []


def commit_metadata(context: dg.AssetExecutionContext, **extra: Any) -> dict[str, str]:
    """What every platform commit carries, so `lakectl log` alone tells who wrote what."""
    key = context.asset_key if context.has_assets_def else None
    meta = {
        "dagster_run_id": context.run.run_id,
        "dagster_root_run_id": root_run_id(context.run),
        "dagster_job": context.run.job_name,
        # The asset's name within its dataset ("champion"), as before keys had a dataset
        # prefix: readers of the commit log (registry history) and older commits agree on it.
        "dagster_asset_key": key.path[-1] if key else "",
        "dagster_asset": key.to_user_string() if key else "",  # the full key, <ds>/<name>
        "code_version": _code_version(context),
    }
    meta.update(partition_metadata(context_partition_keys(context)))
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
    expected_paths: list[str] | None = None,
    **extra: Any,
) -> MergeResult:
    """Merge this run's branch into main (its audit passed). A run may publish several times
    (batches, then features, then a model), so the branch is kept by default: a failed run's
    branch is its quarantine; merged branches are pruned after a retention (prune.py), the merge
    commit keeping the audit trail (`run_branch`, `run_branch_head`).

    `expected_paths`: objects this publish stands for; any missing from the branch fails the
    step, naming them, instead of merging nothing and reporting success."""
    branch = run_branch_name(context.run)
    if not lakefs.branch_exists(branch):
        raise dg.Failure(
            f"nothing to publish: run branch {branch!r} does not exist in lakeFS repository "
            f"{lakefs.repository!r} (was it pruned, or did the writing step never run?)"
        )
    if expected_paths:
        missing = [p for p in expected_paths if not lakefs.exists(branch, p)]
        if missing:
            raise dg.Failure(
                f"nothing to publish for {len(missing)} of {len(expected_paths)} expected "
                f"object(s): not on run branch {branch!r} (e.g. {missing[0]}); the step that "
                "writes them did not run on this branch, so main is left unchanged"
            )
    head = lakefs.resolve(branch)
    meta = commit_metadata(context, run_branch=branch, run_branch_head=head, **extra)
    result = lakefs.merge(branch, message=message, metadata=meta)
    if delete_branch:
        lakefs.delete_branch(branch)
    return result


def lakefs_links(lakefs: LakeFS, commit_id: str, path: str) -> dict[str, Any]:
    """`lakefs_commit` and `lakefs_uri` from one commit id, so they always agree; the URI is a
    path value the UI lets a user copy whole."""
    return {
        "lakefs_commit": dg.MetadataValue.text(commit_id),
        "lakefs_uri": dg.MetadataValue.path(lakefs.uri(commit_id, path)),
    }


def schema_metadata(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
    )


def frame_metadata(
    lakefs: LakeFS, ref: str, commit_id: str, path: str, frame: pl.DataFrame, summary: str
) -> dict[str, Any]:
    """Metadata shown in the UI for one frame stored in lakeFS (one partition's, in a range)."""
    return {
        **lakefs_links(lakefs, commit_id, path),
        "lakefs_branch": ref,
        "dagster/row_count": frame.height,
        "dagster/column_schema": schema_metadata(frame),
        "summary": dg.MetadataValue.md(summary),
    }


def add_partition_metadata(
    context: dg.AssetExecutionContext, per_key: dict[str, dict[str, Any]]
) -> None:
    """Each partition's own numbers on its own materialization. Metadata returned in a
    MaterializeResult lands on every partition of a range run, so it must only hold what is
    true for all of them."""
    if not (context.has_partition_key_range or context.has_partition_key):
        return
    for key, metadata in per_key.items():
        context.add_asset_metadata(metadata, partition_key=key)
