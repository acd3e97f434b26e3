"""The registry lock, a lease: a promotion or alias move holds the lakeFS branch
`registry-lock-<ds>`.

Creating a branch that exists fails atomically (HTTP 409), so the branch is a mutex that lives in
lakeFS itself (visible with `lakectl branch list`, survives restarts). It heals itself:

- Born named: the lock branch is created from a commit that already carries the holder (made on
  a private `registry-lease-<ds>-<token>` branch first), so no lock ever lacks a holder.
- A lease: the holder renews its expiry every third of the lease on its own lease branch (never
  on the shared lock, so a renewal cannot land on the next holder's lock). A lock whose lease
  expired, whose holder process is gone (same host, pid dead), or that has no named holder (older
  code) is taken over: the taker first claims `registry-takeover-<ds>-<commit>` for that exact
  stale lock commit (atomic too, so exactly one taker wins), checks the lock still points there,
  then replaces it.
- Released only by its owner (the lease token must match), so a slow holder whose lease expired
  cannot delete the next holder's lock.
- Leftovers of dead holders (lease, takeover and temporary alias branches of the dataset) are
  removed by the next holder and by `mlops-assets models unlock`.
- A holder killed after its champion merge landed on main but before it tagged the version
  (`model-<version>`, `champion-<version>`) leaves a published version untagged: the next holder
  tags it on that merge commit (:func:`tag_interrupted_publishes`).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mlops_assets.platform.lakefs_client import (
    LakeFSClient,
    LakeFSConflictError,
    LakeFSError,
    LakeFSNotFoundError,
)
from mlops_assets.registry.versions import (
    PromotionInFlightError,
    RegistryError,
    tag_version,
    version_tag,
)

LOCK_BRANCH_PREFIX = "registry-lock-"
LEASE_BRANCH_PREFIX = "registry-lease-"
TAKEOVER_BRANCH_PREFIX = "registry-takeover-"
TMP_BRANCH_PREFIX = "registry-tmp-"  # alias moves: registry-tmp-<ds>-<alias>-<hex>
LEASE_SECONDS = 60.0
# Temporary alias branches of code before the lease (registry-<alias>-<8 hex>).
_LEGACY_TMP = re.compile(r"^registry-(?!lock-|lease-|takeover-|tmp-)[A-Za-z0-9_-]+-[0-9a-f]{8}$")


class LeaseLostError(RegistryError):
    """The lease expired and another holder took the lock: stop before changing anything."""


def lock_branch(ds: str) -> str:
    return f"{LOCK_BRANCH_PREFIX}{ds}"


def temporary_branch_name(ds: str, purpose: str) -> str:
    """A temporary branch made under the lock; the next holder deletes it if its maker died."""
    return f"{TMP_BRANCH_PREFIX}{ds}-{purpose}-{uuid.uuid4().hex[:8]}"


def _host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


@dataclass
class Lease:
    """A held registry lock: renewed by a background thread while the holder lives."""

    lakefs: LakeFSClient
    ds: str
    holder: str
    purpose: str
    token: str
    seconds: float
    lease_branch: str
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def renew(self) -> None:
        """Push the expiry out; marks the lease lost when the lock is no longer ours."""
        if not self.is_held():
            self.lost = True
            return
        self.lakefs.commit(self.lease_branch, f"renew lease {self.token}", allow_empty=True,
                           metadata=_lease_meta(self.holder, self.purpose, self.token,
                                                self.seconds))

    def is_held(self) -> bool:
        try:
            meta = self.lakefs.get_commit(lock_branch(self.ds)).metadata
        except LakeFSNotFoundError:
            return False
        return meta.get("lock_token") == self.token

    def ensure_held(self) -> None:
        """Call before an irreversible step (the merge into main)."""
        if self.lost or not self.is_held():
            self.lost = True
            raise LeaseLostError(f"registry lease of {self.ds} held by {self.holder} expired and "
                                 "was taken over; nothing was changed by this holder")

    def start(self) -> None:
        def beat() -> None:
            while not self._stop.wait(self.seconds / 3):
                with contextlib.suppress(LakeFSError):  # lakeFS down: retry at the next beat
                    self.renew()
                if self.lost:
                    return

        self._thread = threading.Thread(target=beat, name=f"lease-{self.ds}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.seconds)


def _lease_meta(holder: str, purpose: str, token: str, seconds: float) -> dict[str, str]:
    now = time.time()
    return {
        "lock_holder": holder, "lock_purpose": purpose, "lock_token": token,
        "lock_host": _host(), "lock_pid": str(os.getpid()),
        "lock_since": datetime.now(UTC).isoformat(timespec="seconds"),
        "lock_expires": f"{now + seconds:.3f}",
        "lock_expires_at": datetime.fromtimestamp(now + seconds, UTC).isoformat(
            timespec="seconds"),
    }


def _current_lease(lakefs: LakeFSClient, ds: str, lock_meta: dict[str, str]) -> dict[str, str]:
    """The lock's lease as last renewed (the holder renews on its own lease branch)."""
    token = lock_meta.get("lock_token")
    if not token:
        return lock_meta
    try:
        return lakefs.get_commit(f"{LEASE_BRANCH_PREFIX}{ds}-{token}").metadata
    except LakeFSNotFoundError:
        return lock_meta  # released or never renewed: the lock's own expiry stands


