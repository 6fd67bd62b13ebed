"""Where model calls run: in-process ONNX Runtime, or a remote Open Inference Protocol (V2) server.

Both are synchronous and thread-safe; `ModelExecutor` runs them off the event loop in a bounded pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import httpx
import numpy as np
import onnxruntime as ort

from mealimpact.model_repository.loading import RepositoryModel
from serving.deadline import DeadlineExceededError, at_deadline, check_deadline
from serving.metrics import ServingMetrics
from serving.v2_protocol import HEADER_LENGTH, InferenceProtocolError, decode_response, encode_request

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class ModelBackendError(RuntimeError):
    """A model call failed in the backend (remote server down, model refused the inputs)."""


class InferenceBackend(Protocol):
    """Runs one named model on a batch of named arrays."""

    def infer(
        self, model_name: str, inputs: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


class LocalOnnxBackend:
    """ONNX Runtime sessions in this process (one per model; `run` is thread-safe)."""

    def __init__(self, sessions: Mapping[str, ort.InferenceSession]) -> None:
        self._sessions = dict(sessions)

    def infer(
        self, model_name: str, inputs: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        session = self._sessions[model_name]
        names = list(output_names) if output_names is not None else [o.name for o in session.get_outputs()]
        options = ort.RunOptions()
        try:
            # At the request's deadline ONNX Runtime stops between nodes instead of finishing the call.
            with at_deadline(lambda: setattr(options, "terminate", True)):
                values = session.run(names, dict(inputs), options)
        except Exception as err:  # ORT's errors (bad shapes, kernel failures) share no public base class
            if options.terminate:
                raise DeadlineExceededError(f"model {model_name} stopped at the request's deadline") from err
            raise ModelBackendError(f"model {model_name} failed: {type(err).__name__}") from err
        return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}

    def close(self) -> None:
        self._sessions.clear()


class RemoteV2Backend:
    """A Triton, KServe or mealimpact server reached over HTTP with the binary-tensor extension."""

    def __init__(
        self,
        base_url: str,
        models: Mapping[str, RepositoryModel],
        timeout_s: float,
        api_key: str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._client = (
            client
            if client is not None
            else httpx.Client(base_url=base_url, timeout=timeout_s, headers=headers)
        )
        self._models = dict(models)

    def infer(
        self, model_name: str, inputs: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        model = self._models[model_name]
        # The wire carries the shapes config.pbtxt declares; callers here see the ONNX graph's shapes.
        body, headers = encode_request(model.api_arrays(inputs), output_names)
        path = f"/v2/models/{model_name}/versions/{model.version}/infer"
        try:
            response = self._client.post(path, content=body, headers=headers)
        except httpx.HTTPError as err:
            raise ModelBackendError(
                f"model server unreachable for {model_name}: {type(err).__name__}"
            ) from err
        if response.status_code != 200:
            raise ModelBackendError(f"model server answered {response.status_code} for {model_name}")
        try:
            return model.graph_arrays(decode_response(response.content, response.headers.get(HEADER_LENGTH)))
        except InferenceProtocolError as err:
            raise ModelBackendError(
                f"model server sent an unreadable response for {model_name}: {err}"
            ) from err

    def check_serves(self, model: RepositoryModel) -> None:
        """The remote server must serve the same inputs and outputs as the local repository describes."""
        try:
            response = self._client.get(f"/v2/models/{model.name}/versions/{model.version}")
        except httpx.HTTPError as err:
            raise ModelBackendError(f"model server unreachable: {type(err).__name__}") from err
        if response.status_code != 200:
            raise ModelBackendError(
                f"model server does not serve {model.name} version {model.version} ({response.status_code})"
            )
        remote = response.json()
        for section, specs in (("inputs", model.inputs), ("outputs", model.outputs)):
            local = sorted((s.name, s.datatype, len(s.shape)) for s in specs)
            served = sorted((t["name"], t["datatype"], len(t["shape"])) for t in remote.get(section, []))
            if local != served:
                raise ModelBackendError(f"model server's {model.name} {section} {served} differ from {local}")

    def server_ready(self, timeout_s: float) -> bool:
        """Whether the remote server answers its readiness probe now (for /readyz)."""
        try:
            return self._client.get("/v2/health/ready", timeout=timeout_s).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()


class ModelExecutor:
    """A bounded thread pool for model calls (and the numpy work around them), with metrics."""

    def __init__(self, backend: InferenceBackend, threads: int, metrics: ServingMetrics) -> None:
        self.backend = backend
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="inference")
        self._metrics = metrics

    def infer(
        self, model_name: str, inputs: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Synchronous, for code already on a pool thread (e.g. the glucose predictors)."""
        check_deadline()  # each model call is a point where a timed-out request's work stops
        started = time.perf_counter()
        outputs = self.backend.infer(model_name, inputs, output_names)
        self._metrics.inference_seconds.labels(model_name).observe(time.perf_counter() - started)
        rows = next(iter(inputs.values())).shape
        self._metrics.batch_size.labels(model_name).observe(rows[0] if rows else 1)
        return outputs

    def infer_fn(self, model_name: str) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
        """The `InferFn` the glucose predictors take: one model, every output."""
        return lambda inputs: self.infer(model_name, inputs)

    async def run(self, work: Callable[[], _T]) -> _T:
        """Run blocking work on the pool without holding the event loop.

        The request's deadline travels with the work (a copied context): work still queued when its
        request has timed out does not start, and running work stops at its next model call.
        """
        context = contextvars.copy_context()

        def guarded() -> _T:
            check_deadline()
            return work()

        return await asyncio.get_running_loop().run_in_executor(self._pool, context.run, guarded)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.backend.close()
