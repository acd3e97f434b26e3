"""kill -9 inside `train_job` (`dagster job execute -j train_job`, as a user runs it) and inside a
CLI rollback (`python -m mlops_assets.cli rollback`), N trials each with a fixed seed; then two
trains at once. After every trial main is sound (invariants.py), the registry lock heals (free or
stale, no `models unlock`), and the next train or rollback succeeds."""

import itertools
import random
import time

import pytest

from mlops_assets.platform import layout
from mlops_assets.registry import alias_history
from mlops_assets.registry.lock import TMP_BRANCH_PREFIX, lock_branch, lock_holder
from mlops_assets_tests.faults.harness import (
    DS,
    SEED,
    N,
    branch_appears,
    cli,
    count,
    dagster_job,
    job_env,
    kill9,
    main_moves,
    run,
    seed_features,
    start,
    train_config,
    train_in_process,
    wait_for,
)
from mlops_assets_tests.faults.invariants import (
    assert_lock_heals,
    assert_main_is_sound,
    assert_no_registry_leftovers,
    champion_tag_torn,
)

pytestmark = [pytest.mark.lakefs, pytest.mark.faults]

# Where a train_job is killed: a random moment of the whole run (import, train, evaluate,
# card, champion), while the champion step holds the registry lock, or the instant its merge
# lands on main (before the version tag is written).
TRAIN_KINDS = ("random", "in-lock", "at-merge")
ROLLBACK_KINDS = ("random", "in-lock", "tmp-branch")


def _champion(lakefs) -> str | None:
    path = layout.model_pointer(DS, "champion")
    return lakefs.get_json("main", path)["version"] if lakefs.exists("main", path) else None


def _after_kill(lakefs, kind: str, family: str, killed: bool, head_before: str) -> None:
    untouched = lakefs.resolve("main") == head_before
    count(family, tried=1, killed_mid_run=int(killed), main_untouched=int(untouched))
    assert_main_is_sound(lakefs, DS, tags=False)
    torn = champion_tag_torn(lakefs, DS)  # merged, killed before tagging: the next holder tags
    count(f"{family}: {kind}", tried=1, main_untouched=int(untouched), tag_torn=int(torn))
    assert_lock_heals(lakefs, DS)


def test_kill_9_during_train_job_then_rerun(lakefs, lakefs_server, tmp_path):
    seed_features(lakefs, tmp_path, "2024-01-01", "2024-01-08")
    train_in_process(lakefs, tmp_path)  # a champion to compare against
    env = job_env(lakefs, lakefs_server, tmp_path)
    rng = random.Random(SEED * 100 + 1)
    span = 20.0  # a train_job's duration, re-measured on every killed run that got to champion
    for i in range(N):
        kind = TRAIN_KINDS[i % len(TRAIN_KINDS)]
        head = lakefs.resolve("main")
        config = train_config(tmp_path, seed=i + 1, always_promote=True)
        began = time.monotonic()
        process = start(dagster_job("train_job", config), env, tmp_path / f"train-{i}.log")
        if kind == "random":
            time.sleep(rng.uniform(1.0, span))
        elif kind == "in-lock":
            wait_for(branch_appears(lakefs, lock_branch(DS)), process, 300)
            span = time.monotonic() - began
            time.sleep(rng.uniform(0.0, 1.0))
        else:
            wait_for(main_moves(lakefs), process, 300, poll=0.005)
            span = time.monotonic() - began
        killed = kill9(process)
        _after_kill(lakefs, kind, "train_job", killed, head)
        # The next train, with no `models unlock` and no clean-up by hand.
        train_in_process(lakefs, tmp_path, seed=100 + i, always_promote=True)
        assert_main_is_sound(lakefs, DS)
        assert_no_registry_leftovers(lakefs)
        assert lock_holder(lakefs, DS) is None
        count("train_job", recovered=1)


def test_kill_9_during_cli_rollback_then_rerun(lakefs, lakefs_server, tmp_path):
    seed_features(lakefs, tmp_path, "2024-01-01", "2024-01-08")
    train_in_process(lakefs, tmp_path, seed=0)
    train_in_process(lakefs, tmp_path, seed=1)  # a second published version to move to
    published = sorted({p.split("/")[2] for p in lakefs.list_objects("main", f"models/{DS}/")
                        if p.endswith("/record.json")})
    assert len(published) == 2, published
    env = job_env(lakefs, lakefs_server, tmp_path)
    rng = random.Random(SEED * 100 + 2)
    span = 6.0
    for i in range(N):
        kind = ROLLBACK_KINDS[i % len(ROLLBACK_KINDS)]
        current = _champion(lakefs)
        target = next(v for v in published if v != current)
        head = lakefs.resolve("main")
        command = cli("rollback", "--dataset", DS, "--to", target, "--reason", f"fault {i}")
        process = start(command, env, tmp_path / f"rollback-{i}.log")
        if kind == "random":
            time.sleep(rng.uniform(0.5, span))
        elif kind == "in-lock":
            wait_for(branch_appears(lakefs, lock_branch(DS)), process, 60)
            time.sleep(rng.uniform(0.0, 0.2))
        else:
            wait_for(branch_appears(lakefs, f"{TMP_BRANCH_PREFIX}{DS}-"), process, 60, 0.005)
        killed = kill9(process)
        _after_kill(lakefs, kind, "rollback", killed, head)
        # The next rollback: the same one if the killed one did not land, else back again.
        target = next(v for v in published if v != _champion(lakefs))
        began = time.monotonic()
        code, out = run(cli("rollback", "--dataset", DS, "--to", target, "--reason", "rerun"),
                        env, tmp_path / f"rollback-rerun-{i}.log")
        span = time.monotonic() - began  # kill anywhere in the next one's whole run
        assert code == 0, out
        assert _champion(lakefs) == target
        assert_main_is_sound(lakefs, DS)
        assert_no_registry_leftovers(lakefs)
        count("rollback", recovered=1)


def test_two_trains_at_once(lakefs, lakefs_server, tmp_path):
    """Both champion steps contend for the registry lock: one promotes first, the other waits
    and is compared with the new champion (or fails cleanly); alias moves stay a chain."""
    seed_features(lakefs, tmp_path, "2024-01-01", "2024-01-08")
    processes = []
    for i in range(2):
        env = job_env(lakefs, lakefs_server, tmp_path, home=f"home-{i}")
        processes.append((start(dagster_job("train_job", train_config(tmp_path, seed=i)), env,
                                tmp_path / f"both-{i}.log"), tmp_path / f"both-{i}.log"))
    codes = [p.wait(timeout=600) for p, _ in processes]
    logs = [log.read_text(errors="replace") for _, log in processes]
    for code, log in zip(codes, logs, strict=True):
        assert code == 0 or "not promoting" in log or "lost a concurrent race" in log, log[-3000:]
    assert 0 in codes, logs
    assert_main_is_sound(lakefs, DS)
    assert_no_registry_leftovers(lakefs)
    events = alias_history(lakefs, DS)
    assert events, "nobody promoted"
    for before, after in itertools.pairwise(events):
        assert after.previous == before.version, events  # no lost update
    assert _champion(lakefs) == events[-1].version
    champion_merges = [c for c in lakefs.log("main", 200, first_parent=True)
                       if c.metadata.get("dagster_asset_key") == "champion"]
    assert len(champion_merges) == codes.count(0)  # each finished run merged exactly once
    count("two trains at once", tried=1, rejected=2 - len(events),
          recovered=int(lock_holder(lakefs, DS) is None))
