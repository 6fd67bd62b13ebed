"""The outermost layer of every request: id, body-size limit, timeout, last-resort errors, metrics, log line.

The one log line per request (the audit trail, logger `serving.access`) carries the request id, route
template, model versions, the API key's name, latency and status, and nothing from the request itself:
no body, no query string, no path values but the model name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.deadline import reset_deadline, set_deadline
from serving.metrics import ServingMetrics
from serving.problems import (
    BODY_TOO_LARGE,
    INTERNAL,
    TIMEOUT,
    ProblemType,
    send_problem,
)

logger = logging.getLogger("serving.access")
REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BYTE_COUNT = re.compile(r"^[0-9]{1,18}$")


class RequestGuard:
    """Pure ASGI middleware (streams bodies untouched, unlike BaseHTTPMiddleware)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        timeout_s: float,
        metrics: ServingMetrics,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        self.routes = routes  # to name the route of a request refused before routing (401, 429, 503)
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given_id = headers.get(REQUEST_ID_HEADER, "")
        request_id = given_id if _SAFE_REQUEST_ID.match(given_id) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        scope["state"]["started_s"] = started  # perf_counter at arrival: routes time their own stages from it
        outcome: dict[str, Any] = {"status": 500, "response_started": False, "too_large": False}
        received_bytes = 0

        async def guarded_receive() -> Message:
            nonlocal received_bytes
            message = await receive()
            if message["type"] == "http.request":
                received_bytes += len(message.get("body", b""))
                if received_bytes > self.max_body_bytes:
                    # Stop reading; the app sees a disconnect and its answer is replaced below.
                    outcome["too_large"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if outcome["too_large"]:
                return
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                outcome["response_started"] = True
                message = {
                    **message,
                    "headers": [*message.get("headers", []), _header(REQUEST_ID_HEADER, request_id)],
                }
            await send(message)

        async def refuse(problem: ProblemType, detail: str) -> None:
            outcome["status"] = problem.status
            self.metrics.rejected.labels(problem.slug).inc()
            await self._send_problem(scope, send, problem, detail, request_id)

        declared = headers.get("content-length")
        try:
            if declared is not None and (
                not _BYTE_COUNT.match(declared) or int(declared) > self.max_body_bytes
            ):
                await refuse(BODY_TOO_LARGE, f"The body may be at most {self.max_body_bytes:,} bytes.")
            else:
                deadline = set_deadline(self.timeout_s)  # pool threads stop this request's work at it
                try:
                    async with asyncio.timeout(self.timeout_s):
                        await self.app(scope, guarded_receive, guarded_send)
                finally:
                    reset_deadline(deadline)
                if outcome["too_large"]:
                    await refuse(BODY_TOO_LARGE, f"The body may be at most {self.max_body_bytes:,} bytes.")
        except TimeoutError:
            if not outcome["response_started"]:
                await refuse(TIMEOUT, f"No answer within {self.timeout_s:g} s.")
        except Exception as err:  # the last resort: answer 500 and log the error's type, never its message
            logger.error("unhandled %s in request %s", type(err).__name__, request_id)
            if not outcome["response_started"]:
                await refuse(INTERNAL, INTERNAL.description)
        finally:
            self._record(scope, request_id, outcome["status"], time.perf_counter() - started)

    async def _send_problem(
        self, scope: Scope, send: Send, problem: ProblemType, detail: str, request_id: str
    ) -> None:
        headers = [_header(REQUEST_ID_HEADER, request_id), _header("connection", "close")]
        await send_problem(scope, send, problem, detail, headers)

    def _record(self, scope: Scope, request_id: str, status: int, latency_s: float) -> None:
        route = getattr(scope.get("route"), "path", None)
        if route is None:
            # FastAPI's own fixed-path pages (/openapi.json, /docs, /redoc) set an endpoint but no route.
            route = scope["path"] if "endpoint" in scope else self._route_template(scope)
        method = scope.get("method", "")
        self.metrics.requests.labels(route, method, str(status)).inc()
        self.metrics.request_seconds.labels(route, method).observe(latency_s)
        line = {
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "latency_ms": round(latency_s * 1000.0, 2),
            "models": scope.get("state", {}).get("models", ""),
            "key": scope.get("state", {}).get("api_key", ""),  # the key's configured name, never the key
        }
        logger.info(json.dumps(line, separators=(",", ":")))

    def _route_template(self, scope: Scope) -> str:
        for candidate in _flat(self.routes):
            if candidate.matches(scope)[0] is Match.FULL:
                return str(getattr(candidate, "path", "unmatched"))
        return "unmatched"


def _flat(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    # FastAPI wraps each included router; its routes carry their full paths (no include prefix here).
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _flat(inner.routes) if inner is not None else (route,)


def _header(name: str, value: str) -> tuple[bytes, bytes]:
    return name.encode("latin-1"), value.encode("latin-1")
