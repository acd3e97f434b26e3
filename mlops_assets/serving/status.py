"""The serving status in lakeFS: `serving/<ds>/status.json` on the branch `serving-<ds>` (one
commit per update, never on main, so it cannot conflict with publishing), and each canary
decision next to it in `serving/<ds>/decisions/`. The Dagster view (defs/serving) reads it."""

from __future__ import annotations

from typing import Any


def status_branch(ds: str) -> str:
    return f"serving-{ds}"


def status_path(ds: str) -> str:
    return f"serving/{ds}/status.json"


def decision_path(ds: str, stamp: str) -> str:
    return f"serving/{ds}/decisions/{stamp}.json"


def write_status(lakefs: Any, ds: str, status: dict[str, Any],
                 extra: dict[str, Any] | None = None) -> str | None:
    """Write (and commit) the status and any extra {path: document}; the commit id."""
    branch = status_branch(ds)
    if not lakefs.branch_exists(branch):
        lakefs.create_branch(branch, lakefs.default_branch, exist_ok=True)
    lakefs.put_json(branch, status_path(ds), status)
    for path, doc in (extra or {}).items():
        lakefs.put_json(branch, path, doc)
    served = (status.get("champion") or {}).get("version")
    return lakefs.commit(branch, f"{ds}: serving status ({served})",
                         metadata={"serving_dataset": ds, "served_version": str(served)})


def read_status(lakefs: Any, ds: str) -> dict[str, Any] | None:
    from mlops_assets.platform.lakefs_types import LakeFSNotFoundError

    try:
        return lakefs.get_json(status_branch(ds), status_path(ds))
    except LakeFSNotFoundError:
        return None
