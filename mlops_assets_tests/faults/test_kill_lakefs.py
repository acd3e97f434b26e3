"""lakeFS itself killed with SIGKILL in the middle of an ingest or a train run (`dagster job
execute`), then restarted on the same state directory: nothing on main is lost, main is sound,
the registry lock heals, and the rerun succeeds. Runs its own lakeFS server (local badger
metadata and local blockstore in a temp dir), never the session-shared one."""

import contextlib
import os
import random
import signal
import subprocess

import pytest

from mlops_assets.core.spec import load_spec
from mlops_assets.defs.partitions import range_tags
from mlops_assets.lakefs_server import LocalLakeFS
from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_client import LakeFSError
from mlops_assets.registry.lock import lock_branch, lock_holder
from mlops_assets.testing import make_client, pipeline_definitions, run_job
from mlops_assets_tests.faults.harness import (
    DS,
    FAST_EVALUATION,
    SEED,
    N,
    count,
    dagster_job,
    job_env,
    kill9,
    start,
    train_config,
    wait_for,
)
from mlops_assets_tests.faults.invariants import (
    assert_lock_heals,
    assert_main_is_sound,
    assert_no_registry_leftovers,
    champion_tag_torn,
)

pytestmark = [pytest.mark.lakefs, pytest.mark.faults]

BATCHES_PER_INGEST = 8


def _kill_server(server: LocalLakeFS) -> None:
    pid = server.info().pid
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # our child: reap it, or it would count as alive


CALENDAR = load_spec(DS).partition_keys()


def _keys(ingest: int) -> tuple[str, str]:
    """The range of the `ingest`-th ingest: BATCHES_PER_INGEST batches from February on,
    wrapping round the calendar (with N >= 9 the eighth would end on 2024-02-32); a range main
    already holds is ingested again, which publishes nothing new."""
    starts = len(CALENDAR) - BATCHES_PER_INGEST + 1
    start = (CALENDAR.index("2024-02-01") + ingest * BATCHES_PER_INGEST) % starts
    return CALENDAR[start], CALENDAR[start + BATCHES_PER_INGEST - 1]


def test_lakefs_killed_mid_run_restarted_nothing_lost(tmp_path, lakefs_binary):
    server = LocalLakeFS(tmp_path / "own-lakefs", binary=lakefs_binary)
    info = server.start()
    try:
        client = make_client(info)
        client.ensure_repository()
        defs = pipeline_definitions(client, tmp_path / "landing-inprocess", DS)
        env = job_env(client, info, tmp_path)
        rng = random.Random(SEED * 100 + 3)
        phases = ["ingest", "train"] * max(1, N // 3)
        ingests = 0
        for i, phase in enumerate(phases):
            if phase == "ingest":
                first, last = _keys(ingests)
                ingests += 1
                command = dagster_job("ingest_job", tags=range_tags(first, last))
            else:
                command = dagster_job("train_job", train_config(tmp_path, seed=i))
            seen: dict[str, object] = {}

            def watch(state=seen) -> bool:  # remember what main held just before the kill
                state["log"] = [c.id for c in client.log("main", 200, first_parent=True)]
                state["raw"] = layout.keys_in(client.list_objects("main", layout.raw_prefix(DS)))
                return False

            runs_before = {b for b in client.list_branches() if b.startswith("run-")}

            def run_started(before=runs_before) -> bool:  # the run has begun writing
                return any(b.startswith("run-") and b not in before
                           for b in client.list_branches())

            head = client.resolve("main")
            process = start(command, env, tmp_path / f"{phase}-{i}.log")
            if phase == "train" and i % 4 == 1:  # inside the champion step, holding the lock
                trigger = lambda: client.branch_exists(lock_branch(DS))  # noqa: E731
                delay, poll = rng.uniform(0.0, 0.1), 0.01  # it holds the lock well under 1 s
            else:  # anywhere in the run once it has begun writing to lakeFS
                trigger, delay = run_started, rng.uniform(0.0, 3.0 if phase == "ingest" else 15)
                poll = 0.1
            wait_for(trigger, process, 300, poll=poll)
            wait_for(watch, process, delay, poll=0.2)
            watch()
            _kill_server(server)
            try:
                process.wait(timeout=120)  # the run fails on its own once lakeFS is gone
                hung = False
            except subprocess.TimeoutExpired:
                hung = kill9(process)
            restarted = server.start()
            assert restarted.endpoint == info.endpoint  # same port: saved settings stay valid
            # Nothing lost: every commit main had and every batch it held are still there.
            log_now = [c.id for c in client.log("main", 500, first_parent=True)]
            assert set(seen.get("log", [])) <= set(log_now)
            raw_now = layout.keys_in(client.list_objects("main", layout.raw_prefix(DS)))
            assert set(seen.get("raw", [])) <= set(raw_now)
            untouched = log_now[0] == head
            assert_main_is_sound(client, DS, tags=False)
            torn = champion_tag_torn(client, DS)  # merged, lakeFS gone before the tag
            count("lakeFS killed", tried=1, main_untouched=int(untouched), run_hung=int(hung))
            count(f"lakeFS killed: {phase}", tried=1, tag_torn=int(torn))
            assert_lock_heals(client, DS)
            # The rerun, in process (the code path is the same; the subprocess start is not).
            if phase == "ingest":
                assert run_job(defs, "ingest_job", first, last).success
                assert run_job(defs, "features_job", first, last).success
            else:
                assert run_job(defs, "train_job", training={"seed": i},
                               ops_config={"evaluation": FAST_EVALUATION}).success
                assert lock_holder(client, DS) is None
                assert_no_registry_leftovers(client)
            assert_main_is_sound(client, DS)
            count("lakeFS killed", recovered=1)
    finally:
        with contextlib.suppress(LakeFSError, OSError):
            server.stop()
