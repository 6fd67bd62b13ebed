"""The FastAPI application: `create_app(settings)`; models load in the lifespan, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from serving.dependencies import require_api_key
from serving.metrics import ServingMetrics
from serving.problems import install_problem_handlers
from serving.request_guard import RequestGuard
from serving.routes import glucose, meals, models, reports, system, v2
from serving.runtime import open_runtime
from serving.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    metrics = ServingMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = await open_runtime(settings, metrics)
        yield
        await app.state.runtime.close()

    app = FastAPI(title="mealimpact", version="0.1.0", lifespan=lifespan, description=__doc__)
    for router in (meals.router, glucose.router, reports.router, models.router, v2.router):
        app.include_router(router, dependencies=[Depends(require_api_key)])
    app.include_router(system.router)
    install_problem_handlers(app, metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"]
        )
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        timeout_s=settings.request_timeout_s,
        metrics=metrics,
    )
    return app
