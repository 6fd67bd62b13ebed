"""Prometheus metrics of one app instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_STAGE_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0)
# Where a photo's time goes in /v1/meals/recognize and /analyze, in order (`make bench` prints them).
RECOGNIZE_STAGES = ("receive", "decode", "resize", "model", "postprocess", "json")


class ServingMetrics:
    """Request counts and latency per route, model inference time, batch sizes, rejections by reason."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mealimpact_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "mealimpact_request_duration_seconds",
            "HTTP request latency by route template",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.inference_seconds = Histogram(
            "mealimpact_model_inference_seconds",
            "Time of one model call (one batch) by model",
            ["model"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "mealimpact_model_batch_size",
            "Rows per model call by model",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.recognize_stage_seconds = Histogram(
            "mealimpact_recognize_stage_seconds",
            "Wall time of one stage of a photo request: receive (body and form parsing until the route "
            "runs), decode, resize, model (queue and batch wait included), postprocess, json",
            ["stage"],
            buckets=_STAGE_BUCKETS_S,
            registry=self.registry,
        )
        self.rejected = Counter(
            "mealimpact_rejected_requests_total",
            "Requests refused, by reason (problem type)",
            ["reason"],
            registry=self.registry,
        )


class StageClock:
    """Times the consecutive stages of one photo request into `recognize_stage_seconds`."""

    def __init__(self, metrics: ServingMetrics, started_s: float | None = None) -> None:
        self._histogram = metrics.recognize_stage_seconds
        self._last_s = time.perf_counter() if started_s is None else started_s

    def lap(self, stage: str) -> None:
        """The time since the previous lap (or the request's arrival) was spent in `stage`."""
        now_s = time.perf_counter()
        self._histogram.labels(stage).observe(now_s - self._last_s)
        self._last_s = now_s
