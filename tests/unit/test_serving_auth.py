"""Named hashed API keys and the per-caller token bucket."""

from __future__ import annotations

import pytest

from serving import auth
from serving.auth import ApiKeys, RateLimiter, key_digest, new_key_entry, parse_key_entry, retry_after_header


def test_a_fresh_key_entry_holds_only_the_digest() -> None:
    key, entry = new_key_entry("ward-7")
    name, digest = parse_key_entry(entry)
    assert name == "ward-7" and key not in entry and digest.hex() == key_digest(key)
    assert ApiKeys.from_entries((entry,)).identify(key) == "ward-7"


def test_no_keys_means_keys_are_off() -> None:
    assert not ApiKeys.from_entries(()).enabled


def test_the_bucket_allows_its_burst_then_says_how_long_to_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    limiter = RateLimiter(per_minute=6, burst=2)  # one token every 10 s
    assert [limiter.acquire("a"), limiter.acquire("a")] == [0.0, 0.0]
    wait_s = limiter.acquire("a")
    assert wait_s == pytest.approx(10.0) and retry_after_header(wait_s) == "10"
    assert limiter.acquire("b") == 0.0  # every caller has its own bucket
    clock[0] += 10.0
    assert limiter.acquire("a") == 0.0


def test_idle_callers_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(auth, "_MAX_TRACKED_CALLERS", 3)
    limiter = RateLimiter(per_minute=60, burst=1)
    for caller in "abcde":
        limiter.acquire(caller)
    clock[0] += 5.0  # every bucket refilled
    limiter.acquire("f")
    assert set(limiter._buckets) == {"f"}
