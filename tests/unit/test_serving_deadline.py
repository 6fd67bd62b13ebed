"""The request deadline: carried onto pool threads, checked before each piece of work and model call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

import numpy as np
import onnxruntime as ort
import pytest

from serving.backends import LocalOnnxBackend, ModelExecutor
from serving.deadline import (
    DeadlineExceededError,
    at_deadline,
    check_deadline,
    remaining_s,
    reset_deadline,
    set_deadline,
)
from serving.metrics import ServingMetrics


class SlowBackend:
    """Each call takes `call_s` and records how much of its request's time was left when it started."""

    def __init__(self, call_s: float) -> None:
        self.call_s = call_s
        self.time_left_s: list[float | None] = []

    def infer(
        self, model_name: str, inputs: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        left_s = remaining_s()
        self.time_left_s.append(left_s)
        time.sleep(self.call_s)
        return {"time_left_s": np.array([np.nan if left_s is None else left_s])}

    def close(self) -> None:
        pass


def test_outside_a_request_there_is_no_deadline() -> None:
    assert remaining_s() is None
    check_deadline()


def test_an_expired_deadline_raises_a_timeout() -> None:
    token = set_deadline(-1.0)
    try:
        with pytest.raises(DeadlineExceededError) as caught:
            check_deadline()
        assert isinstance(caught.value, TimeoutError)  # answered 504 like any request timeout
    finally:
        reset_deadline(token)


def test_work_with_many_model_calls_stops_at_the_first_call_after_its_request_timed_out() -> None:
    backend = SlowBackend(call_s=0.2)
    executor = ModelExecutor(backend, threads=1, metrics=ServingMetrics())

    def many_calls() -> None:  # e.g. a report predicting a curve for each logged meal
        for _ in range(10):
            executor.infer("m", {"x": np.zeros((1, 1), np.float32)})

    async def request() -> None:
        token = set_deadline(0.5)
        try:
            async with asyncio.timeout(0.5):
                await executor.run(many_calls)
        finally:
            reset_deadline(token)

    with pytest.raises(TimeoutError):
        asyncio.run(request())
    time.sleep(1.0)  # the pool thread would go on calling for another 1.5 s without the check
    executor.close()
    assert 1 <= len(backend.time_left_s) < 10
    assert all(left is not None and left > 0 for left in backend.time_left_s), backend.time_left_s


def test_each_request_keeps_its_own_deadline_on_the_pool() -> None:
    backend = SlowBackend(call_s=0.0)
    executor = ModelExecutor(backend, threads=2, metrics=ServingMetrics())

    async def request(timeout_s: float) -> float:
        token = set_deadline(timeout_s)
        try:
            outputs = await executor.run(lambda: executor.infer("m", {"x": np.zeros((1, 1), np.float32)}))
            return float(outputs["time_left_s"][0])
        finally:
            reset_deadline(token)

    async def both() -> list[float]:
        return list(await asyncio.gather(request(100.0), request(1000.0)))

    short, long = asyncio.run(both())
    executor.close()
    assert 90 < short < 100 < 990 < long


def _slow_session(size: int = 1000, layers: int = 30) -> ort.InferenceSession:
    """A chain of `layers` (size x size) matrix products: seconds of work at one thread."""
    onnx = pytest.importorskip("onnx")
    helper = onnx.helper
    weight = onnx.numpy_helper.from_array(np.eye(size, dtype=np.float32), name="w")
    nodes = [
        helper.make_node("MatMul", ["x" if k == 0 else f"h{k}", "w"], [f"h{k + 1}"]) for k in range(layers)
    ]
    nodes.append(helper.make_node("Identity", [f"h{layers}"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [size, size])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every product
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def test_a_model_call_running_at_the_deadline_is_stopped_not_finished() -> None:
    backend = LocalOnnxBackend({"slow": _slow_session()})
    x = np.ones((1000, 1000), np.float32)
    token = set_deadline(0.2)
    try:
        with pytest.raises(DeadlineExceededError, match="stopped at the request's deadline"):
            backend.infer("slow", {"x": x})
    finally:
        reset_deadline(token)
    # Outside a request nothing is scheduled and the same call runs to its end.
    small = LocalOnnxBackend({"slow": _slow_session(size=8, layers=3)})
    np.testing.assert_allclose(small.infer("slow", {"x": np.ones((8, 8), np.float32)})["y"], 1.0)


def test_the_watchdog_calls_back_once_when_the_deadline_passes_inside_the_block() -> None:
    fired: list[str] = []
    token = set_deadline(0.05)
    try:
        with at_deadline(lambda: fired.append("stop")):
            time.sleep(0.5)
    finally:
        reset_deadline(token)
    assert fired == ["stop"]
