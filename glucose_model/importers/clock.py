"""Timestamps as CGM exports write them, to aware datetimes.

Dexcom Clarity and LibreView write local clock time without an offset; the importers take the
zone as an argument and default to UTC, saying so in the import report.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

# Dexcom: `2024-05-01T08:00:05` (Clarity web) or `2024-05-01 8:00:05` (some exports).
_ISO_LOCAL = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*$")
NO_OFFSET_NOTE = (
    "times in the file have no UTC offset and were read as UTC; pass tz= the zone the device was set to"
)


def parse_local_iso(text: str, tz: tzinfo | None) -> datetime:
    """`YYYY-MM-DD[T ]H:MM[:SS]` local clock time -> aware datetime in `tz` (UTC when None)."""
    match = _ISO_LOCAL.match(text)
    if match is None:
        raise ValueError(f"time {text!r} is not YYYY-MM-DDThh:mm:ss")
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
    return datetime(y, mo, d, h, mi, s, tzinfo=tz or UTC)


def parse_aware_iso(text: str) -> datetime:
    """ISO 8601 with an offset (`2024-05-01T08:00:00+02:00`, `...Z`); raises ValueError without one."""
    time = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if time.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset (add one, e.g. +02:00 or Z)")
    return time
