"""The one door to lakeFS: a plain client (no Dagster), used by the assets (through the thin
Dagster resource in mlops_assets.defs.resources), the registry and the CLI alike.

On the ``lakefs`` wrapper and ``lakefs-sdk``. Every call goes through ``_call``, which turns
errors into :class:`LakeFSError` messages naming what failed (repository/ref/path, never a
secret); requests time out, so an unreachable server fails in seconds. Outside Dagster:
``LakeFSClient.from_env()``."""

from __future__ import annotations

import contextlib
import io
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from mlops_assets.platform.lakefs_env import lakefs_settings_from_env
from mlops_assets.platform.lakefs_rest import rest_client_with_timeout
from mlops_assets.platform.lakefs_types import (
    CommitInfo,
    DiffEntry,
    LakeFSConflictError,
    LakeFSError,
    LakeFSNotFoundError,
    MergeResult,
    _commit_info,
    _server_message,
    _strip_secret,
)

T = TypeVar("T")


# Statuses worth retrying: lakeFS answers concurrent commits/merges into one branch, which race
# on a compare-and-swap of the head, with 429 ("too many attempts") or a transient 5xx.
_RETRYABLE_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class LakeFSClient:
    """Connection to one lakeFS repository (field meanings: mlops_assets.defs.resources)."""

    endpoint: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    repository: str = "mlops-assets"
    storage_namespace: str = ""  # empty: local://<repository>, which suits the embedded server
    default_branch: str = "main"
    request_timeout_seconds: float = 30.0
    merge_attempts: int = 6
    io_threads: int = 8
    run_branch_retention_days: float = 14.0  # merged run branches older than this are pruned

    _client: Any = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LakeFSClient:  # lakefs_env
        return cls(**lakefs_settings_from_env(environ))

    # -- plumbing ------------------------------------------------------------------------------
    def client(self) -> Any:  # the ``lakefs.Client``, created once per instance
        if self._client is None:
            import lakefs

            client = lakefs.Client(
                host=self.endpoint, username=self.access_key_id, password=self.secret_access_key
            )
            # The SDK has no client-wide timeout (see lakefs_rest): default it per request.
            api_client = client.sdk_client.branches_api.api_client
            api_client.rest_client = rest_client_with_timeout(
                api_client.configuration,
                (min(5.0, self.request_timeout_seconds), self.request_timeout_seconds),
            )
            self._client = client
        return self._client

    def _repo(self) -> Any:
        import lakefs

        return lakefs.Repository(self.repository, client=self.client())

    def uri(self, ref: str, path: str = "") -> str:
        return f"lakefs://{self.repository}/{ref}/{path}".rstrip("/")

    def _call(self, what: str, fn: Callable[[], T], ref: str | None = None, path: str = "") -> T:
        try:
            return fn()
        except Exception as exc:  # translated below; anything unknown is re-raised as is
            raise self._translate(exc, what, ref, path) from None

    def _translate(self, exc: Exception, what: str, ref: str | None, path: str) -> Exception:
        import lakefs_sdk
        import urllib3
        from lakefs.exceptions import LakeFSException, ServerException

        where = self.uri(ref, path) if ref else f"lakefs://{self.repository}"
        # The wrapper's exceptions carry `status_code` and a parsed body; the SDK's `status`.
        status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
        if isinstance(exc, ServerException | lakefs_sdk.ApiException) and status:
            detail = _server_message(getattr(exc, "body", None)) or getattr(exc, "reason", "")
            if status == 401:
                return LakeFSError(
                    f"{what}: lakeFS at {self.endpoint} rejected the credentials of access key "
                    f"{self.access_key_id!r} (HTTP 401: {detail})",
                    status,
                )
            message = f"{what} failed on {where}: HTTP {status}: {detail}"
            if status == 404:
                return LakeFSNotFoundError(message, status)
            if status == 409:
                return LakeFSConflictError(message, status)
            return LakeFSError(message, status)
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            reason = getattr(exc, "reason", None) or exc
            return LakeFSError(
                f"{what}: cannot reach lakeFS at {self.endpoint} ({type(exc).__name__}: "
                f"{_strip_secret(str(reason), self.secret_access_key)})"
            )
        if isinstance(exc, LakeFSException):
            return LakeFSError(
                f"{what} failed on {where}: {_strip_secret(str(exc), self.secret_access_key)}"
            )
        return exc

    # -- repository and refs -------------------------------------------------------------------
    def ensure_repository(self) -> None:
        namespace = self.storage_namespace or f"local://{self.repository}"
        self._call(
            "create repository",
            lambda: self._repo().create(
                storage_namespace=namespace, default_branch=self.default_branch, exist_ok=True
            ),
        )

    def create_branch(
        self, branch: str, source_ref: str | None = None, exist_ok: bool = False
    ) -> str:
        """Create ``branch`` from any ref (default: the published branch); returns its head."""
        source = source_ref or self.default_branch
        created = self._call(
            f"create branch {branch!r} from {source!r}",
            lambda: self._repo().branch(branch).create(source, exist_ok=exist_ok),
            ref=branch,
        )
        return self._call("read branch head", lambda: created.get_commit().id, ref=branch)

    def delete_branch(self, branch: str, missing_ok: bool = True) -> None:
        try:
            self._call(
                f"delete branch {branch!r}",
                lambda: self._repo().branch(branch).delete(),
                ref=branch,
            )
        except LakeFSNotFoundError:
            if not missing_ok:
                raise

    def branch_exists(self, branch: str) -> bool:
        try:
            self._call("read branch", lambda: self._repo().branch(branch).get_commit(), ref=branch)
        except LakeFSNotFoundError:
            return False
        return True

    def list_branches(self) -> list[str]:
        return self._call("list branches", lambda: [b.id for b in self._repo().branches()])

    def resolve(self, ref: str) -> str:
        """The commit id a branch, tag or commit ref points at now."""
        return self._call("resolve ref", lambda: self._repo().ref(ref).get_commit().id, ref=ref)

    def get_commit(self, ref: str) -> CommitInfo:
        commit = self._call("read commit", lambda: self._repo().ref(ref).get_commit(), ref=ref)
        return _commit_info(commit)

    def log(
        self,
        ref: str,
        max_amount: int = 20,
        first_parent: bool = False,
        path: str | None = None,
    ) -> list[CommitInfo]:
        """Commits reachable from `ref`, newest first; `first_parent` follows only the commits
        made on the branch itself; `path` keeps only commits that changed that object."""
        extra: dict[str, Any] = {"first_parent": True} if first_parent else {}
        if path is not None:
            extra.update(objects=[path], limit=True)
        return self._call(
            "read log",
            lambda: [_commit_info(c)
                     for c in self._repo().ref(ref).log(max_amount=max_amount, **extra)],
            ref=ref,
            path=path or "",
        )

    # -- objects -------------------------------------------------------------------------------
    def put_bytes(
        self, branch: str, path: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        self._call(
            "upload object",
            lambda: (
                self._repo()
                .branch(branch)
                .object(path)
                .upload(data, mode="wb", content_type=content_type)
            ),
            ref=branch,
            path=path,
        )

    def get_bytes(self, ref: str, path: str) -> bytes:
        def read() -> bytes:
            with self._repo().ref(ref).object(path).reader(mode="rb") as handle:
                return handle.read()

        return self._call("read object", read, ref=ref, path=path)

    def put_frame(self, branch: str, path: str, frame: pl.DataFrame) -> int:
        """Write a polars frame as one parquet object; returns the bytes written."""
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd", statistics=True)
        data = buffer.getvalue()
        self.put_bytes(branch, path, data, content_type="application/vnd.apache.parquet")
        return len(data)

    def get_frame(self, ref: str, path: str) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self.get_bytes(ref, path)))

    def get_frames(self, ref: str, paths: list[str]) -> list[pl.DataFrame]:
        """Several parquet objects, fetched concurrently (each object is its own API call, so a
        batch range would otherwise pay the round trip once per object in sequence)."""
        return self._concurrently(lambda path: self.get_frame(ref, path), paths)

    def put_frames(self, branch: str, frames: dict[str, pl.DataFrame]) -> int:
        """Write several frames concurrently; returns the bytes written."""
        items = list(frames.items())
        return sum(self._concurrently(lambda item: self.put_frame(branch, *item), items))

    def _concurrently(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        if len(items) <= 1:
            return [fn(item) for item in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(self.io_threads, len(items))) as pool:
            return list(pool.map(fn, items))  # in order; the first error propagates

    def put_json(self, branch: str, path: str, value: Any) -> None:
        data = json.dumps(value, indent=2, sort_keys=True, default=str).encode()
        self.put_bytes(branch, path, data, content_type="application/json")

    def get_json(self, ref: str, path: str) -> Any:
        return json.loads(self.get_bytes(ref, path))

    def exists(self, ref: str, path: str) -> bool:
        return self._call(
            "stat object", lambda: self._repo().ref(ref).object(path).exists(), ref=ref, path=path
        )

    def content_version(self, ref: str, paths: list[str]) -> str:
        """A hash of the objects' lakeFS checksums: the same bytes give the same version on any
        commit (a commit id would be new on every run)."""
        import hashlib

        def stat(path: str) -> str:
            return self._call("stat object",
                              lambda: self._repo().ref(ref).object(path).stat().checksum,
                              ref=ref, path=path)

        sums = self._concurrently(stat, paths)
        return hashlib.sha256("\n".join(f"{p} {s}" for p, s in zip(paths, sums, strict=True))
                              .encode()).hexdigest()

    def list_objects(self, ref: str, prefix: str = "") -> list[str]:
        return self._call(
            "list objects",
            lambda: [o.path for o in self._repo().ref(ref).objects(prefix=prefix)],
            ref=ref,
            path=prefix,
        )

    def delete_object(self, branch: str, path: str) -> None:
        self._call(
            "delete object",
            lambda: self._repo().branch(branch).object(path).delete(),
            ref=branch,
            path=path,
        )

    # -- versions ------------------------------------------------------------------------------
    def commit(
        self,
        branch: str,
        message: str,
        metadata: dict[str, Any] | None = None,
        allow_empty: bool = False,
    ) -> str:
        """Commit staged changes on ``branch``; returns the commit id. With nothing staged and
        ``allow_empty`` false, returns the current head instead of failing."""
        if not allow_empty and not self.has_uncommitted_changes(branch):
            return self.resolve(branch)
        meta = {k: str(v) for k, v in (metadata or {}).items()}  # lakeFS metadata is str -> str
        ref = self._with_retries(
            f"commit on branch {branch!r}",
            lambda: (
                self._repo()
                .branch(branch)
                .commit(message=message, metadata=meta, allow_empty=allow_empty)
            ),
            ref=branch,
        )
        return ref.get_commit().id

    def has_uncommitted_changes(self, branch: str) -> bool:
        changes = self._call(
            "list uncommitted changes",
            lambda: next(iter(self._repo().branch(branch).uncommitted(max_amount=1)), None),
            ref=branch,
        )
        return changes is not None

    def diff(self, left_ref: str, right_ref: str, prefix: str = "") -> list[DiffEntry]:
        """What ``right_ref`` changed relative to ``left_ref`` (two-dot diff of the commits)."""

        def run() -> list[DiffEntry]:
            changes = self._repo().ref(left_ref).diff(right_ref, prefix=prefix, type="two_dot")
            return [DiffEntry(c.path, c.type, c.size_bytes) for c in changes]

        return self._call(f"diff {left_ref!r}..{right_ref!r}", run, ref=left_ref, path=prefix)

    def diff_since_base(self, source_ref: str, destination_branch: str | None = None,
                        max_amount: int = 1000) -> list[DiffEntry]:
        """What a merge of ``source_ref`` would bring (three-dot diff); empty when merged."""
        dest = destination_branch or self.default_branch
        return self._call(f"diff {dest!r}...{source_ref!r}", lambda: [
            DiffEntry(c.path, c.type, c.size_bytes) for c in self._repo().ref(dest).diff(
                source_ref, max_amount=max_amount, type="three_dot")], ref=source_ref)

    def merge(
        self,
        source_ref: str,
        destination_branch: str | None = None,
        message: str | None = None,
        metadata: dict[str, Any] | None = None,
        strategy: str | None = None,
    ) -> MergeResult:
        """Merge ``source_ref`` into the destination (default: main), retrying contended merges.

        A source with nothing new is not an error: the destination head comes back with
        ``merged=False``. A real content conflict raises :class:`LakeFSConflictError`, unless
        ``strategy`` ("source-wins" / "dest-wins") says which side wins it.
        """
        destination = destination_branch or self.default_branch
        pending = next(iter(self.diff_since_base(source_ref, destination, max_amount=1)), None)
        if pending is None:
            return MergeResult(self.resolve(destination), merged=False)
        meta = {k: str(v) for k, v in (metadata or {}).items()}
        commit_id = self._with_retries(
            f"merge {source_ref!r} into {destination!r}",
            lambda: (
                self._repo()
                .ref(source_ref)
                .merge_into(
                    destination,
                    message=message or f"Merge {source_ref} into {destination}",
                    metadata=meta,
                    **({"strategy": strategy} if strategy else {}),
                )
            ),
            ref=destination,
        )
        return MergeResult(commit_id, merged=True)

    def revert(self, branch: str, commit_ref: str, parent_number: int | None = None) -> str:
        """Add a commit on ``branch`` that undoes ``commit_ref``; merges need ``parent_number``
        (1 = undo what the merge brought in)."""
        if parent_number is None:
            parent_number = 1 if len(self.get_commit(commit_ref).parents) > 1 else 0
        reverted = self._with_retries(
            f"revert {commit_ref!r} on branch {branch!r}",
            lambda: self._repo().branch(branch).revert(commit_ref, parent_number=parent_number),
            ref=branch,
        )
        return reverted.id

    def create_tag(self, tag: str, ref: str, exist_ok: bool = False) -> str:
        created = self._call(
            f"create tag {tag!r} at {ref!r}",
            lambda: self._repo().tag(tag).create(ref, exist_ok=exist_ok),
            ref=ref,
        )
        return created.get_commit().id

    def delete_tag(self, tag: str, missing_ok: bool = True) -> None:
        try:
            self._call(f"delete tag {tag!r}", lambda: self._repo().tag(tag).delete(), ref=tag)
        except LakeFSNotFoundError:
            if not missing_ok:
                raise

    def list_tags(self) -> dict[str, str]:
        return self._call(
            "list tags", lambda: {t.id: t.get_commit().id for t in self._repo().tags()}
        )

    def reset_branch(self, branch: str, commit_ref: str) -> None:
        """Point ``branch`` at ``commit_ref`` (hard reset; uncommitted changes are dropped)."""
        api = self.client().sdk_client.experimental_api
        self._call(
            f"reset branch {branch!r} to {commit_ref!r}",
            lambda: api.hard_reset_branch(self.repository, branch, commit_ref, force=True),
            ref=branch,
        )

    # -- helpers -------------------------------------------------------------------------------
    def _with_retries(self, what: str, fn: Callable[[], T], ref: str | None = None) -> T:
        for attempt in range(1, self.merge_attempts + 1):
            try:
                return self._call(what, fn, ref=ref)
            except LakeFSError as error:
                if error.status not in _RETRYABLE_STATUSES or attempt == self.merge_attempts:
                    raise
                # Exponential backoff with jitter: contenders must not retry in lock-step.
                time.sleep(min(8.0, 0.2 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def temporary_branch(self, name: str, source_ref: str | None = None) -> Iterator[str]:
        """A branch that is deleted on exit, whatever happens."""
        self.create_branch(name, source_ref, exist_ok=True)
        try:
            yield name
        finally:
            self.delete_branch(name)


__all__ = [
    "CommitInfo",
    "DiffEntry",
    "LakeFSClient",
    "LakeFSConflictError",
    "LakeFSError",
    "LakeFSNotFoundError",
    "MergeResult",
]
