"""Acting on a canary verdict through the registry: a better challenger becomes the champion by
the registry's alias move (under its lock, refused if the champion moved meanwhile); a worse or
inconclusive one is stopped. Either way the verdict and its numbers are recorded (status branch,
and for a promotion the alias move's commit on main)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_assets.serving.canary import Verdict

if TYPE_CHECKING:
    from mlops_assets.serving.service import ServingState, Snapshot


def act_on(state: ServingState, snap: Snapshot, verdict: Verdict) -> dict[str, Any]:
    from mlops_assets.registry import RegistryError, set_alias

    assert snap.challenger is not None
    record: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"), "action": verdict.action,
        "champion": snap.champion.version, "challenger": snap.challenger.version,
        "mode": state.config.mode, "canary_share": state.config.canary_share,
        "verdict": asdict(verdict),
    }
    if verdict.action == "promote":
        try:
            move = set_alias(state.lakefs, state.spec.name, "champion", snap.challenger.version,
                             reason=verdict.reason[:900], actor=state.config.actor,
                             action="canary-promote", expected_previous=snap.champion.version)
            record["alias_commit"] = move.commit
        except RegistryError as error:
            record.update(action="refused", error=str(error))
        state.record_decision(record)
        state.refresh(force=True)  # swap to the new champion now, not at the next poll
    else:
        state.stop_challenger(snap.challenger.version, record)
        state.record_decision(record)
    return record
