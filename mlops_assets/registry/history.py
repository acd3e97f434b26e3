"""Alias history: every alias move is one commit on main whose metadata says which alias moved,
from which version to which, why and by whom; the history is main's first-parent log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops_assets.platform.lakefs_types import CommitInfo

if TYPE_CHECKING:
    from mlops_assets.platform.lakefs_client import LakeFSClient

# Commit metadata of an alias move (on the merge commit on main).
ALIAS = "alias"  # which alias moved
ALIAS_VERSION = "alias_version"  # the version it points at now
ALIAS_PREVIOUS = "alias_previous"  # the version it pointed at before ("" if none)
ALIAS_DATASET = "alias_dataset"
ALIAS_ACTION = "alias_action"  # promote | rollback | set
ALIAS_EVALUATION = "alias_evaluation"  # headline metrics of the new version, as text
REASON = "reason"
ACTOR = "actor"  # a user (user@host), or `dagster run <id>` / a sensor name
ALIAS_KEYS = (ALIAS, ALIAS_VERSION, ALIAS_PREVIOUS, ALIAS_DATASET, ALIAS_ACTION,
              ALIAS_EVALUATION, REASON, ACTOR)


@dataclass
class AliasEvent:
    alias: str
    version: str
    previous: str | None
    action: str
    reason: str
    actor: str
    commit: str
    time: str  # ISO 8601, UTC
    evaluation: str = ""


def alias_metadata(
    ds: str,
    alias: str,
    version: str,
    previous: str | None,
    reason: str,
    actor: str,
    action: str = "promote",
    evaluation: str = "",
) -> dict[str, str]:
    """The commit metadata that records an alias move (what :func:`alias_history` reads)."""
    return {
        ALIAS: alias,
        ALIAS_VERSION: version,
        ALIAS_PREVIOUS: previous or "",
        ALIAS_DATASET: ds,
        ALIAS_ACTION: action,
        ALIAS_EVALUATION: evaluation,
        REASON: reason,
        ACTOR: actor,
    }


def main_log(lakefs: LakeFSClient, max_amount: int = 10_000) -> list[CommitInfo]:
    """main's first-parent log (the commits made on main: merges and direct commits)."""
    return lakefs.log(lakefs.default_branch, max_amount=max_amount, first_parent=True)


def _event(ds: str, commit: CommitInfo) -> AliasEvent | None:
    meta = commit.metadata
    when = datetime.fromtimestamp(commit.creation_date, UTC).isoformat()
    if meta.get(ALIAS) and meta.get(ALIAS_DATASET) == ds:
        return AliasEvent(
            alias=meta[ALIAS], version=meta.get(ALIAS_VERSION, ""),
            previous=meta.get(ALIAS_PREVIOUS) or None, action=meta.get(ALIAS_ACTION, "set"),
            reason=meta.get(REASON, ""), actor=meta.get(ACTOR, ""), commit=commit.id, time=when,
            evaluation=meta.get(ALIAS_EVALUATION, ""),
        )
    # A promotion merge of the champion asset made before it wrote the alias keys.
    version = meta.get("model_version", "")
    if (meta.get("dagster_asset_key") == "champion" and meta.get("promoted") == "True"
            and version.startswith(f"{ds}-")):
        return AliasEvent(
            alias="champion", version=version, previous=None, action="promote",
            reason=meta.get(REASON, ""), actor=f"dagster run {meta.get('dagster_run_id', '')}",
            commit=commit.id, time=when,
        )
    return None


def alias_history(
    lakefs: LakeFSClient, ds: str, alias: str | None = "champion"
) -> list[AliasEvent]:
    """Every move of `alias` (None: of every alias) of `ds`, oldest first, read from the commit
    log of main (so it is exactly as durable as main itself)."""
    events = [e for c in main_log(lakefs) if (e := _event(ds, c)) is not None]
    events.reverse()
    last: dict[str, str] = {}
    for event in events:
        if event.previous is None and event.alias in last:
            event.previous = last[event.alias]
        last[event.alias] = event.version
    return [e for e in events if alias is None or e.alias == alias]


