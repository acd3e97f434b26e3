"""The registry lock: a promotion or alias move holds the lakeFS branch `registry-lock-<ds>`.
Creating a branch that exists fails atomically (HTTP 409), so the branch is a mutex that lives in
lakeFS itself (visible with `lakectl branch list`, survives restarts)."""

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from mlops_assets.platform.lakefs_client import (
    LakeFSClient,
    LakeFSConflictError,
    LakeFSNotFoundError,
)
from mlops_assets.registry.versions import PromotionInFlightError

LOCK_BRANCH_PREFIX = "registry-lock-"


def lock_branch(ds: str) -> str:
    return f"{LOCK_BRANCH_PREFIX}{ds}"


def lock_holder(lakefs: LakeFSClient, ds: str) -> dict[str, str] | None:
    """Who holds the registry lock of `ds` (None when free)."""
    branch = lock_branch(ds)
    try:
        commit = lakefs.get_commit(branch)
    except LakeFSNotFoundError:
        return None
    meta = commit.metadata
    return {
        "branch": branch,
        "holder": meta.get("lock_holder", "unknown (being acquired)"),
        "purpose": meta.get("lock_purpose", ""),
        "since": meta.get("lock_since", ""),
    }


def _describe(holder: dict[str, str] | None, ds: str) -> str:
    if holder is None:
        return f"registry lock of {ds} is free"
    return (f"a {holder['purpose'] or 'registry change'} of {ds} is in flight (held by "
            f"{holder['holder']} since {holder['since'] or '?'}, lakeFS branch "
            f"{holder['branch']!r}); retry when it is done, or, if its holder died, remove the "
            f"lock with `mlops-assets models unlock --dataset {ds}`")


def acquire_lock(
    lakefs: LakeFSClient, ds: str, holder: str, purpose: str, wait_seconds: float = 0.0
) -> str:
    """Take the registry lock of `ds` (atomic branch creation); raise
    :class:`PromotionInFlightError` if it is still held after `wait_seconds`."""
    branch = lock_branch(ds)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            lakefs.create_branch(branch, lakefs.default_branch, exist_ok=False)
            break
        except LakeFSConflictError:
            if time.monotonic() >= deadline:
                raise PromotionInFlightError(_describe(lock_holder(lakefs, ds), ds)) from None
            time.sleep(1.0)
    lakefs.commit(branch, f"registry lock of {ds}: {purpose} by {holder}", allow_empty=True,
                  metadata={"lock_holder": holder, "lock_purpose": purpose,
                            "lock_since": datetime.now(UTC).isoformat(timespec="seconds")})
    return branch


def release_lock(lakefs: LakeFSClient, ds: str) -> None:
    lakefs.delete_branch(lock_branch(ds), missing_ok=True)


def break_lock(lakefs: LakeFSClient, ds: str) -> dict[str, str] | None:
    """Remove a lock left by a holder that died; returns who held it."""
    holder = lock_holder(lakefs, ds)
    release_lock(lakefs, ds)
    return holder


@contextlib.contextmanager
def registry_lock(
    lakefs: LakeFSClient, ds: str, holder: str, purpose: str = "promotion",
    wait_seconds: float = 0.0,
) -> Iterator[None]:
    """Hold the registry lock of `ds` for a promotion or an alias move (released on exit)."""
    acquire_lock(lakefs, ds, holder, purpose, wait_seconds)
    try:
        yield
    finally:
        release_lock(lakefs, ds)


