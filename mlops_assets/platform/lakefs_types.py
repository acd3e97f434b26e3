"""What the lakeFS client returns and raises: plain values, free of the SDK's types."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class LakeFSError(RuntimeError):
    """A lakeFS operation failed; the message names the operation and the location."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LakeFSNotFoundError(LakeFSError):
    pass


class LakeFSConflictError(LakeFSError):
    pass


@dataclass(frozen=True)
class MergeResult:
    commit_id: str
    merged: bool  # False when the source had nothing to merge (no empty merge commit is made)


@dataclass(frozen=True)
class DiffEntry:
    path: str
    type: str  # added | removed | changed | conflict
    size_bytes: int | None


@dataclass(frozen=True)
class CommitInfo:
    id: str
    message: str
    metadata: dict[str, str]
    parents: list[str]
    creation_date: int



def _commit_info(commit: Any) -> CommitInfo:
    return CommitInfo(
        id=commit.id,
        message=commit.message,
        metadata=dict(commit.metadata or {}),
        parents=list(commit.parents or []),
        creation_date=int(commit.creation_date),
    )


def _server_message(body: Any) -> str:
    if not body:
        return ""
    if isinstance(body, dict):
        return str(body.get("message", ""))
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    try:
        return str(json.loads(body).get("message", body))
    except (ValueError, AttributeError):
        return str(body)[:300]


def _strip_secret(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
