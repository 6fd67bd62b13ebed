"""Typed dependencies of the routes (`Annotated` aliases, so tests swap them with dependency_overrides).

All `async def`: they only read app state, and FastAPI runs a plain `def` dependency on its thread pool,
a thread hop per dependency per request (about 1.5 ms of CPU per photo request here, `make bench`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from pydantic import BaseModel

from glucose_model.forecast import Forecaster
from glucose_model.impact import ResponsePredictor
from serving.auth import API_KEY_HEADER, WWW_AUTHENTICATE
from serving.problems import MODEL_UNAVAILABLE, UNAUTHORIZED, RequestRefusedError
from serving.runtime import ServingRuntime
from serving.schemas.closed import EXTRA_FORBIDDEN, unknown_query_message
from serving.settings import Settings
from vision.recognition import Recognizer

_api_key = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="Required when the server has API keys"
)


async def get_runtime(request: Request) -> ServingRuntime:
    runtime: ServingRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServingRuntime, Depends(get_runtime)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def require_api_key(
    request: Request, settings: SettingsDep, key: Annotated[str | None, Security(_api_key)] = None
) -> None:
    """The key is checked before the body is read, by `serving.admission.Admission`; this dependency
    documents the header in the OpenAPI description and refuses anything that reached a route unchecked."""
    if settings.api_keys and not request.scope.get("state", {}).get("api_key"):
        raise RequestRefusedError(
            UNAUTHORIZED,
            f"Send a valid API key in the {API_KEY_HEADER} header.",
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )


def _query_names(dependant: Dependant) -> Iterator[str]:
    for field in dependant.query_params:
        model = field.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):  # a query parameter model
            yield from (f.alias or name for name, f in model.model_fields.items())
        else:
            yield field.alias
    for inner in dependant.dependencies:
        yield from _query_names(inner)


def query_parameters(route: APIRoute) -> tuple[str, ...]:
    """The query parameters a route defines, its dependencies' included (as the client spells them);
    looked up only for a request that sends some."""
    return tuple(dict.fromkeys(_query_names(route.dependant)))


async def refuse_unknown_query_parameters(request: Request) -> None:
    """A query parameter the route does not define is refused as an unknown body key is (422 problem on
    /v1, 400 on /v2, `extra_forbidden` at ("query", name)), not ignored: `?lang=de` or a misspelt switch
    would otherwise change nothing and the client would not know. Probes, metrics and docs stay open."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    known = query_parameters(route) if isinstance(route, APIRoute) else ()
    errors = [
        {
            "type": EXTRA_FORBIDDEN,
            "loc": ("query", name),
            "msg": unknown_query_message(name, known),
            "input": None,  # never the value sent
        }
        for name in dict.fromkeys(request.query_params)
        if name not in known
    ]
    if errors:
        raise RequestValidationError(errors)


async def get_forecaster(runtime: RuntimeDep) -> Forecaster:
    if runtime.forecaster is None:
        raise RequestRefusedError(
            MODEL_UNAVAILABLE, "The glucose forecast model is not loaded on this server."
        )
    return runtime.forecaster


ForecasterDep = Annotated[Forecaster, Depends(get_forecaster)]


async def get_response_predictor(runtime: RuntimeDep) -> ResponsePredictor:
    if runtime.response_predictor is None:
        raise RequestRefusedError(MODEL_UNAVAILABLE, "The meal response model is not loaded on this server.")
    return runtime.response_predictor


ResponsePredictorDep = Annotated[ResponsePredictor, Depends(get_response_predictor)]


async def get_recognizer(runtime: RuntimeDep) -> Recognizer:
    if runtime.recognizer is None:
        raise RequestRefusedError(
            MODEL_UNAVAILABLE, "The food recognition model is not loaded on this server."
        )
    return runtime.recognizer


RecognizerDep = Annotated[Recognizer, Depends(get_recognizer)]


async def get_optional_response_predictor(runtime: RuntimeDep) -> ResponsePredictor | None:
    """The response model when the server has it (the reports say so when it does not)."""
    return runtime.response_predictor


OptionalPredictorDep = Annotated[ResponsePredictor | None, Depends(get_optional_response_predictor)]