def stale_reason(meta: dict[str, str], now: float | None = None) -> str | None:
    """Why a lock may be taken over, or None while its holder is alive."""
    if not meta.get("lock_token") or not meta.get("lock_holder"):
        return "it has no named holder"
    now = time.time() if now is None else now
    if meta.get("lock_host") == _host() and meta.get("lock_pid", "").isdigit() \
            and not _pid_alive(int(meta["lock_pid"])):
        return f"its holder process {meta['lock_pid']} on {meta['lock_host']} is gone"
    try:
        if now > float(meta.get("lock_expires", "0")):
            return f"its lease expired at {meta.get('lock_expires_at', '?')}"
    except ValueError:
        return "its lease has no readable expiry"
    return None


def lock_holder(lakefs: LakeFSClient, ds: str) -> dict[str, str] | None:
    """Who holds the registry lock of `ds` (None when free), and whether it is stale."""
    branch = lock_branch(ds)
    try:
        commit = lakefs.get_commit(branch)
    except LakeFSNotFoundError:
        return None
    meta = _current_lease(lakefs, ds, commit.metadata)
    return {
        "branch": branch,
        "holder": meta.get("lock_holder", "unknown (no named holder)"),
        "purpose": meta.get("lock_purpose", ""),
        "since": commit.metadata.get("lock_since", ""),
        "expires": meta.get("lock_expires_at", ""),
        "stale": stale_reason(meta) or "",
        "commit": commit.id,
    }


def _describe(holder: dict[str, str] | None, ds: str) -> str:
    if holder is None:
        return f"registry lock of {ds} is free"
    return (f"a {holder['purpose'] or 'registry change'} of {ds} is in flight (held by "
            f"{holder['holder']} since {holder['since'] or '?'}, lease until "
            f"{holder['expires'] or '?'}, lakeFS branch {holder['branch']!r}); retry when it is "
            "done: a lock whose holder died is taken over when its lease expires")


def _take_over(lakefs: LakeFSClient, ds: str, stale_commit: str) -> bool:
    """Remove the lock if it still points at `stale_commit`; exactly one taker wins."""
    marker = f"{TAKEOVER_BRANCH_PREFIX}{ds}-{stale_commit[:16]}"
    try:
        lakefs.create_branch(marker, stale_commit, exist_ok=False)
    except LakeFSConflictError:
        return False  # another taker is on it
    try:
        if lakefs.resolve(lock_branch(ds)) != stale_commit:
            return False
        lakefs.delete_branch(lock_branch(ds))
        return True
    except LakeFSNotFoundError:
        return False
    finally:
        lakefs.delete_branch(marker)


def acquire_lock(
    lakefs: LakeFSClient, ds: str, holder: str, purpose: str, wait_seconds: float = 0.0,
    lease_seconds: float = LEASE_SECONDS,
) -> Lease:
    """Take the registry lock of `ds`; a stale lock is taken over. Raises
    :class:`PromotionInFlightError` if a live holder still has it after `wait_seconds`."""
    token = uuid.uuid4().hex
    lease_branch = f"{LEASE_BRANCH_PREFIX}{ds}-{token}"
    lakefs.create_branch(lease_branch, lakefs.default_branch, exist_ok=True)
    named = lakefs.commit(lease_branch, f"registry lock of {ds}: {purpose} by {holder}",
                          allow_empty=True,
                          metadata=_lease_meta(holder, purpose, token, lease_seconds))
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            lakefs.create_branch(lock_branch(ds), named, exist_ok=False)
            break
        except LakeFSConflictError:
            current = lock_holder(lakefs, ds)
            if current and current["stale"] and _take_over(lakefs, ds, current["commit"]):
                continue
            if time.monotonic() >= deadline:
                lakefs.delete_branch(lease_branch)
                raise PromotionInFlightError(_describe(current, ds)) from None
            time.sleep(0.5)
    lease = Lease(lakefs, ds, holder, purpose, token, lease_seconds, lease_branch)
    remove_leftovers(lakefs, ds, keep={lease_branch})
    with contextlib.suppress(LakeFSError, RegistryError):  # best effort: never blocks the holder
        tag_interrupted_publishes(lakefs, ds)
    return lease


