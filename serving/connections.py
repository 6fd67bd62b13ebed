"""Connection hygiene under uvicorn: a header-read timeout and a cap on open connections.

uvicorn's protocols have a keep-alive timeout but none for a request whose headers never finish (a
client sending a header line every few seconds held its connection for good), and they accept every
connection. `guarded_protocol` returns uvicorn's protocol (httptools where installed, else h11) with
both: a request whose headers are not complete `header_read_timeout_s` after the connection opened,
or after the request's first byte on a kept-alive connection, has its connection closed; a
connection beyond `max_connections` is answered 503 and closed at once. The body-read timeout lives
in `serving.admission`; the header size limit is uvicorn's own (h11_max_incomplete_event_size for h11).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)
_FULL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: 30\r\n\r\nToo many connections; retry.\r\n"
)


class _HeaderDeadline:
    """The timer and the connection cap shared by both protocol classes."""

    header_read_timeout_s: float
    max_connections: int
    connections: set[Any]
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    _header_timer: asyncio.TimerHandle | None = None

    def _admit(self, transport: asyncio.Transport) -> bool:
        if len(self.connections) <= self.max_connections:
            self._arm_header_timer()
            return True
        logger.warning("refused a connection: the limit of %d is reached", self.max_connections)
        transport.write(_FULL)
        transport.close()
        return False

    def _headers_pending(self) -> bool:
        raise NotImplementedError

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.header_read_timeout_s, self._on_header_timeout)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self._headers_pending() and not self.transport.is_closing():
            logger.warning(
                "closed a connection: request headers incomplete after %g s", self.header_read_timeout_s
            )
            self.transport.close()


class _GuardedH11(_HeaderDeadline, H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._admit(transport)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._headers_pending():
            self._disarm_header_timer()  # the headers are in
        elif self._header_timer is None:
            self._arm_header_timer()  # a kept-alive connection began its next request

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _headers_pending(self) -> bool:
        return bool(self.conn.their_state is h11.IDLE)


def _guarded_httptools() -> type | None:
    if importlib.util.find_spec("httptools") is None:
        return None
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class _GuardedHttpTools(_HeaderDeadline, HttpToolsProtocol):
        _awaiting_headers = True

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._admit(transport)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._awaiting_headers = True
            if self._header_timer is None:
                self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._awaiting_headers = False
            self._disarm_header_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def _headers_pending(self) -> bool:
            return self._awaiting_headers

    return _GuardedHttpTools


def guarded_protocol(header_read_timeout_s: float, max_connections: int, http: str = "auto") -> type:
    """uvicorn's protocol class with these limits (pass as `uvicorn.Config(http=...)`).

    `http`: "auto" (httptools where installed, as uvicorn chooses), "httptools" or "h11".
    """
    base = _guarded_httptools() if http in ("auto", "httptools") else None
    if base is None and http == "httptools":
        raise ValueError("httptools is not installed")
    limits = {"header_read_timeout_s": header_read_timeout_s, "max_connections": max_connections}
    return type("GuardedProtocol", (base or _GuardedH11,), limits)


def uvicorn_options(settings: Any) -> dict[str, Any]:
    """The uvicorn.Config keywords that carry the connection settings (see serving/README.md)."""
    return {
        "http": guarded_protocol(
            settings.header_read_timeout_s, settings.max_connections, settings.http_parser
        ),
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }
