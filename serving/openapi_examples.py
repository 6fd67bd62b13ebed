"""Per-route error examples in the OpenAPI: each route's problem responses show a problem that route
really answers (its path as `instance`, a detail in the words the server uses), not one shared example.

`with_error_examples(app)` wraps `app.openapi` once; the schema is built and decorated on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from serving.problems import (
    BAD_UNIT,
    BODY_TIMEOUT,
    BODY_TOO_LARGE,
    INTERNAL,
    METHOD_NOT_ALLOWED,
    MODEL_UNAVAILABLE,
    NOT_AN_IMAGE,
    NOT_FOUND,
    PERSONAL_CLASSES,
    RATE_LIMITED,
    STALE_CGM,
    TIMEOUT,
    TOO_FEW_READINGS,
    UNAUTHORIZED,
    UNSUPPORTED_FORMAT,
    VALIDATION,
    ProblemType,
)

PROBLEM_JSON = "application/problem+json"
# What each status usually means on any route, with the detail the server writes.
BY_STATUS: dict[int, tuple[ProblemType, str]] = {
    401: (UNAUTHORIZED, "No API key in the X-API-Key header."),
    404: (NOT_FOUND, "No such page."),
    405: (METHOD_NOT_ALLOWED, "This route answers POST."),
    408: (BODY_TIMEOUT, "The request body did not arrive within MEALIMPACT_BODY_READ_TIMEOUT_S."),
    413: (BODY_TOO_LARGE, "The request body is larger than the server accepts (MEALIMPACT_MAX_BODY_BYTES)."),
    415: (UNSUPPORTED_FORMAT, "This file is a GIF; send JPEG, PNG, WebP or HEIC."),
    422: (VALIDATION, "body.cgm.readings: Field required"),
    429: (
        RATE_LIMITED,
        "This key has used its requests for this minute; retry after the Retry-After seconds.",
    ),
    500: (INTERNAL, "The server failed; the request id in the log says where."),
    503: (MODEL_UNAVAILABLE, "The food_recognizer model is not loaded yet; retry in a few seconds."),
    504: (TIMEOUT, "The request took longer than MEALIMPACT_REQUEST_TIMEOUT_S."),
}
# Where a route's most likely problem for a status is another one, or worded for that route.
BY_ROUTE: dict[tuple[str, int], tuple[ProblemType, str]] = {
    ("/v1/meals/recognize", 422): (
        NOT_AN_IMAGE,
        "The upload ends before the image does (a JPEG cut off at 632 bytes); send the photo file again.",
    ),
    ("/v1/meals/analyze", 422): (
        PERSONAL_CLASSES,
        "personal_classes is not valid JSON (line 1, column 2).",
    ),
    ("/v1/meals/impact", 422): (
        TOO_FEW_READINGS,
        "cgm covers 20 min before the meal; the model needs readings over the hour before it.",
    ),
    ("/v1/glucose/forecast", 422): (
        STALE_CGM,
        "The last CGM reading is 95 min old; a forecast needs one from the last 20 min. Send the latest readings.",
    ),
    ("/problems/{slug}", 404): (NOT_FOUND, "No problem type 'no-such-problem'; see /openapi.json."),
    ("/v1/models", 422): (
        VALIDATION,
        "query.lang: Extra inputs are not permitted: 'lang' is not a query parameter here; this route takes none",
    ),
    ("/v1/reports/agp", 422): (
        TOO_FEW_READINGS,
        "an AGP report needs at least 24 h of CGM readings, got 5.0 h (20 valid readings, one every 15 min) "
        "in the period; send a longer record (14 days are recommended)",
    ),
    ("/v1/reports/fhir", 422): (
        BAD_UNIT,
        "cgm.unit must be 'mg/dL' or 'mmol/L'",
    ),
}


def problem_example(path: str, status: int) -> dict[str, Any] | None:
    """The example problem body for `status` on route `path`, or None for a status with no example."""
    found = BY_ROUTE.get((path, status)) or BY_STATUS.get(status)
    if found is None:
        return None
    problem, detail = found
    return {"type": problem.uri, "title": problem.title, "status": status, "detail": detail, "instance": path}


def add_error_examples(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every problem+json response in `schema` its route's example (in place; returns it)."""
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {}).get(PROBLEM_JSON)
                if content is None or not status.isdigit():
                    continue
                example = problem_example(path, int(status))
                if example is not None:
                    content["example"] = example
    return schema


def with_error_examples(app: FastAPI) -> FastAPI:
    """Make `app.openapi()` return the schema with per-route error examples."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_examples(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
