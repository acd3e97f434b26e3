"""A request timeout for lakefs-sdk, which has no client-wide setting (checked in 1.86).

Its REST client passes ``timeout=None`` (block forever) to urllib3 unless a call carries
``_request_timeout``, and the ``lakefs`` wrapper does not forward that argument on every call.
Without a timeout a stopped server hangs a run; with this one it fails in seconds."""

from __future__ import annotations

from typing import Any


def rest_client_with_timeout(configuration: Any, timeout: tuple[float, float]) -> Any:
    """The SDK's own REST client, with ``_request_timeout`` (connect, read) as the default."""
    from lakefs_sdk.rest import RESTClientObject

    class RESTClientWithTimeout(RESTClientObject):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            if not kwargs.get("_request_timeout"):
                kwargs["_request_timeout"] = timeout
            return super().request(*args, **kwargs)

    return RESTClientWithTimeout(configuration)
