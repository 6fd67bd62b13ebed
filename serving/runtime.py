"""What the app holds while it runs: the checked models, the backend, the predictors, readiness.

Built once in the lifespan; a missing or inconsistent model raises `ModelRepositoryError` here, which
stops start-up before the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort

from glucose_model.forecast import Forecaster, ForecastMetadataError
from glucose_model.impact import ResponseMetadataError, ResponsePredictor
from mealimpact.model_repository.config import numpy_dtype
from mealimpact.model_repository.layout import ModelRepositoryError, model_dirs
from mealimpact.model_repository.loading import RepositoryModel, load_model
from mealimpact.model_repository.sessions import session_options as model_session_options
from serving.backends import (
    InferenceBackend,
    LocalOnnxBackend,
    ModelBackendError,
    ModelExecutor,
    RemoteV2Backend,
)
from serving.batcher import MicroBatcher
from serving.metrics import ServingMetrics
from serving.settings import FOOD_RECOGNIZER, GLUCOSE_FORECAST, GLUCOSE_RESPONSE, Settings
from vision.metadata import ModelMetadataError
from vision.recognition import Recognizer

logger = logging.getLogger(__name__)
_WARM_UP_RETRY_S = 2.0


@dataclass
class ServingRuntime:
    settings: Settings
    metrics: ServingMetrics
    models: dict[str, RepositoryModel]
    executor: ModelExecutor
    batcher: MicroBatcher | None = None
    forecaster: Forecaster | None = None
    response_predictor: ResponsePredictor | None = None
    recognizer: Recognizer | None = None
    warmed_up: set[str] = field(default_factory=set)
    _warm_up_task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """Every model loaded and answered a warm-up call."""
        return self.warmed_up == set(self.models)

    def model_versions(self, *names: str) -> str:
        """`name:version` list for the request log line."""
        return ",".join(f"{n}:{self.models[n].version}" for n in names if n in self.models)

    async def infer(self, model_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One model call off the event loop (through the micro-batcher for the vision model)."""
        if self.batcher is not None and model_name == FOOD_RECOGNIZER:
            return await self.batcher.infer(inputs)
        return await self.executor.run(lambda: self.executor.infer(model_name, inputs))

    async def close(self) -> None:
        if self._warm_up_task is not None:
            self._warm_up_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm_up_task
        if self.batcher is not None:
            await self.batcher.stop()
        self.executor.close()


def warm_up_inputs(model: RepositoryModel) -> dict[str, np.ndarray]:
    """Zeros of batch 1 for every input (variable dimensions as 1)."""
    return {
        spec.name: np.zeros([1 if d == -1 else d for d in spec.shape], dtype=numpy_dtype(spec.datatype))
        for spec in model.inputs
    }


def session_options(settings: Settings) -> ort.SessionOptions:
    """ONNX Runtime options of every served model (the bench times the model with these too)."""
    return model_session_options(settings.intra_op_threads)


def _load_models(settings: Settings) -> tuple[dict[str, RepositoryModel], dict[str, ort.InferenceSession]]:
    options = session_options(settings)
    models, sessions = {}, {}
    for model_dir in model_dirs(settings.models_dir, settings.required_models):
        model, session = load_model(model_dir, settings.model_versions.get(model_dir.name), options)
        models[model.name], sessions[model.name] = model, session
    unknown = set(settings.model_versions) - set(models)
    if unknown:
        raise ModelRepositoryError(
            f"MEALIMPACT_MODEL_VERSIONS names models not in the repository: {sorted(unknown)}"
        )
    return models, sessions


def _backend(
    settings: Settings, models: dict[str, RepositoryModel], sessions: dict[str, ort.InferenceSession]
) -> InferenceBackend:
    url = settings.remote_backend_url
    if url is None:
        return LocalOnnxBackend(sessions)
    # The local files still describe the models (metadata, checks); the remote server runs them.
    sessions.clear()
    return RemoteV2Backend(url, models, settings.request_timeout_s, settings.model_backend_api_key)


def _warm_up_call(executor: ModelExecutor, model: RepositoryModel) -> None:
    if isinstance(executor.backend, RemoteV2Backend):
        executor.backend.check_serves(model)  # same inputs and outputs as the local files describe
    executor.backend.infer(model.name, model.graph_arrays(warm_up_inputs(model)))


async def _warm_up(runtime: ServingRuntime) -> None:
    while not runtime.ready:
        for name, model in runtime.models.items():
            if name in runtime.warmed_up:
                continue
            try:
                await runtime.executor.run(functools.partial(_warm_up_call, runtime.executor, model))
            except ModelBackendError as err:
                logger.warning("warm-up of %s failed (%s); retrying in %.0f s", name, err, _WARM_UP_RETRY_S)
                continue
            runtime.warmed_up.add(name)
        if not runtime.ready:
            await asyncio.sleep(_WARM_UP_RETRY_S)
    logger.info("all %d models answered their warm-up; ready", len(runtime.models))


async def open_runtime(settings: Settings, metrics: ServingMetrics) -> ServingRuntime:
    """Load and check every model, build the predictors, start the warm-up; raises ModelRepositoryError."""
    models, sessions = await asyncio.to_thread(_load_models, settings)
    backend = _backend(settings, models, sessions)
    executor = ModelExecutor(backend, settings.inference_threads, metrics)
    runtime = ServingRuntime(settings=settings, metrics=metrics, models=models, executor=executor)
    try:
        if GLUCOSE_FORECAST in models:
            runtime.forecaster = Forecaster(
                models[GLUCOSE_FORECAST].metadata, executor.infer_fn(GLUCOSE_FORECAST)
            )
        if GLUCOSE_RESPONSE in models:
            runtime.response_predictor = ResponsePredictor(
                models[GLUCOSE_RESPONSE].metadata, executor.infer_fn(GLUCOSE_RESPONSE)
            )
        if FOOD_RECOGNIZER in models:
            runtime.recognizer = Recognizer(
                models[FOOD_RECOGNIZER].metadata, executor.infer_fn(FOOD_RECOGNIZER)
            )
    except (ForecastMetadataError, ResponseMetadataError, ModelMetadataError) as err:
        executor.close()
        raise ModelRepositoryError(str(err)) from err
    if settings.batcher_enabled and FOOD_RECOGNIZER in models:
        runtime.batcher = MicroBatcher(
            executor,
            FOOD_RECOGNIZER,
            min(settings.batcher_max_batch, models[FOOD_RECOGNIZER].config.max_batch_size or 1),
            settings.batcher_max_wait_ms / 1000.0,
            settings.inference_threads,
        )
        runtime.batcher.start()
    runtime._warm_up_task = asyncio.get_running_loop().create_task(_warm_up(runtime))
    return runtime
