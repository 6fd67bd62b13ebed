"""The FastAPI application: `create_app(settings)`; models load in the lifespan, never at import."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import ProcessCollector, start_http_server

from serving.admission import Admission
from serving.dependencies import refuse_unknown_query_parameters, require_api_key
from serving.metrics import ServingMetrics
from serving.openapi_examples import with_error_examples
from serving.problems import install_problem_handlers
from serving.request_guard import RequestGuard
from serving.routes import docs, glucose, meals, models, reports, system, v2
from serving.runtime import open_runtime
from serving.schemas.system import V2Error, problem_responses
from serving.settings import Settings

# Libraries that log what they parse (Pillow: EXIF DateTime, Make, Model, ImageDescription at DEBUG;
# multipart: field names and parts) never write below WARNING, whatever MEALIMPACT_LOG_LEVEL says.
logger = logging.getLogger(__name__)
REQUEST_CONTENT_LOGGERS = ("PIL", "pillow_heif", "multipart", "python_multipart", "httpcore", "hpack")


def quiet_request_content_loggers() -> None:
    for name in REQUEST_CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    metrics = ServingMetrics()
    ProcessCollector(registry=metrics.registry)  # process CPU seconds, resident memory, open fds
    quiet_request_content_loggers()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for line in Settings.unknown_variables(os.environ):  # names only, never a value
            logger.warning(line)
        app.state.runtime = await open_runtime(settings, metrics)
        metrics_server = None
        if settings.metrics_port:
            metrics_server, _ = start_http_server(
                settings.metrics_port, settings.metrics_host, registry=metrics.registry
            )
        yield
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        await app.state.runtime.close()

    # /docs and /redoc come from serving/routes/docs.py: assets served here, not from a CDN.
    app = FastAPI(
        title="mealimpact",
        version="0.1.0",
        lifespan=lifespan,
        description=__doc__,
        docs_url=None,
        redoc_url=None,
    )
    # Refused before routing (serving.admission): no key, over the rate limit, over the memory budget.
    refusals = (401, 429, 503)
    # The API routes refuse query parameters they do not define (422 on /v1, 400 on /v2, documented on
    # every route: GET /v1/models has no other 422); probes, metrics and docs take any.
    checks = [Depends(require_api_key), Depends(refuse_unknown_query_parameters)]
    for router in (meals.router, glucose.router, reports.router, models.router):
        app.include_router(router, dependencies=checks, responses=problem_responses(*refusals, 422))
    app.include_router(v2.router, dependencies=checks, responses={s: {"model": V2Error} for s in refusals})
    app.include_router(system.router)
    app.include_router(docs.router)
    app.include_router(v2.health_router)
    install_problem_handlers(app, metrics)
    # Innermost of the three: CORS answers preflights before the key check; the guard logs every refusal.
    app.add_middleware(Admission, settings=settings, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"]
        )
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        timeout_s=settings.request_timeout_s,
        metrics=metrics,
        routes=app.router.routes,
    )
    build = app.openapi
    app.openapi = lambda: meals.close_form_schemas(build())  # type: ignore[method-assign]
    return with_error_examples(app)
