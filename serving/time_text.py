"""Which time strings pydantic reads as a number: the schema refuses them rather than guess their unit."""

from __future__ import annotations

import math
import re

# pydantic-core's datetime parsing (speedate) reads a string that is not an RFC 3339 date-time as a number
# when it is one: an integer that fits in 64 bits, or a finite decimal written with a point (an exponent
# may follow); no spaces, no `_`, not `1e9` (no point), `inf` or `nan`. It takes that number as Unix seconds
# in UTC, or as milliseconds beyond 2e10 in size.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_I64 = range(-(2**63), 2**63)
_I64_DIGITS = 19


def reads_as_number(text: str) -> bool:
    """True when pydantic would read `text`, given for a date-time, as a number of seconds or milliseconds
    (whether or not that number then lands in a valid year)."""
    if _INTEGER.fullmatch(text):
        # Any number of leading zeros; int() of the rest only (Python refuses int() of over 4300 digits).
        digits = text.lstrip("+-").lstrip("0") or "0"
        return len(digits) <= _I64_DIGITS and int(text[0] + digits if text[0] in "+-" else digits) in _I64
    return _DECIMAL.fullmatch(text) is not None and math.isfinite(float(text))
