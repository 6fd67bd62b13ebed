"""The deadline of the request being served, so CPU work stops when its request has timed out.

`RequestGuard` sets it for each request; `ModelExecutor` carries it onto its pool threads and checks
it before each piece of work and each model call. Work queued or running for a request that has
already been answered 504 ends at its next check instead of holding a thread from the next request,
and a model call running at the deadline is told to stop (`at_deadline`: ONNX Runtime's terminate flag).
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import threading
import time
from collections.abc import Callable

_deadline_s: contextvars.ContextVar[float | None] = contextvars.ContextVar("request_deadline_s", default=None)


class DeadlineExceededError(TimeoutError):
    """The request this work belongs to has run out of time; the work is abandoned."""


def set_deadline(timeout_s: float) -> contextvars.Token[float | None]:
    """Start the clock for the current request (time.monotonic based)."""
    return _deadline_s.set(time.monotonic() + timeout_s)


def reset_deadline(token: contextvars.Token[float | None]) -> None:
    _deadline_s.reset(token)


def remaining_s() -> float | None:
    """Seconds left for the current request, or None outside a request."""
    deadline_s = _deadline_s.get()
    return None if deadline_s is None else deadline_s - time.monotonic()


def check_deadline() -> None:
    """Raise DeadlineExceededError when the current request's time is up (a no-op outside a request)."""
    left_s = remaining_s()
    if left_s is not None and left_s <= 0:
        raise DeadlineExceededError("the request's time ran out; its work was abandoned")


class _Watchdog:
    """One daemon thread that runs callbacks at their deadlines (instead of a timer thread per call)."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, list[Callable[[], None] | None]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, at_s: float, callback: Callable[[], None]) -> list[Callable[[], None] | None]:
        slot: list[Callable[[], None] | None] = [callback]
        with self._wake:
            heapq.heappush(self._due, (at_s, next(self._order), slot))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadline-watchdog", daemon=True)
                self._thread.start()
            self._wake.notify()
        return slot

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._due and self._due[0][2][0] is None:
                    heapq.heappop(self._due)  # cancelled
                if not self._due:
                    self._wake.wait()
                    continue
                wait_s = self._due[0][0] - time.monotonic()
                if wait_s > 0:
                    self._wake.wait(wait_s)
                    continue
                callback = heapq.heappop(self._due)[2][0]
            if callback is not None:
                callback()


_watchdog = _Watchdog()


class DeadlineCall:
    """`with at_deadline(stop):` calls `stop()` if the current request's deadline passes inside the block."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self._slot: list[Callable[[], None] | None] | None = None

    def __enter__(self) -> DeadlineCall:
        deadline_s = _deadline_s.get()
        if deadline_s is not None:
            self._slot = _watchdog.schedule(deadline_s, self._stop)
        return self

    def __exit__(self, *_: object) -> None:
        if self._slot is not None:
            self._slot[0] = None  # cancelled: the watchdog drops it


at_deadline = DeadlineCall
