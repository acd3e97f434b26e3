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
  `lakectl branch list`, survives restarts, needs no commit on main). A crashed holder leaves it;
  :func:`break_lock` (`mlops-assets models unlock`) removes it.

Functions take a :class:`LakeFSClient` and a dataset name; no Dagster context is needed.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict
from typing import Any

# Names are loaded from their module on first use (PEP 562), so `models list` imports only
# versions.py and the stdlib reader, not the lakeFS SDK, polars or torch the other modules need.
_EXPORTS = {
    "aliases": ("AliasMove", "default_actor", "rollback", "set_alias"),
    "compare": ("Comparison", "compare_versions"),
    "history": ("ACTOR", "ALIAS", "ALIAS_ACTION", "ALIAS_DATASET", "ALIAS_EVALUATION",
                "ALIAS_KEYS", "ALIAS_PREVIOUS", "ALIAS_VERSION", "REASON", "AliasEvent",
                "alias_history", "alias_metadata", "main_log"),
    "lineage": ("FileLineage", "Lineage", "lineage"),
    "lock": ("LOCK_BRANCH_PREFIX", "Lease", "LeaseLostError", "acquire_lock", "break_lock",
             "lock_branch", "lock_holder", "registry_lock", "release_lock"),
    "reproduce": ("InputDifference", "Reproduction", "reproduce"),
    "versions": ("CODE_VERSION", "VERSION_TAG_PREFIX", "PromotionInFlightError",
                 "RegistryError", "VersionInfo", "VersionNotFoundError", "headline",
                 "list_versions", "read_aliases", "show_version", "tag_version", "version_ref",
                 "version_tag"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted([*_MODULE_OF, "dumps", "to_jsonable"])


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def to_jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, default=str, sort_keys=True)
