"""Who is calling: named API keys held as sha256 digests, and a token-bucket rate limit per key.

Settings hold `name:sha256-hex` entries (`mealimpact api-key NAME` prints a fresh key and its entry),
so the configuration never contains a usable key; the name is what the audit line records.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

API_KEY_HEADER = "X-API-Key"
# RFC 9110 11.6.1: a 401 names the scheme the client should use.
WWW_AUTHENTICATE = f'ApiKey header="{API_KEY_HEADER}"'
# Callers remembered by the rate limiter; past this, idle (refilled) buckets are forgotten.
_MAX_TRACKED_CALLERS = 10_000
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9._-]{1,64}):(?P<digest>[0-9a-f]{64})$")


def key_digest(key: str) -> str:
    """The sha256 hex digest a settings entry holds for `key`."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key_entry(name: str) -> tuple[str, str]:
    """A fresh random key and its `name:digest` settings entry."""
    key = secrets.token_urlsafe(32)
    entry = f"{name}:{key_digest(key)}"
    parse_key_entry(entry)  # the name must be one the settings accept
    return key, entry


def parse_key_entry(entry: str) -> tuple[str, bytes]:
    """`name:sha256-hex` -> (name, digest bytes); ValueError naming the rule otherwise (never the entry)."""
    match = _ENTRY.match(entry)
    if match is None:
        raise ValueError(
            "each API key entry must be NAME:SHA256-HEX (64 lowercase hex digits; NAME of letters, digits, "
            "'.', '_' or '-'); `mealimpact api-key NAME` prints one"
        )
    return match["name"], bytes.fromhex(match["digest"])


@dataclass(frozen=True)
class ApiKeys:
    """The configured keys by name; `identify` compares digests in constant time against every entry."""

    digests: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_entries(cls, entries: tuple[str, ...]) -> ApiKeys:
        parsed = tuple(parse_key_entry(e) for e in entries)
        names = [name for name, _ in parsed]
        if len(set(names)) != len(names):
            raise ValueError("API key names must be unique")
        return cls(parsed)

    @property
    def enabled(self) -> bool:
        return bool(self.digests)

    def identify(self, given: str | None) -> str | None:
        """The name of the key sent, or None when it matches none."""
        digest = hashlib.sha256((given or "").encode("utf-8", "replace")).digest()
        found = None
        for name, allowed in self.digests:  # every entry is compared: the time does not say which was close
            if hmac.compare_digest(digest, allowed) and given:
                found = name
        return found


@dataclass
class RateLimiter:
    """A token bucket per caller: `per_minute` requests a minute, bursts up to `burst`."""

    per_minute: int
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # caller -> (tokens, at_s)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, caller: str) -> float:
        """0 when the request may go ahead, else the seconds until it may (for Retry-After)."""
        rate_per_s = self.per_minute / 60.0
        now_s = time.monotonic()
        with self._lock:
            if len(self._buckets) > _MAX_TRACKED_CALLERS:
                self._forget_idle(now_s, rate_per_s)
            tokens, at_s = self._buckets.get(caller, (float(self.burst), now_s))
            tokens = min(float(self.burst), tokens + (now_s - at_s) * rate_per_s)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now_s)
                return 0.0
            self._buckets[caller] = (tokens, now_s)
            return (1.0 - tokens) / rate_per_s

    def _forget_idle(self, now_s: float, rate_per_s: float) -> None:
        # A bucket that has refilled is the same as no bucket: dropping it changes no answer.
        full = [
            c
            for c, (tokens, at_s) in self._buckets.items()
            if tokens + (now_s - at_s) * rate_per_s >= self.burst
        ]
        for caller in full:
            del self._buckets[caller]


def retry_after_header(seconds: float) -> str:
    """Retry-After in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
