"""A read-only lakeFS client on the standard library, for the registry's read commands.

`mlops-assets models list/show/history` read a few JSON objects, tags and main's log. The full
:class:`~mlops_assets.platform.lakefs_client.LakeFSClient` imports the generated lakeFS SDK
(about 1 s) and polars; this reader implements just the calls those commands make, with the
same signatures, return types and errors, over the lakeFS REST API (``/api/v1``), so the
commands answer in a fraction of a second. Writes always go through the full client.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from mlops_assets.platform.lakefs_types import (
    CommitInfo,
    LakeFSError,
    LakeFSNotFoundError,
    _server_message,
    _strip_secret,
)

_PAGE = 1000


@dataclass
class LakeFSReader:
    endpoint: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    repository: str = "mlops-assets"
    default_branch: str = "main"
    request_timeout_seconds: float = 30.0

    def uri(self, ref: str, path: str = "") -> str:
        return f"lakefs://{self.repository}/{ref}/{path}".rstrip("/")

    # -- plumbing ------------------------------------------------------------------------------
    def _request(self, what: str, route: str, query: dict[str, Any] | None = None,
                 ref: str | None = None, path: str = "", method: str = "GET") -> bytes:
        repo = urllib.parse.quote(self.repository, safe="")
        url = f"{self.endpoint.rstrip('/')}/api/v1/repositories/{repo}{route}"
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        token = base64.b64encode(f"{self.access_key_id}:{self.secret_access_key}".encode())
        request = urllib.request.Request(url, method=method,
                                         headers={"Authorization": f"Basic {token.decode()}"})
        where = self.uri(ref, path) if ref else f"lakefs://{self.repository}"
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout_seconds) as reply:
                return reply.read()
        except urllib.error.HTTPError as error:
            detail = _server_message(error.read()) if method != "HEAD" else ""
            if error.code == 401:
                raise LakeFSError(f"{what}: lakeFS at {self.endpoint} rejected the credentials "
                                  f"of access key {self.access_key_id!r} (HTTP 401: {detail})",
                                  401) from None
            message = f"{what} failed on {where}: HTTP {error.code}: {detail or error.reason}"
            if error.code == 404:
                raise LakeFSNotFoundError(message, 404) from None
            raise LakeFSError(message, error.code) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise LakeFSError(f"{what}: cannot reach lakeFS at {self.endpoint} "
                              f"({type(error).__name__}: "
                              f"{_strip_secret(str(reason), self.secret_access_key)})") from None

    def _json(self, what: str, route: str, **kwargs: Any) -> Any:
        return json.loads(self._request(what, route, **kwargs))

    def _pages(self, what: str, route: str, query: dict[str, Any], ref: str | None = None,
               limit: int | None = None) -> list[dict]:
        """Every result of a paginated listing (`pagination.next_offset` as `after`)."""
        out: list[dict] = []
        after = ""
        while limit is None or len(out) < limit:
            page = self._json(what, route, query={**query, "amount": _PAGE, "after": after},
                              ref=ref)
            out += page.get("results") or []
            pagination = page.get("pagination") or {}
            if not pagination.get("has_more"):
                break
            after = pagination.get("next_offset", "")
        return out if limit is None else out[:limit]

    @staticmethod
    def _ref(ref: str) -> str:
        return urllib.parse.quote(ref, safe="")

    # -- refs ----------------------------------------------------------------------------------
    def get_commit(self, ref: str) -> CommitInfo:
        commit = self._json("read commit", f"/commits/{self._ref(ref)}", ref=ref)
        return _commit(commit)

    def resolve(self, ref: str) -> str:
        return self._json("resolve ref", f"/commits/{self._ref(ref)}", ref=ref)["id"]

    def log(self, ref: str, max_amount: int = 20, first_parent: bool = False,
            path: str | None = None) -> list[CommitInfo]:
        query: dict[str, Any] = {"first_parent": "true" if first_parent else None}
        if path is not None:
            query.update(objects=path, limit="true")
        commits = self._pages("read log", f"/refs/{self._ref(ref)}/commits", query, ref=ref,
                              limit=max_amount)
        return [_commit(c) for c in commits]

    def list_tags(self) -> dict[str, str]:
        return {t["id"]: t["commit_id"] for t in self._pages("list tags", "/tags", {})}

    # -- objects -------------------------------------------------------------------------------
    def list_objects(self, ref: str, prefix: str = "") -> list[str]:
        found = self._pages("list objects", f"/refs/{self._ref(ref)}/objects/ls",
                            {"prefix": prefix}, ref=ref)
        return [o["path"] for o in found if o.get("path_type", "object") == "object"]

    def get_bytes(self, ref: str, path: str) -> bytes:
        return self._request("read object", f"/refs/{self._ref(ref)}/objects",
                             query={"path": path}, ref=ref, path=path)

    def get_json(self, ref: str, path: str) -> Any:
        return json.loads(self.get_bytes(ref, path))

    def exists(self, ref: str, path: str) -> bool:
        try:
            self._request("stat object", f"/refs/{self._ref(ref)}/objects/stat",
                          query={"path": path}, ref=ref, path=path)
        except LakeFSNotFoundError:
            return False
        return True


def _commit(commit: dict) -> CommitInfo:
    return CommitInfo(
        id=commit["id"],
        message=commit.get("message", ""),
        metadata=dict(commit.get("metadata") or {}),
        parents=list(commit.get("parents") or []),
        creation_date=int(commit.get("creation_date", 0)),
    )
