"""The champion's drift status (`drift_status.json` and the model card's drift line): files every
drift run of a dataset updates, so two runs that overlap (batches landing in different sensor
ticks, under a run queue with several slots) must not lose each other's verdicts.

Optimistic concurrency: before it writes, a run merges main into its run branch (main's shared
files win, so it sees every status published meanwhile), folds its own batches into that status,
commits and publishes; if another run published in between, the publish conflicts and the run
starts over from the new main. No Dagster here: the caller passes how to commit and publish."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops_assets.core.check_names import DATA_DRIFT, PERFORMANCE
from mlops_assets.core.model_card import with_drift_status
from mlops_assets.platform.lakefs_client import LakeFSClient
from mlops_assets.platform.lakefs_types import LakeFSConflictError, MergeResult

PUBLISH_ATTEMPTS = 6


def drift_status(version: str, per_batch: dict[str, dict[str, Any]],
                 previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The champion's verdicts over every batch assessed so far (the model card shows
    `summary`); `previous` is the status before this run, whose batches this run may redo."""
    verdicts = dict((previous or {}).get("verdicts") or {})
    verdicts.update({k: {**d["verdicts"], "in_sample": d["in_sample"]}
                     for k, d in per_batch.items()})
    keys = sorted(verdicts)
    fresh = [k for k in keys if not verdicts[k]["in_sample"]]
    drifted = [k for k in fresh if verdicts[k][DATA_DRIFT]]
    perf = [k for k in fresh if verdicts[k][PERFORMANCE]]
    summary = (f"{len(keys)} batch(es) {keys[0]}..{keys[-1]} assessed against `{version}` "
               f"({len(keys) - len(fresh)} in-sample): "
               + (f"data drift in {', '.join(drifted)}" if drifted else "no data drift")
               + "; " + (f"performance below band in {', '.join(perf)}" if perf
                         else "performance within band"))
    return {"model_version": version, "summary": summary, "verdicts": verdicts}


def publish_drift_reports(
    lakefs: LakeFSClient, branch: str, model_dir: str, version: str,
    per_batch: dict[str, dict[str, Any]], reports: dict[str, dict[str, Any]],
    commit: Callable[[], Any], publish: Callable[[], MergeResult],
    attempts: int = PUBLISH_ATTEMPTS,
) -> tuple[MergeResult, dict[str, Any]]:
    """Write this run's per-batch `reports` (path -> document) and the updated status on
    `branch`, commit and publish; returns the publish result and the status published."""
    status_path, card_path = model_dir + "drift_status.json", model_dir + "model_card.md"
    for attempt in range(1, attempts + 1):
        lakefs.merge(lakefs.default_branch, branch, strategy="source-wins",
                     message=f"sync {branch} with {lakefs.default_branch} before the drift status")
        for path, doc in reports.items():  # after the sync: a report of ours is never replaced
            lakefs.put_json(branch, path, doc)
        previous = lakefs.get_json(branch, status_path) if lakefs.exists(
            branch, status_path) else None
        status = drift_status(version, per_batch, previous)
        lakefs.put_json(branch, status_path, status)
        if lakefs.exists(branch, card_path):
            card = lakefs.get_bytes(branch, card_path).decode()
            lakefs.put_bytes(branch, card_path, with_drift_status(card, status["summary"]).encode(),
                             content_type="text/markdown")
        commit()
        try:
            return publish(), status
        except LakeFSConflictError:
            if attempt == attempts:
                raise
    raise ValueError(f"attempts must be >= 1, got {attempts}")
