"""StageClock: consecutive laps of one request land in the stage histogram, each with its own duration."""

from __future__ import annotations

import time

from serving.metrics import RECOGNIZE_STAGES, ServingMetrics, StageClock


def _sample(metrics: ServingMetrics, stage: str, suffix: str) -> float:
    value = metrics.registry.get_sample_value(
        f"mealimpact_recognize_stage_seconds_{suffix}", {"stage": stage}
    )
    return 0.0 if value is None else value


def test_laps_split_the_time_since_arrival_between_stages() -> None:
    metrics = ServingMetrics()
    arrived_s = time.perf_counter() - 0.050  # the request arrived 50 ms ago
    clock = StageClock(metrics, arrived_s)
    clock.lap("receive")
    time.sleep(0.02)
    clock.lap("decode")
    clock.lap("resize")
    receive_s, decode_s, resize_s = (_sample(metrics, s, "sum") for s in ("receive", "decode", "resize"))
    assert receive_s >= 0.050
    assert 0.02 <= decode_s < receive_s  # its own 20 ms, not the time since arrival
    assert 0 <= resize_s < 0.02
    assert [_sample(metrics, s, "count") for s in RECOGNIZE_STAGES] == [1, 1, 1, 0, 0, 0]


def test_without_an_arrival_time_the_first_lap_starts_at_the_clock() -> None:
    metrics = ServingMetrics()
    clock = StageClock(metrics)
    clock.lap("receive")
    assert 0 <= _sample(metrics, "receive", "sum") < 0.01
