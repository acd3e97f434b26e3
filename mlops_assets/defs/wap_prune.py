"""Run branches after their run: merged ones are pruned after a retention, abandoned ones are
reported.

A merged run branch holds nothing main lacks: its audit trail is main's merge commit, whose
metadata names the run, the branch and the branch head (`run_branch`, `run_branch_head`), so the
branch itself is deleted once older than the retention (LakeFSResource.run_branch_retention_days).
A run that failed, or was killed and then marked failed by run monitoring, leaves its branch as a
quarantine: it is never pruned, and the failure sensor tags the run with the branch's fate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dagster as dg

from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.wap import RUN_BRANCH_PREFIX, run_branch_name
from mlops_assets.platform.lakefs_client import LakeFSClient, LakeFSError

RUN_BRANCH_TAG = "mlops_assets/run_branch"
REPOSITORY_LABEL_TAG = ".dagster/repository"
MAX_PRUNED_PER_PUBLISH = 20  # bounded work per publish; the rest go next time


@dataclass(frozen=True)
class PruneReport:
    deleted: list[str]
    kept_unmerged: list[str]


def is_merged(lakefs: LakeFSClient, branch: str) -> bool:
    """True when main already has everything the branch has (three-dot diff is empty)."""
    return not lakefs.diff_since_base(branch)


def prune_run_branches(
    lakefs: LakeFSClient, retention_seconds: float, keep: set[str] = frozenset(),  # type: ignore[assignment]
    now: float | None = None, limit: int = MAX_PRUNED_PER_PUBLISH,
) -> PruneReport:
    """Delete run branches older than the retention that are fully merged into main."""
    now = time.time() if now is None else now
    deleted: list[str] = []
    kept: list[str] = []
    for branch in lakefs.list_branches():
        if not branch.startswith(RUN_BRANCH_PREFIX) or branch in keep or len(deleted) >= limit:
            continue
        if now - lakefs.get_commit(branch).creation_date < retention_seconds:
            continue
        if is_merged(lakefs, branch):
            lakefs.delete_branch(branch)
            deleted.append(branch)
        else:
            kept.append(branch)  # a quarantine: its content never reached main
    return PruneReport(deleted, kept)


def prune_after_publish(context: dg.AssetExecutionContext, lakefs: LakeFS) -> None:
    """Best effort after a publish: a failed prune must never fail the publish itself."""
    retention = getattr(lakefs, "run_branch_retention_days", None)
    if retention is None or retention < 0:
        return  # negative: keep run branches forever
    try:
        report = prune_run_branches(lakefs, retention * 86400,
                                    keep={run_branch_name(context.run)})
    except LakeFSError as error:
        context.log.warning(f"pruning merged run branches skipped: {error}")
        return
    if report.deleted:
        context.log.info(f"pruned {len(report.deleted)} merged run branch(es) older than "
                         f"{retention:g} day(s): {', '.join(report.deleted)}")


def describe_abandoned(lakefs: LakeFSClient, run: dg.DagsterRun) -> str | None:
    """What a failed run left on its branch, or None when it left nothing unpublished."""
    branch = run_branch_name(run)
    if not lakefs.branch_exists(branch):
        return None
    changes = lakefs.diff_since_base(branch)
    if not changes:
        return f"{branch}: nothing unpublished (fully merged)"
    return (f"{branch}: abandoned by run {run.run_id} ({run.status.value}) with "
            f"{len(changes)} unpublished object(s), kept as quarantine; never merged to main")


def build_abandoned_branch_sensor(
    location_tag: str, interval_seconds: int = 30
) -> dg.SensorDefinition:
    """A failed run of this code location (also one killed and marked failed by run monitoring)
    gets a tag saying what became of its lakeFS branch. Runs of `dagster job execute` have no
    code-location origin, so a sensor watching only its own location would never see them:
    it watches every location and keeps the runs carrying this location's label
    (`.dagster/repository`, set on every job of ours)."""

    @dg.run_failure_sensor(name="report_abandoned_run_branches",
                           minimum_interval_seconds=interval_seconds,
                           monitor_all_code_locations=True,
                           default_status=dg.DefaultSensorStatus.RUNNING)
    def report_abandoned_run_branches(
        context: dg.RunFailureSensorContext, lakefs: LakeFS
    ) -> None:
        run = context.dagster_run
        if run.tags.get(REPOSITORY_LABEL_TAG) != location_tag:
            return  # another code location's run: its branches are not ours to describe
        try:
            fate = describe_abandoned(lakefs, run)
        except LakeFSError as error:
            fate = f"{run_branch_name(run)}: unknown ({error})"
        if fate:
            context.instance.add_run_tags(run.run_id, {RUN_BRANCH_TAG: fate[:500]})

    return report_abandoned_run_branches
