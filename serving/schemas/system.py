"""Responses of the model-listing, health and Open Inference Protocol metadata routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_TENSOR_EXAMPLE: dict[str, Any] = {"name": "image", "datatype": "UINT8", "shape": [-1, 224, 224, 3]}


class TensorMetadata(BaseModel):
    name: str
    datatype: str = Field(description="Open Inference Protocol datatype: FP32, UINT8, BYTES ...")
    shape: list[int] = Field(description="-1 marks a variable dimension (the batch)")


class ModelInfo(BaseModel):
    name: str
    version: int
    platform: str
    sha256: str = Field(description="sha256 of the served model.onnx")
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    metadata: dict[str, Any] = Field(description="the ONNX file's metadata_props, JSON values decoded")


class ModelsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "models": [
                        {
                            "name": "food_recognizer",
                            "version": 1,
                            "platform": "onnxruntime_onnx",
                            "sha256": "9f2c…",
                            "inputs": [_TENSOR_EXAMPLE],
                            "outputs": [{"name": "carbs_g", "datatype": "FP32", "shape": [-1, 3]}],
                            "metadata": {"version": "1", "units": {"carbs_g": "g"}},
                        }
                    ]
                }
            ]
        }
    )

    models: list[ModelInfo]


class HealthResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str


class ReadinessResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ready", "waiting_for": []},
                {"status": "starting", "waiting_for": ["glucose_response"]},
            ]
        }
    )

    status: str = Field(
        description="'ready', 'starting' (models warming up) or 'unavailable' (model tier down)"
    )
    waiting_for: list[str] = Field(
        description="models not yet warmed up, and 'remote model tier' when it is down"
    )


class ProblemDescription(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/bad-unit",
                    "title": "Unknown unit",
                    "status": 422,
                    "description": "Glucose unit must be mg/dL or mmol/L.",
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    description: str


class ServerMetadata(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "mealimpact", "version": "0.1.0", "extensions": ["binary_tensor_data"]}]
        }
    )

    name: str
    version: str
    extensions: list[str]


class ModelMetadata(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "food_recognizer",
                    "versions": ["1"],
                    "platform": "onnxruntime_onnx",
                    "inputs": [_TENSOR_EXAMPLE],
                    "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 101]}],
                }
            ]
        }
    )

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerLive(BaseModel):
    """`GET /v2/health/live` of the Open Inference Protocol."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"live": True}]})

    live: bool


class ServerReady(BaseModel):
    """`GET /v2/health/ready` of the Open Inference Protocol."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"ready": True}]})

    ready: bool


class V2Error(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"error": "model food_recognizer takes inputs ['image']"}]}
    )

    error: str


class ModelRef(BaseModel):
    name: str
    version: str


class Problem(BaseModel):
    """RFC 9457 problem details; `type` resolves to a description of the cause."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/too-few-cgm-readings",
                    "title": "Not enough CGM readings",
                    "status": 422,
                    "detail": "the meal needs CGM readings covering the hour before it",
                    "instance": "/v1/meals/impact",
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, Any]] | None = Field(default=None, description="validation errors: where and why")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for routes answering problem+json with these statuses."""
    return {
        status: {
            "model": Problem,
            "description": "problem details (RFC 9457)",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
