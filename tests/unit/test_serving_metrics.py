"""StageClock: consecutive laps of one request land in the stage histogram, each with its own duration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from serving import metrics as metrics_module
from serving.metrics import RECOGNIZE_STAGES, ServingMetrics, StageClock


def _sample(metrics: ServingMetrics, stage: str, suffix: str) -> float:
    value = metrics.registry.get_sample_value(
        f"mealimpact_recognize_stage_seconds_{suffix}", {"stage": stage}
    )
    return 0.0 if value is None else value


@pytest.fixture
def readings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """perf_counter as StageClock sees it: the next values it will read, in order."""
    values: list[float] = []
    monkeypatch.setattr(metrics_module.time, "perf_counter", lambda: values.pop(0))
    yield values


def test_laps_split_the_time_since_arrival_between_stages(readings: list[float]) -> None:
    metrics = ServingMetrics()
    clock = StageClock(metrics, started_s=10.0)  # the request arrived at 10 s
    readings.extend([10.5, 12.0, 12.25])
    clock.lap("receive")
    clock.lap("decode")
    clock.lap("resize")
    assert [_sample(metrics, s, "sum") for s in ("receive", "decode", "resize")] == [0.5, 1.5, 0.25]
    assert [_sample(metrics, s, "count") for s in RECOGNIZE_STAGES] == [1, 1, 1, 0, 0, 0]


def test_without_an_arrival_time_the_first_lap_starts_at_the_clock(readings: list[float]) -> None:
    metrics = ServingMetrics()
    readings.extend([3.0, 3.75])
    clock = StageClock(metrics)
    clock.lap("receive")
    assert _sample(metrics, "receive", "sum") == 0.75
