"""Liveness, readiness, Prometheus metrics and the documentation of each problem type."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.dependencies import RuntimeDep, require_api_key
from serving.problems import NOT_FOUND, PROBLEM_PATH, PROBLEMS, RequestRefusedError
from serving.readiness import waiting_for
from serving.schemas.system import HealthResponse, ProblemDescription, ReadinessResponse, problem_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthResponse, summary="Liveness: the process answers")
async def healthz() -> HealthResponse:
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadinessResponse,
    summary="Readiness: every model loaded and answered a warm-up call; a remote model tier answers",
    responses={503: {"model": ReadinessResponse, "description": "still starting, or the model tier is down"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    waiting = await waiting_for(runtime)
    status = (
        "ready" if not waiting else "starting" if set(runtime.models) - runtime.warmed_up else "unavailable"
    )
    body = ReadinessResponse(status=status, waiting_for=waiting)
    return JSONResponse(body.model_dump(), status_code=503 if waiting else 200)


@router.get(
    "/metrics",
    summary="Prometheus metrics (process CPU, memory and open files included; a key when keys are set)",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        **problem_responses(401, 404),
    },
)
async def metrics(runtime: RuntimeDep, _: Annotated[None, Depends(require_api_key)]) -> Response:
    if runtime.settings.metrics_port:  # served on its own port instead (MEALIMPACT_METRICS_PORT)
        raise RequestRefusedError(NOT_FOUND, f"Metrics are served on port {runtime.settings.metrics_port}.")
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get(
    PROBLEM_PATH + "{slug}",
    response_model=ProblemDescription,
    summary="What a problem type means",
    responses=problem_responses(404),
)
async def problem_type(slug: str) -> ProblemDescription:
    problem = PROBLEMS.get(slug)
    if problem is None:
        raise RequestRefusedError(NOT_FOUND, f"No such problem type; known: {sorted(PROBLEMS)}.")
    return ProblemDescription(
        type=problem.uri, title=problem.title, status=problem.status, description=problem.description
    )
