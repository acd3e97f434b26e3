"""The lakeFS resource against a real server: versions, isolation, errors."""

import socket
import time

import polars as pl
import pytest

from mlops_assets.platform.lakefs_client import (
    LakeFSClient,
    LakeFSConflictError,
    LakeFSError,
    LakeFSNotFoundError,
)

pytestmark = pytest.mark.lakefs


def test_branch_isolation_until_merge(lakefs):
    lakefs.create_branch("run-1")
    frame = pl.DataFrame({"id": [1, 2, 3], "value": [0.5, 1.5, None]})
    lakefs.put_frame("run-1", "data/part.parquet", frame)
    lakefs.commit("run-1", "write part")

    assert not lakefs.exists("main", "data/part.parquet")
    assert lakefs.exists("run-1", "data/part.parquet")

    result = lakefs.merge("run-1", message="publish")
    assert result.merged
    assert lakefs.resolve("main") == result.commit_id
    assert lakefs.get_bytes("main", "data/part.parquet") == lakefs.get_bytes(
        "run-1", "data/part.parquet"
    )
    assert lakefs.get_frame("main", "data/part.parquet").equals(frame)


def test_commit_metadata_round_trips_and_empty_merge_is_a_noop(lakefs):
    lakefs.create_branch("b")
    lakefs.put_json("b", "x.json", {"a": 1})
    commit_id = lakefs.commit(
        "b", "with metadata", metadata={"dagster_run_id": "r1", "code_version": 3}
    )
    info = lakefs.get_commit(commit_id)
    assert info.message == "with metadata"
    assert info.metadata == {"dagster_run_id": "r1", "code_version": "3"}

    assert lakefs.merge("b").merged
    head = lakefs.resolve("main")
    again = lakefs.merge("b")  # nothing new on b
    assert not again.merged and again.commit_id == head
    assert lakefs.commit("b", "nothing staged") == lakefs.resolve("b")  # no empty commit


def test_revert_restores_previous_content_and_tag_pins_commit(lakefs):
    lakefs.put_bytes("main", "f.txt", b"v1")
    first = lakefs.commit("main", "v1")
    lakefs.create_tag("release-1", first)
    lakefs.put_bytes("main", "f.txt", b"v2")
    second = lakefs.commit("main", "v2")

    lakefs.revert("main", second)
    assert lakefs.get_bytes("main", "f.txt") == b"v1"
    assert lakefs.resolve("release-1") == first
    assert lakefs.get_bytes("release-1", "f.txt") == b"v1"
    assert lakefs.list_tags() == {"release-1": first}


def test_revert_of_a_merge_undoes_what_it_brought(lakefs):
    lakefs.put_bytes("main", "base.txt", b"base")
    lakefs.commit("main", "base")
    lakefs.create_branch("feature")
    lakefs.put_bytes("feature", "new.txt", b"new")
    lakefs.commit("feature", "new")
    merge = lakefs.merge("feature").commit_id
    assert lakefs.exists("main", "new.txt")
    lakefs.revert("main", merge)
    assert not lakefs.exists("main", "new.txt")
    assert lakefs.exists("main", "base.txt")


def test_reset_branch_and_diff(lakefs):
    lakefs.put_bytes("main", "a.txt", b"a")
    first = lakefs.commit("main", "a")
    lakefs.put_bytes("main", "b.txt", b"b")
    second = lakefs.commit("main", "b")
    diff = lakefs.diff(first, second)
    assert [(d.path, d.type) for d in diff] == [("b.txt", "added")]

    lakefs.reset_branch("main", first)
    assert lakefs.resolve("main") == first
    assert not lakefs.exists("main", "b.txt")


def test_conflicting_merge_raises_conflict_and_leaves_main(lakefs):
    lakefs.put_bytes("main", "f.txt", b"base")
    lakefs.commit("main", "base")
    lakefs.create_branch("left")
    lakefs.put_bytes("left", "f.txt", b"left")
    lakefs.commit("left", "left")
    lakefs.put_bytes("main", "f.txt", b"main")
    head = lakefs.commit("main", "main")
    with pytest.raises(LakeFSConflictError, match="merge 'left' into 'main'"):
        lakefs.merge("left")
    assert lakefs.resolve("main") == head


def test_missing_object_names_the_location(lakefs):
    with pytest.raises(LakeFSNotFoundError) as error:
        lakefs.get_bytes("main", "nope/missing.parquet")
    assert f"lakefs://{lakefs.repository}/main/nope/missing.parquet" in str(error.value)


def test_wrong_credentials_fail_fast_with_a_clear_message(lakefs_server):
    resource = LakeFSClient(
        endpoint=lakefs_server.endpoint,
        access_key_id="AKIAWRONGWRONG",
        secret_access_key="a-very-secret-value",
        repository="whatever",
    )
    started = time.monotonic()
    with pytest.raises(LakeFSError) as error:
        resource.ensure_repository()
    assert time.monotonic() - started < 10
    message = str(error.value)
    assert "rejected the credentials" in message and "AKIAWRONGWRONG" in message
    assert "a-very-secret-value" not in message
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_unreachable_server_fails_fast_with_a_clear_message():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    resource = LakeFSClient(
        endpoint=f"http://127.0.0.1:{port}",
        access_key_id="AKIA",
        secret_access_key="s3cret-value",
        repository="r",
        request_timeout_seconds=2,
    )
    started = time.monotonic()
    with pytest.raises(
        LakeFSError, match=f"cannot reach lakeFS at http://127.0.0.1:{port}"
    ) as error:
        resource.resolve("main")
    assert time.monotonic() - started < 10
    assert "s3cret-value" not in str(error.value)


def test_unresponsive_server_times_out():
    # A listening socket that never answers: the request timeout must fire, not hang.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        resource = LakeFSClient(
            endpoint=f"http://127.0.0.1:{port}",
            access_key_id="AKIA",
            secret_access_key="s",
            repository="r",
            request_timeout_seconds=1.5,
        )
        started = time.monotonic()
        with pytest.raises(LakeFSError, match="cannot reach lakeFS"):
            resource.resolve("main")
        assert time.monotonic() - started < 15


def test_concurrent_frames_keep_order_and_report_the_missing_path(lakefs):
    frames = {f"p/{i}.parquet": pl.DataFrame({"i": [i] * (i + 1)}) for i in range(12)}
    assert lakefs.put_frames("main", frames) > 0
    read = lakefs.get_frames("main", list(frames))
    assert [f.height for f in read] == list(range(1, 13))
    with pytest.raises(LakeFSNotFoundError, match=r"p/missing\.parquet"):
        lakefs.get_frames("main", ["p/0.parquet", "p/missing.parquet", "p/1.parquet"])