def tag_interrupted_publishes(lakefs: LakeFSClient, ds: str, depth: int = 50) -> list[str]:
    """Write the version tags a champion step was killed before writing: every champion merge
    among main's last `depth` commits whose `model-<version>` (or, promoted, its
    `champion-<version>`) tag is missing is tagged on that merge. Call while holding the lock.
    Returns the tags written."""
    tags = lakefs.list_tags()
    written = []
    for commit in lakefs.log(lakefs.default_branch, max_amount=depth, first_parent=True):
        meta = commit.metadata
        version = meta.get("model_version", "")
        if meta.get("dagster_asset_key") != "champion" or not version.startswith(f"{ds}-"):
            continue
        if version_tag(version) not in tags:
            tag_version(lakefs, ds, version, commit.id)
            written.append(version_tag(version))
        if meta.get("promoted") == "True" and f"champion-{version}" not in tags:
            lakefs.create_tag(f"champion-{version}", commit.id, exist_ok=True)
            written.append(f"champion-{version}")
    return written


def remove_leftovers(lakefs: LakeFSClient, ds: str, keep: set[str] | frozenset = frozenset(),
                     legacy: bool = False) -> list[str]:
    """Delete lease, takeover and temporary branches of `ds` left by dead holders (call only
    while holding the lock, or when it is free); `legacy` also removes the pre-lease temporary
    alias branches (`registry-<alias>-<hex>`), which do not name their dataset."""
    prefixes = (f"{LEASE_BRANCH_PREFIX}{ds}-", f"{TAKEOVER_BRANCH_PREFIX}{ds}-",
                f"{TMP_BRANCH_PREFIX}{ds}-")
    removed = []
    for branch in lakefs.list_branches():
        if branch in keep:
            continue
        if branch.startswith(prefixes) or (legacy and _LEGACY_TMP.match(branch)):
            lakefs.delete_branch(branch)
            removed.append(branch)
    return removed


def release_lock(lakefs: LakeFSClient, ds: str, lease: Lease | None = None) -> bool:
    """Release the lock if it is ours: the given lease, or (without one) a lock held by this
    very process. Returns whether it was released; another holder's lock is never touched."""
    try:
        meta = lakefs.get_commit(lock_branch(ds)).metadata
    except LakeFSNotFoundError:
        meta = None
    ours = meta is not None and (
        meta.get("lock_token") == lease.token if lease is not None
        else meta.get("lock_host") == _host() and meta.get("lock_pid") == str(os.getpid()))
    if ours:
        lakefs.delete_branch(lock_branch(ds))
    token = lease.token if lease is not None else (meta or {}).get("lock_token") if ours else None
    if token:
        lakefs.delete_branch(f"{LEASE_BRANCH_PREFIX}{ds}-{token}")
    return ours


def break_lock(lakefs: LakeFSClient, ds: str) -> dict[str, str] | None:
    """Remove a lock left by a holder that died, and every leftover branch of the registry
    (lease, takeover, temporary alias branches); returns who held it (with `removed`)."""
    holder = lock_holder(lakefs, ds)
    lakefs.delete_branch(lock_branch(ds))
    removed = remove_leftovers(lakefs, ds, legacy=True)
    if holder is not None:
        holder["removed"] = ", ".join(removed)
    return holder


@contextlib.contextmanager
def registry_lock(
    lakefs: LakeFSClient, ds: str, holder: str, purpose: str = "promotion",
    wait_seconds: float = 0.0, lease_seconds: float = LEASE_SECONDS,
) -> Iterator[Lease]:
    """Hold the registry lock of `ds` for a promotion or an alias move; renewed while held,
    released on exit (only if still ours)."""
    lease = acquire_lock(lakefs, ds, holder, purpose, wait_seconds, lease_seconds)
    lease.start()
    try:
        yield lease
    finally:
        lease.stop()
        release_lock(lakefs, ds, lease)
