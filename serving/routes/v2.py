"""The Open Inference Protocol (KServe V2) over every model in the repository, JSON and binary tensors."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from mealimpact.model_repository.loading import RepositoryModel
from serving.dependencies import RuntimeDep
from serving.problems import NOT_FOUND, RequestRefusedError
from serving.readiness import runtime_ready
from serving.routes.models import tensor_metadata
from serving.runtime import ServingRuntime
from serving.schemas.system import ModelMetadata, ServerLive, ServerMetadata, ServerReady, V2Error
from serving.v2_protocol import (
    HEADER_LENGTH,
    InferenceProtocolError,
    InferRequestMessage,
    InferResponseMessage,
    check_inputs,
    decode_request,
    encode_response,
)

router = APIRouter(
    prefix="/v2",
    tags=["open inference protocol"],
    responses={400: {"model": V2Error}, 404: {"model": V2Error}},
)
# The protocol's health probes: open even when the server has API keys (probes send none).
health_router = APIRouter(prefix="/v2/health", tags=["open inference protocol"])
SERVER_NAME = "mealimpact"
EXTENSIONS = ["binary_tensor_data"]


def _inline_refs(schema: Any, definitions: dict[str, Any]) -> Any:
    # The OpenAPI document needs the request schema without `$defs` references into pydantic's own output.
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline_refs(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
        return {k: _inline_refs(v, definitions) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline_refs(v, definitions) for v in schema]
    return schema


_REQUEST_SCHEMA = InferRequestMessage.model_json_schema()
_INFER_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline_refs(_REQUEST_SCHEMA, _REQUEST_SCHEMA.get("$defs", {}))},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "example": '{"inputs":[{"name":"image","shape":[1,224,224,3],"datatype":"UINT8",'
                '"parameters":{"binary_data_size":150528}}]}<150528 raw bytes>',
                "description": f"binary-tensor extension: JSON header of {HEADER_LENGTH} bytes, then the tensors",
            },
        },
    }
}


def _model(runtime: ServingRuntime, name: str, model_version: str | None) -> RepositoryModel:
    model = runtime.models.get(name)
    if model is None or (model_version is not None and model_version != str(model.version)):
        served = f" (serves version {model.version})" if model is not None else ""
        raise RequestRefusedError(
            NOT_FOUND, f"model {name} version {model_version or 'any'} not found{served}"
        )
    return model


@router.get("", response_model=ServerMetadata, summary="Server metadata")
async def server_metadata() -> ServerMetadata:
    try:
        server_version = version("mealimpact")
    except PackageNotFoundError:
        server_version = "unknown"
    return ServerMetadata(name=SERVER_NAME, version=server_version, extensions=EXTENSIONS)


@health_router.get("/live", response_model=ServerLive, summary="Server liveness")
async def server_live() -> ServerLive:
    return ServerLive(live=True)


@health_router.get(
    "/ready",
    response_model=ServerReady,
    summary="Server readiness (every model warmed up, the remote model tier answering)",
    responses={503: {"model": ServerReady, "description": "not ready"}},
)
async def server_ready(runtime: RuntimeDep) -> JSONResponse:
    ready = await runtime_ready(runtime)
    return JSONResponse(ServerReady(ready=ready).model_dump(), status_code=200 if ready else 503)


async def _metadata(runtime: ServingRuntime, name: str, model_version: str | None) -> ModelMetadata:
    model = _model(runtime, name, model_version)
    return ModelMetadata(
        name=model.name,
        versions=[str(model.version)],
        platform=model.platform,
        inputs=[tensor_metadata(s) for s in model.inputs],
        outputs=[tensor_metadata(s) for s in model.outputs],
    )


@router.get("/models/{model_name}", response_model=ModelMetadata, summary="Model metadata")
async def model_metadata(runtime: RuntimeDep, model_name: str) -> ModelMetadata:
    return await _metadata(runtime, model_name, None)


@router.get(
    "/models/{model_name}/versions/{model_version}", response_model=ModelMetadata, summary="Model metadata"
)
async def model_version_metadata(runtime: RuntimeDep, model_name: str, model_version: str) -> ModelMetadata:
    return await _metadata(runtime, model_name, model_version)


@router.get("/models/{model_name}/ready", summary="Model readiness")
async def model_ready(runtime: RuntimeDep, model_name: str) -> Response:
    model = _model(runtime, model_name, None)
    return Response(status_code=200 if model.name in runtime.warmed_up else 503)


@router.get("/models/{model_name}/versions/{model_version}/ready", summary="Model version readiness")
async def model_version_ready(runtime: RuntimeDep, model_name: str, model_version: str) -> Response:
    model = _model(runtime, model_name, model_version)
    return Response(status_code=200 if model.name in runtime.warmed_up else 503)


@router.get("/models/{model_name}/config", summary="Model configuration (Triton extension)")
async def model_config(runtime: RuntimeDep, model_name: str) -> JSONResponse:
    config = _model(runtime, model_name, None).config
    return JSONResponse(
        {
            "name": config.name,
            "platform": config.platform,
            "max_batch_size": config.max_batch_size,
            "input": [
                {"name": t.name, "data_type": t.data_type, "dims": list(t.dims)} for t in config.inputs
            ],
            "output": [
                {"name": t.name, "data_type": t.data_type, "dims": list(t.dims)} for t in config.outputs
            ],
        }
    )


async def _infer(runtime: ServingRuntime, request: Request, name: str, model_version: str | None) -> Response:
    model = _model(runtime, name, model_version)
    request.state.models = runtime.model_versions(model.name)
    decoded = decode_request(await request.body(), request.headers.get(HEADER_LENGTH))
    check_inputs(model.name, model.inputs, decoded.inputs, model.config.max_batch_size)
    known = {s.name for s in model.outputs}
    unknown = [o for o in decoded.outputs or () if o not in known]
    if unknown:
        raise InferenceProtocolError(f"model {model.name} has no output(s) {unknown}; it has {sorted(known)}")
    outputs = model.api_arrays(await runtime.infer(model.name, model.graph_arrays(decoded.inputs)))
    body, headers = encode_response(model.name, str(model.version), decoded, outputs)
    return Response(body, headers=headers)


_INFER_ROUTE: dict[str, Any] = {
    "response_model": InferResponseMessage,
    "openapi_extra": _INFER_OPENAPI,
    "summary": "Run the model (JSON tensors or the binary-tensor extension)",
}


@router.post("/models/{model_name}/infer", **_INFER_ROUTE)
async def infer(runtime: RuntimeDep, request: Request, model_name: str) -> Response:
    return await _infer(runtime, request, model_name, None)


@router.post("/models/{model_name}/versions/{model_version}/infer", **_INFER_ROUTE)
async def infer_version(
    runtime: RuntimeDep, request: Request, model_name: str, model_version: str
) -> Response:
    return await _infer(runtime, request, model_name, model_version)
