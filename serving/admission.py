"""Admission of a request before its body is read: API key, rate limit, memory budget, body-read time.

Pure ASGI middleware inside `RequestGuard` (which logs and counts what this refuses). Probes and the
documentation stay open; everything else needs a configured key when there are keys. The key's name
(never the key) goes into the request's state for the audit line.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.auth import WWW_AUTHENTICATE, ApiKeys, RateLimiter, retry_after_header
from serving.metrics import ServingMetrics
from serving.problems import (
    BODY_TIMEOUT,
    OVERLOADED,
    PROBLEM_PATH,
    RATE_LIMITED,
    UNAUTHORIZED,
    ProblemType,
    send_problem,
)
from serving.routes.docs import ASSET_PREFIX
from serving.settings import Settings

# Liveness and readiness probes, the API description and the problem pages: no key, no budget.
OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/openapi.json", "/docs", "/redoc"}
)
_OVERLOAD_RETRY_S = 5.0
# A refusal leaves the body unread: the connection closes rather than carry it into the next request.
_CLOSE = (b"connection", b"close")
_STATM = Path("/proc/self/statm")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """This process's resident memory (Linux /proc), or None where it cannot be read."""
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return None


def is_open(path: str) -> bool:
    # The documentation pages' own scripts and styles (serving/routes/docs.py) load without a key too.
    return path in OPEN_PATHS or path.startswith((PROBLEM_PATH, ASSET_PREFIX + "/"))


class Admission:
    def __init__(self, app: ASGIApp, settings: Settings, metrics: ServingMetrics) -> None:
        self.app = app
        self.keys = ApiKeys.from_entries(settings.api_keys)
        self.metrics = metrics
        self.max_rss_bytes = settings.max_rss_mb * 1024 * 1024
        self.body_read_timeout_s = settings.body_read_timeout_s
        self.limiter = (
            RateLimiter(settings.rate_limit_per_min, settings.rate_limit_burst)
            if settings.rate_limit_per_min
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS" or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        caller = None
        if self.keys.enabled:
            given = next((v for k, v in scope.get("headers", []) if k == b"x-api-key"), None)
            caller = self.keys.identify(given.decode("latin-1") if given is not None else None)
            if caller is None:
                await self._refuse(
                    scope,
                    send,
                    UNAUTHORIZED,
                    "Send a valid API key in the X-API-Key header.",
                    [(b"www-authenticate", WWW_AUTHENTICATE.encode()), _CLOSE],
                )
                return
            state["api_key"] = caller
        if self.limiter is not None:
            client = scope.get("client") or ("unknown", 0)
            wait_s = self.limiter.acquire(caller if caller is not None else f"address {client[0]}")
            if wait_s > 0:
                await self._refuse(
                    scope,
                    send,
                    RATE_LIMITED,
                    "Too many requests for this key; slow down.",
                    [(b"retry-after", retry_after_header(wait_s).encode()), _CLOSE],
                )
                return
        if self.max_rss_bytes:
            rss = resident_bytes()
            if rss is not None and rss > self.max_rss_bytes:
                await self._refuse(
                    scope,
                    send,
                    OVERLOADED,
                    "The server is at its memory budget; retry shortly.",
                    [(b"retry-after", retry_after_header(_OVERLOAD_RETRY_S).encode()), _CLOSE],
                )
                return
        await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        timed_out = False
        body_done = False
        # The whole body, not each chunk, must arrive in time: a byte every few seconds is no upload.
        body_deadline_s = asyncio.get_running_loop().time() + self.body_read_timeout_s

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:  # later calls wait for a disconnect; no body deadline applies to them
                return await receive()
            try:
                async with asyncio.timeout_at(body_deadline_s):
                    message = await receive()
            except TimeoutError:
                # The app sees the client gone (as with an oversized body); its answer is replaced below.
                timed_out = body_done = True
                return {"type": "http.disconnect"}
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            if not timed_out:
                await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise
            # else: the app's reaction to the "disconnect" (e.g. ClientDisconnect) is replaced by the 408
        if timed_out:
            detail = f"The body did not arrive within {self.body_read_timeout_s:g} s."
            await self._refuse(scope, send, BODY_TIMEOUT, detail, [_CLOSE])

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        problem: ProblemType,
        detail: str,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.metrics.rejected.labels(problem.slug).inc()
        await send_problem(scope, send, problem, detail, headers)
