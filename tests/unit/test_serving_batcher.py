"""The micro-batcher with a stand-in backend: batches grow while the model is busy, rows go back to their owners."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from serving.backends import ModelExecutor
from serving.batcher import MicroBatcher
from serving.metrics import ServingMetrics


class HeldBackend:
    """Doubles its input; the first call blocks until released, like a model busy with a batch."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.rows_per_call: list[int] = []

    def infer(
        self, model_name: str, inputs: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        self.rows_per_call.append(int(inputs["x"].shape[0]))
        if len(self.rows_per_call) == 1:
            self.release.wait(timeout=10)
        return {"y": inputs["x"] * 2}

    def close(self) -> None:
        pass


def run_spaced_requests(backend: HeldBackend, count: int, max_batch: int) -> list[dict[str, np.ndarray]]:
    executor = ModelExecutor(backend, threads=1, metrics=ServingMetrics())

    async def scenario() -> list[dict[str, np.ndarray]]:
        batcher = MicroBatcher(executor, "m", max_batch=max_batch, max_wait_s=0.001, concurrent_batches=1)
        batcher.start()
        try:
            first = asyncio.create_task(batcher.infer({"x": np.array([[0.0]], np.float32)}))
            await asyncio.sleep(0.05)  # the first call now holds the only slot
            rest = []
            for k in range(1, count):
                rest.append(asyncio.create_task(batcher.infer({"x": np.array([[float(k)]], np.float32)})))
                await asyncio.sleep(0.02)  # arrivals spaced far beyond the 1 ms batch window
            backend.release.set()
            return await asyncio.gather(first, *rest)
        finally:
            await batcher.stop()

    try:
        return asyncio.run(scenario())
    finally:
        executor.close()


def test_requests_arriving_while_the_model_is_busy_share_the_next_call() -> None:
    backend = HeldBackend()
    results = run_spaced_requests(backend, count=6, max_batch=8)
    assert backend.rows_per_call == [1, 5]
    assert [float(r["y"][0, 0]) for r in results] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def test_a_busy_model_still_gets_at_most_max_batch_rows() -> None:
    backend = HeldBackend()
    results = run_spaced_requests(backend, count=8, max_batch=3)
    assert backend.rows_per_call[0] == 1 and max(backend.rows_per_call) == 3
    assert sum(backend.rows_per_call) == 8
    assert [r["y"].shape for r in results] == [(1, 1)] * 8


def run_simultaneous_requests(backend: HeldBackend, count: int, max_batch: int) -> None:
    """`count` requests arrive in the same instant at an idle batcher with no batch window (the default)."""
    executor = ModelExecutor(backend, threads=1, metrics=ServingMetrics())

    async def scenario() -> None:
        batcher = MicroBatcher(executor, "m", max_batch=max_batch, max_wait_s=0.0, concurrent_batches=1)
        batcher.start()
        try:
            await asyncio.gather(
                *(batcher.infer({"x": np.array([[float(k)]], np.float32)}) for k in range(count))
            )
        finally:
            await batcher.stop()

    try:
        asyncio.run(scenario())
    finally:
        executor.close()


def test_requests_already_waiting_when_the_slot_frees_go_in_one_call() -> None:
    backend = HeldBackend()
    backend.release.set()
    run_simultaneous_requests(backend, count=5, max_batch=8)
    assert backend.rows_per_call == [5]  # without draining the queue: [2, 3]


def test_draining_the_queue_respects_max_batch() -> None:
    backend = HeldBackend()
    backend.release.set()
    run_simultaneous_requests(backend, count=7, max_batch=3)
    assert backend.rows_per_call == [3, 3, 1]


def test_a_lone_request_is_sent_at_once_without_a_batch_window() -> None:
    backend = HeldBackend()
    backend.release.set()
    run_simultaneous_requests(backend, count=1, max_batch=8)
    assert backend.rows_per_call == [1]
