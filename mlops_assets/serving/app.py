"""The HTTP surface (Starlette): thin handlers over :class:`ServingState`.

POST /v1/predict   {"rows": [{...}, ...], "key": optional sticky key} -> scores, model version,
                   its data commit, request id (422 naming field and rule on a bad row)
POST /v1/feedback  {"labels": [{"request_id": ..., "row": 0, "label": 1}, ...]}
POST /v1/flush     land every buffered window now
GET  /v1/status    what is served (versions, split, traffic, last verdict)
GET  /healthz      the process answers;   GET /readyz   a champion is loaded
GET  /metrics      Prometheus text
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mlops_assets.serving.rows import RowsError
from mlops_assets.serving.service import NotReady, ServingState

log = logging.getLogger("mlops_assets.serving")
MAX_BODY = 16 * 1024 * 1024
# A body up to this size (about 200 rows) is handled on the event loop when its work is plain
# Python (well under a few ms, less than the hop to a worker thread and back costs under load);
# polars work (a spec with a features.function) goes to a worker thread, where it runs
# without the GIL.
INLINE_BODY = 32 * 1024


def _unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"error": "unprocessable", "detail": errors}, status_code=422)


async def _json_body(request: Request) -> tuple[Any, int]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise RowsError([])
    return json.loads(raw), len(raw)


def _endpoint(state: ServingState, name: str, fn: Callable[[Any], dict[str, Any]],
              plain: Callable[[], bool] = lambda: True):
    metrics = state.metrics

    async def handler(request: Request) -> Response:
        start = time.perf_counter()
        status, version = 200, ""
        try:
            try:
                body, size = await _json_body(request)
            except (ValueError, UnicodeDecodeError) as error:
                status = 422
                return _unprocessable([{"field": "body", "rule": "json", "rows": [],
                                        "message": f"body: not JSON ({error})"}])
            except RowsError:
                status = 413
                return JSONResponse({"error": "body too large"}, status_code=413)
            try:
                inline = size <= INLINE_BODY and plain()
                result = fn(body) if inline else await run_in_threadpool(fn, body)
            except RowsError as error:
                status = 422
                metrics.inc("errors_total", "errors by kind", kind="validation", endpoint=name)
                return _unprocessable([e.to_dict() for e in error.errors])
            except NotReady as error:
                status = 503
                return JSONResponse({"error": str(error)}, status_code=503)
            except Exception as error:  # logged by the state as unscored
                status = 500
                metrics.inc("errors_total", "errors by kind", kind="unscored", endpoint=name)
                log.exception("%s failed", name)
                return JSONResponse({"error": f"cannot score: {type(error).__name__}"},
                                    status_code=500)
            version = str(result.get("model_version", ""))
            return JSONResponse(result)
        finally:
            metrics.observe(time.perf_counter() - start, endpoint=name)
            metrics.inc("requests_total", "requests by endpoint, status and model version",
                        endpoint=name, status=str(status), model_version=version)

    return handler


def build_app(state: ServingState, manage_lifecycle: bool = True) -> Starlette:
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        snap = state.snapshot
        if snap is None:
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True, "champion": snap.champion.version})

    async def metrics(_request: Request) -> Response:
        return PlainTextResponse(state.metrics.render(),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    async def status(_request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(state.status))

    async def flush(_request: Request) -> Response:
        return JSONResponse({"flushed": await run_in_threadpool(state.flush)})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if manage_lifecycle:
            await run_in_threadpool(state.start)
        try:
            yield
        finally:
            if manage_lifecycle:
                await run_in_threadpool(state.stop)

    return Starlette(routes=[
        Route("/v1/predict", _endpoint(state, "predict", state.predict, lambda: bool(
            state.snapshot is not None and state.snapshot.features.plain)), methods=["POST"]),
        Route("/v1/feedback", _endpoint(state, "feedback", state.feedback), methods=["POST"]),
        Route("/v1/flush", flush, methods=["POST"]),
        Route("/v1/status", status),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ], lifespan=lifespan)
