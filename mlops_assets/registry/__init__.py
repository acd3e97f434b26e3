"""The model registry, on lakeFS only: versions are tags, aliases are files on main whose every
move is one commit with metadata, so the promotion history is the commit log of main.

- A **version** `<ds>-<time>-<run>` lives in `models/<ds>/<version>/` (record, weights,
  reference, evaluation, decision, model card) and is tagged `model-<version>` on the commit that
  holds its files (:func:`tag_version`).
- An **alias** (`champion`, `challenger`, `candidate` or any name) is
  `models/<ds>/aliases/<alias>.json` = ``{"version", "previous", "reason", "actor", ...}``. Moving
  it (:func:`set_alias`, :func:`rollback`) writes that file on a temporary branch, commits and
  merges into main: one merge commit on main whose metadata (:data:`ALIAS_KEYS`) says which alias
  moved, from which version to which, why and by whom. :func:`alias_history` reads those commits
  back from main's first-parent log (and the champion asset's promotion merges, which carry
  `promoted=True` and `model_version`).
- Everything a version needs at serving and monitoring time is in its own folder (the record
  names the data commit and the feature code version, `reference.json` is the drift reference),
  so moving the alias moves model, feature pipeline version and reference together.
- **In flight**: a promotion or alias move holds the lakeFS branch `registry-lock-<ds>` for its
  duration (:func:`registry_lock`). Creating a branch that exists fails atomically in lakeFS
  (HTTP 409), so the branch is a mutex that lives in lakeFS itself (visible with
  `lakectl branch list`, survives restarts, needs no commit on main). It is a lease (holder,
  token, expiry renewed while alive): a crashed holder's lock is taken over once its lease
  expires or its process is gone, and only its owner releases it (registry/lock.py);
  :func:`break_lock` (`mlops-assets models unlock`) also removes leftover temporary branches.

Functions take a :class:`LakeFSClient` and a dataset name; no Dagster context is needed.
"""

import json
from dataclasses import asdict
from typing import Any

from mlops_assets.registry.aliases import AliasMove, default_actor, rollback, set_alias
from mlops_assets.registry.history import (
    ACTOR,
    ALIAS,
    ALIAS_ACTION,
    ALIAS_DATASET,
    ALIAS_EVALUATION,
    ALIAS_KEYS,
    ALIAS_PREVIOUS,
    ALIAS_VERSION,
    REASON,
    AliasEvent,
    alias_history,
    alias_metadata,
    main_log,
)
from mlops_assets.registry.lineage import FileLineage, Lineage, lineage
from mlops_assets.registry.lock import (
    LOCK_BRANCH_PREFIX,
    Lease,
    LeaseLostError,
    acquire_lock,
    break_lock,
    lock_branch,
    lock_holder,
    registry_lock,
    release_lock,
)
from mlops_assets.registry.reproduce import InputDifference, Reproduction, reproduce
from mlops_assets.registry.versions import (
    CODE_VERSION,
    VERSION_TAG_PREFIX,
    PromotionInFlightError,
    RegistryError,
    VersionInfo,
    VersionNotFoundError,
    headline,
    list_versions,
    read_aliases,
    show_version,
    tag_version,
    version_ref,
    version_tag,
)

__all__ = [
    "ACTOR",
    "ALIAS",
    "ALIAS_ACTION",
    "ALIAS_DATASET",
    "ALIAS_EVALUATION",
    "ALIAS_KEYS",
    "ALIAS_PREVIOUS",
    "ALIAS_VERSION",
    "CODE_VERSION",
    "LOCK_BRANCH_PREFIX",
    "REASON",
    "VERSION_TAG_PREFIX",
    "AliasEvent",
    "AliasMove",
    "FileLineage",
    "InputDifference",
    "Lease",
    "LeaseLostError",
    "Lineage",
    "PromotionInFlightError",
    "RegistryError",
    "Reproduction",
    "VersionInfo",
    "VersionNotFoundError",
    "acquire_lock",
    "alias_history",
    "alias_metadata",
    "break_lock",
    "default_actor",
    "dumps",
    "headline",
    "lineage",
    "list_versions",
    "lock_branch",
    "lock_holder",
    "main_log",
    "read_aliases",
    "registry_lock",
    "release_lock",
    "reproduce",
    "rollback",
    "set_alias",
    "show_version",
    "tag_version",
    "to_jsonable",
    "version_ref",
    "version_tag",
]


def to_jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, default=str, sort_keys=True)
