"""The deadline of the request being served, so CPU work stops when its request has timed out.

`RequestGuard` sets it for each request; `ModelExecutor` carries it onto its pool threads and checks
it before each piece of work and each model call. Work queued or running for a request that has
already been answered 504 ends at its next check instead of holding a thread from the next request.
"""

from __future__ import annotations

import contextvars
import time

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
