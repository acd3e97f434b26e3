"""Alias moves: point an alias at a published version, or roll the champion back, in one atomic
commit on main (a merge of a temporary branch) that records the move."""

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_client import LakeFSClient, LakeFSConflictError
from mlops_assets.registry.history import alias_history, alias_metadata
from mlops_assets.registry.lock import registry_lock, temporary_branch_name
from mlops_assets.registry.versions import (
    CODE_VERSION,
    RegistryError,
    VersionNotFoundError,
    _get_json,
    _tag_commit,
    _versions_on,
    headline,
    version_tag,
)

_UNCHECKED = object()


@dataclass
class AliasMove:
    alias: str
    version: str
    previous: str | None
    commit: str  # the one commit on main that moved it
    main_before: str


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    import socket

    return f"{user}@{socket.gethostname()}"


def set_alias(
    lakefs: LakeFSClient,
    ds: str,
    alias: str,
    version: str,
    reason: str,
    actor: str | None = None,
    action: str = "set",
    expected_previous: Any = _UNCHECKED,
) -> AliasMove:
    """Point `alias` at `version` in one commit on main (a merge of a temporary branch) whose
    metadata records the move. Refused, with nothing changed, when the version is not published
    on main, the alias already points there, a promotion is in flight, or (with
    `expected_previous`) the alias moved meanwhile."""
    if not alias.replace("_", "").replace("-", "").isalnum():
        raise RegistryError(f"alias name {alias!r}: use letters, digits, '-' and '_'")
    if not reason.strip():
        raise RegistryError("give a reason: it is recorded in the commit log")
    actor = actor or default_actor()
    main = lakefs.default_branch
    with registry_lock(lakefs, ds, actor, purpose=f"{action} of alias {alias}") as lease:
        head = lakefs.resolve(main)
        base = layout.model_dir(ds, version)
        if not lakefs.exists(head, base + "record.json"):
            tagged = _tag_commit(lakefs, version_tag(version))
            known = ", ".join(sorted(_versions_on(lakefs, head, ds))) or "none"
            why = (f" (tagged at {tagged[:12]} but never published to {main}: it did not pass "
                   "its evaluation)" if tagged else "")
            raise VersionNotFoundError(
                f"no published model version {version!r} of {ds}{why}; published: {known}"
            )
        pointer = _get_json(lakefs, head, layout.model_pointer(ds, alias)) or {}
        previous = pointer.get("version")
        if expected_previous is not _UNCHECKED and previous != expected_previous:
            raise RegistryError(f"alias {alias} moved to {previous} meanwhile (expected "
                                f"{expected_previous}); nothing changed")
        if previous == version:
            raise RegistryError(f"alias {alias} of {ds} already points at {version}")
        evaluation = headline(_get_json(lakefs, head, base + "evaluation.json"))
        meta = alias_metadata(ds, alias, version, previous, reason, actor, action, evaluation)
        meta.update({"code_version": CODE_VERSION, "dagster_run_id": "",
                     "dagster_asset_key": "", "mlops_assets_command": action})
        message = f"{ds}: {action} {alias} {previous or '(none)'} -> {version}: {reason}"
        # Named after the dataset, so the next lock holder can remove it if this process dies.
        with lakefs.temporary_branch(temporary_branch_name(ds, alias), head) as tmp:
            lakefs.put_json(tmp, layout.model_pointer(ds, alias), {
                "version": version, "previous": previous, "decided_by_run": None,
                "reason": reason, "actor": actor, "action": action,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            })
            lakefs.commit(tmp, message, metadata=meta)
            lease.ensure_held()  # an expired, taken-over lease must not move the alias
            try:
                merged = lakefs.merge(tmp, main, message=message, metadata=meta)
            except LakeFSConflictError as error:
                raise RegistryError(f"{alias} changed on {main} concurrently; nothing changed "
                                    f"({error})") from None
    return AliasMove(alias, version, previous, merged.commit_id, head)


def rollback(
    lakefs: LakeFSClient,
    ds: str,
    to: str | None = None,
    reason: str = "rollback",
    actor: str | None = None,
) -> AliasMove:
    """Move `champion` back to the previous champion (or to `to`) in one atomic commit on main.
    The version's record (data commit, feature code version) and reference come with it. Rolling
    forward again is another rollback (the default target after a rollback is the version rolled
    back from) or :func:`set_alias`."""
    main = lakefs.resolve(lakefs.default_branch)
    pointer = _get_json(lakefs, main, layout.model_pointer(ds, "champion"))
    if pointer is None:
        raise RegistryError(f"{ds} has no champion yet: nothing to roll back")
    current = pointer["version"]
    if to is None:
        to = pointer.get("previous")
        if not to:
            earlier = [e.version for e in alias_history(lakefs, ds) if e.version != current]
            to = earlier[-1] if earlier else None
        if not to:
            raise RegistryError(f"champion {current} of {ds} has no previous champion; "
                                "name a version with --to")
    if to == current:
        raise RegistryError(f"{to} is already the champion of {ds}")
    return set_alias(lakefs, ds, "champion", to, reason=reason, actor=actor, action="rollback",
                     expected_previous=current)


