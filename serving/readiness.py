"""Readiness: every model loaded and warmed up, and, with a remote model tier, that tier answering now.

The remote probe is cached for a moment so frequent probes do not become a load on the model tier.
"""

from __future__ import annotations

import asyncio
import time
import weakref

from serving.backends import RemoteV2Backend
from serving.runtime import ServingRuntime

REMOTE_TIER = "remote model tier"
_REMOTE_PROBE_TIMEOUT_S = 2.0
_REMOTE_PROBE_CACHE_S = 2.0
_last_probe: weakref.WeakKeyDictionary[RemoteV2Backend, tuple[float, bool]] = weakref.WeakKeyDictionary()


async def _remote_ready(backend: RemoteV2Backend) -> bool:
    now_s = time.monotonic()
    cached = _last_probe.get(backend)
    if cached is not None and now_s - cached[0] < _REMOTE_PROBE_CACHE_S:
        return cached[1]
    ready = await asyncio.to_thread(backend.server_ready, _REMOTE_PROBE_TIMEOUT_S)
    _last_probe[backend] = (time.monotonic(), ready)
    return ready


async def waiting_for(runtime: ServingRuntime) -> list[str]:
    """What the server still waits for: models not warmed up, and the remote tier when it does not answer."""
    waiting = sorted(set(runtime.models) - runtime.warmed_up)
    backend = runtime.executor.backend
    if isinstance(backend, RemoteV2Backend) and not await _remote_ready(backend):
        waiting.append(REMOTE_TIER)
    return waiting


async def runtime_ready(runtime: ServingRuntime) -> bool:
    return not await waiting_for(runtime)
