"""Wall-clock timing shared by the benches: the median of repeated calls after one warm-up call."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

REPEATS = 30


def median_s(run: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median seconds of `repeats` calls of `run`, after one untimed call."""
    run()  # warm-up: first calls allocate ORT arenas and caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
