"""Issue #13 item 7: the registry lock is a lease that heals itself (named from birth, taken over
when expired, unnamed or its process is gone, released only by its owner), and `unlock` removes
leftover temporary branches."""

import subprocess
import sys
import time

import pytest

from mlops_assets import registry
from mlops_assets.registry.lock import (
    LeaseLostError,
    acquire_lock,
    lock_branch,
    lock_holder,
    registry_lock,
    release_lock,
)
from mlops_assets.registry.versions import PromotionInFlightError

pytestmark = pytest.mark.lakefs

DS = "synthetic"

HOLD_AND_WAIT = """
import sys, time
from mlops_assets.platform.lakefs_client import LakeFSClient
from mlops_assets.registry.lock import acquire_lock
c = LakeFSClient(endpoint=sys.argv[1], access_key_id=sys.argv[2], secret_access_key=sys.argv[3],
                 repository=sys.argv[4])
acquire_lock(c, "synthetic", holder="doomed", purpose="promotion", lease_seconds=3600)
print("held", flush=True)
time.sleep(3600)
"""


def test_lock_of_a_killed_process_is_taken_over_at_once(lakefs):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_WAIT, lakefs.endpoint, lakefs.access_key_id,
         lakefs.secret_access_key, lakefs.repository], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    assert lock_holder(lakefs, DS)["holder"] == "doomed"
    with pytest.raises(PromotionInFlightError, match="held by doomed"):
        acquire_lock(lakefs, DS, "impatient", "promotion")  # alive: refused
    process.kill()
    process.wait()
    assert "is gone" in lock_holder(lakefs, DS)["stale"]
    with registry_lock(lakefs, DS, "next", "promotion") as lease:  # no `unlock` needed
        assert lease.is_held() and lock_holder(lakefs, DS)["holder"] == "next"
    assert lock_holder(lakefs, DS) is None
    leftovers = [b for b in lakefs.list_branches() if b.startswith("registry-")]
    assert leftovers == []


def test_expired_lease_is_taken_over_and_the_slow_holder_cannot_release_it(lakefs):
    slow = acquire_lock(lakefs, DS, "slow", "promotion", lease_seconds=0.5)  # never renewed
    time.sleep(1.0)
    fresh = acquire_lock(lakefs, DS, "fresh", "promotion", lease_seconds=60)
    assert lock_holder(lakefs, DS)["holder"] == "fresh"
    assert release_lock(lakefs, DS, slow) is False  # not its lock any more
    assert lock_holder(lakefs, DS)["holder"] == "fresh"
    with pytest.raises(LeaseLostError):
        slow.ensure_held()
    assert release_lock(lakefs, DS, fresh) is True
    assert lock_holder(lakefs, DS) is None


def test_renewed_lease_outlives_its_duration(lakefs):
    with registry_lock(lakefs, DS, "long", "promotion", lease_seconds=1.5) as lease:
        time.sleep(2.5)  # renewed every 0.5 s
        assert lock_holder(lakefs, DS)["stale"] == ""
        with pytest.raises(PromotionInFlightError):
            acquire_lock(lakefs, DS, "other", "promotion")
        lease.ensure_held()


def test_unnamed_lock_is_taken_over(lakefs):
    lakefs.create_branch(lock_branch(DS), "main")  # as a crash mid-acquire left it before
    assert lock_holder(lakefs, DS)["stale"] == "it has no named holder"
    with registry_lock(lakefs, DS, "healer", "promotion"):
        assert lock_holder(lakefs, DS)["holder"] == "healer"


def test_unlock_removes_leftover_temporary_branches(lakefs):
    for branch in ("registry-champion-0badc0de", f"registry-tmp-{DS}-champion-12345678",
                   f"registry-lease-{DS}-feedface"):
        lakefs.create_branch(branch, "main")
    lakefs.create_branch(lock_branch(DS), "main")
    holder = registry.break_lock(lakefs, DS)
    assert holder is not None and "registry-champion-0badc0de" in holder["removed"]
    assert [b for b in lakefs.list_branches() if b.startswith("registry-")] == []
