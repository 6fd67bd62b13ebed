"""Liveness, readiness, Prometheus metrics and the documentation of each problem type."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.dependencies import RuntimeDep
from serving.problems import NOT_FOUND, PROBLEM_PATH, PROBLEMS, RequestRefusedError
from serving.schemas.system import HealthResponse, ProblemDescription, ReadinessResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthResponse, summary="Liveness: the process answers")
async def healthz() -> HealthResponse:
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadinessResponse,
    summary="Readiness: every model loaded and answered a warm-up call",
    responses={503: {"model": ReadinessResponse, "description": "still starting"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    waiting = sorted(set(runtime.models) - runtime.warmed_up)
    body = ReadinessResponse(status="ready" if runtime.ready else "starting", waiting_for=waiting)
    return JSONResponse(body.model_dump(), status_code=200 if runtime.ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get(PROBLEM_PATH + "{slug}", response_model=ProblemDescription, summary="What a problem type means")
async def problem_type(slug: str) -> ProblemDescription:
    problem = PROBLEMS.get(slug)
    if problem is None:
        raise RequestRefusedError(NOT_FOUND, f"No problem type {slug!r}; known: {sorted(PROBLEMS)}.")
    return ProblemDescription(
        type=problem.uri, title=problem.title, status=problem.status, description=problem.description
    )
