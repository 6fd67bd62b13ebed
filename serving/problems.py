"""Every error the API can answer, mapped to HTTP in this one place.

`/v1` answers RFC 9457 `application/problem+json` with a type URI per cause (documented at that URI);
`/v2` answers the Open Inference Protocol's `{"error": "..."}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import Scope, Send

from glucose_model.records import InsufficientCgmError, RecordError
from serving.backends import ModelBackendError
from serving.deadline import DeadlineExceededError
from serving.metrics import ServingMetrics
from serving.v2_protocol import InferenceProtocolError
from vision.decode import ImageDecodeError, ImageTooLargeError, UnsupportedImageFormatError
from vision.fewshot import FewShotError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_PATH = "/problems/"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    title: str
    status: int
    description: str  # what the client should do: served at the type URI

    @property
    def uri(self) -> str:
        return PROBLEM_PATH + self.slug


BODY_TOO_LARGE = ProblemType(
    "body-too-large", "Request body too large", 413, "Send a smaller body (see MEALIMPACT_MAX_BODY_BYTES)."
)
IMAGE_TOO_LARGE = ProblemType(
    "image-too-large",
    "Image has too many pixels",
    413,
    "Resize the photo (a 1600-pixel long side is plenty).",
)
NOT_AN_IMAGE = ProblemType(
    "not-an-image",
    "Not a readable image",
    422,
    "The upload is empty, damaged or cut off; send the photo file again.",
)
UNSUPPORTED_FORMAT = ProblemType(
    "unsupported-image-format", "Unsupported image format", 415, "Send JPEG, PNG, WebP or HEIC."
)
TOO_FEW_READINGS = ProblemType(
    "too-few-cgm-readings",
    "Not enough CGM readings",
    422,
    "Send more recent CGM readings (the detail says how many).",
)
OUT_OF_RANGE = ProblemType(
    "value-out-of-range", "Value outside the physiological range", 422, "Check the units and the values sent."
)
TIMESTAMP_ORDER = ProblemType(
    "timestamps-out-of-order",
    "Timestamps out of order",
    422,
    "Send readings in strictly increasing time order, without duplicates.",
)
TIMESTAMP_FUTURE = ProblemType(
    "timestamp-in-future",
    "Timestamp in the future",
    422,
    "Check the device clock and the UTC offset of the times sent.",
)
BAD_UNIT = ProblemType("bad-unit", "Unknown unit", 422, "Glucose unit must be mg/dL or mmol/L.")
INVALID_RECORD = ProblemType(
    "invalid-record", "Inconsistent glucose record", 422, "The detail says which field to fix."
)
PERSONAL_CLASSES = ProblemType(
    "invalid-personal-classes",
    "Unusable personal food classes",
    422,
    "Send personal_classes as a JSON list of {name, prototype, carbs_g}; the detail says which item to fix.",
)
VALIDATION = ProblemType(
    "validation-error",
    "Request does not match the schema",
    422,
    "The `errors` list says which fields to fix.",
)
UNAUTHORIZED = ProblemType(
    "unauthorized", "Missing or wrong API key", 401, "Send the key in the X-API-Key header."
)
NOT_FOUND = ProblemType("not-found", "Not found", 404, "Check the path against /openapi.json.")
METHOD_NOT_ALLOWED = ProblemType(
    "method-not-allowed", "Method not allowed", 405, "Check the method against /openapi.json."
)
TIMEOUT = ProblemType("request-timeout", "Request took too long", 504, "Retry later; the server is busy.")
BODY_TIMEOUT = ProblemType(
    "body-read-timeout",
    "Request body arrived too slowly",
    408,
    "Send the whole body at once (see MEALIMPACT_BODY_READ_TIMEOUT_S).",
)
RATE_LIMITED = ProblemType(
    "rate-limited", "Too many requests", 429, "Wait the seconds in Retry-After, then retry."
)
OVERLOADED = ProblemType(
    "server-overloaded",
    "Server at its memory budget",
    503,
    "Retry after the seconds in Retry-After; the server refuses new work above MEALIMPACT_MAX_RSS_MB.",
)
STALE_CGM = ProblemType(
    "stale-cgm",
    "CGM readings too old for a forecast",
    422,
    "Send the latest readings; the last one must be recent (see MEALIMPACT_MAX_CGM_AGE_MIN).",
)
PREDICTION_OUT_OF_RANGE = ProblemType(
    "prediction-out-of-range",
    "Prediction outside the physiological range",
    422,
    "The inputs drive the model beyond what a body can reach; check the amounts and units sent.",
)
MODEL_UNAVAILABLE = ProblemType(
    "model-unavailable", "Model call failed", 503, "Retry later; the model tier is unavailable."
)
INTERNAL = ProblemType(
    "internal-error", "Internal error", 500, "Retry; if it persists, report the request id."
)
PROBLEMS = {p.slug: p for p in (
    BODY_TOO_LARGE, IMAGE_TOO_LARGE, NOT_AN_IMAGE, UNSUPPORTED_FORMAT, TOO_FEW_READINGS, OUT_OF_RANGE,
    TIMESTAMP_ORDER, TIMESTAMP_FUTURE, BAD_UNIT, INVALID_RECORD, PERSONAL_CLASSES, VALIDATION, UNAUTHORIZED,
    NOT_FOUND, METHOD_NOT_ALLOWED, TIMEOUT, MODEL_UNAVAILABLE, INTERNAL, BODY_TIMEOUT, RATE_LIMITED,
    OVERLOADED, STALE_CGM, PREDICTION_OUT_OF_RANGE,
)}  # fmt: skip


class RequestRefusedError(ValueError):
    """Raised at the edge when a request is refused for a reason that has no domain error of its own."""

    def __init__(self, problem: ProblemType, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.headers = headers or {}


class StaleCgmError(RecordError):
    """The last CGM reading is older than a forecast may start from."""


class PredictionRangeError(ValueError):
    """A model output is non-finite or beyond the hard physiological cap (the message names the field)."""


class GlucoseUnitError(RecordError):
    """The CGM unit is neither mg/dL nor mmol/L."""


class GlucoseRangeError(RecordError):
    """A glucose value is outside what any sensor reports (after unit conversion)."""


class TimestampOrderError(RecordError):
    """Readings are not in strictly increasing time order."""


class FutureTimestampError(RecordError):
    """A time lies after the moment the request was received."""


_DOMAIN_PROBLEMS: tuple[tuple[type[Exception], ProblemType], ...] = (
    (ImageTooLargeError, IMAGE_TOO_LARGE),
    (UnsupportedImageFormatError, UNSUPPORTED_FORMAT),
    (ImageDecodeError, NOT_AN_IMAGE),
    (InsufficientCgmError, TOO_FEW_READINGS),
    (GlucoseUnitError, BAD_UNIT),
    (GlucoseRangeError, OUT_OF_RANGE),
    (TimestampOrderError, TIMESTAMP_ORDER),
    (StaleCgmError, STALE_CGM),
    (PredictionRangeError, PREDICTION_OUT_OF_RANGE),
    (FutureTimestampError, TIMESTAMP_FUTURE),
    (RecordError, INVALID_RECORD),
    (FewShotError, PERSONAL_CLASSES),
    (ModelBackendError, MODEL_UNAVAILABLE),
    (InferenceProtocolError, VALIDATION),
    (DeadlineExceededError, TIMEOUT),
)


def problem_for(error: Exception) -> tuple[ProblemType, str]:
    """The problem type and the client-facing detail of an error (first matching class wins)."""
    if isinstance(error, RequestRefusedError):
        return error.problem, error.detail
    if isinstance(error, RequestValidationError):
        return _validation_problem(error.errors())
    if isinstance(error, HTTPException):
        by_status = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED, 401: UNAUTHORIZED, 413: BODY_TOO_LARGE}
        return by_status.get(error.status_code, VALIDATION if error.status_code < 500 else INTERNAL), str(
            error.detail
        )
    for kind, problem in _DOMAIN_PROBLEMS:
        if isinstance(error, kind):
            detail = str(error) if problem not in (MODEL_UNAVAILABLE, TIMEOUT) else problem.description
            return problem, detail
    return INTERNAL, INTERNAL.description


def field_path(loc: Sequence[object]) -> str:
    """A field's place as the client wrote it: `history[0].cgm.unit` (FastAPI's leading "body" left out)."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return path.removeprefix(".")


_LISTED_FIELDS = 5  # a detail names this many fields; the `errors` list has them all


def _validation_problem(errors: Sequence[Any]) -> tuple[ProblemType, str]:
    """A schema error: a wrong or missing glucose unit is its own problem only when nothing else is wrong
    (a unit error never hides another); the detail names the fields, the `errors` list says why each."""
    paths = [field_path(e.get("loc", ())) for e in errors]
    if paths and all(p.rsplit(".", 1)[-1] == "unit" for p in paths):
        return BAD_UNIT, "; ".join(f"{p} must be 'mg/dL' or 'mmol/L'" for p in paths)
    if len(errors) == 1:
        return VALIDATION, f"{paths[0] or 'body'}: {errors[0].get('msg', '')}"
    named = ", ".join(p or "body" for p in paths[:_LISTED_FIELDS]) + (
        ", ..." if len(paths) > _LISTED_FIELDS else ""
    )
    return VALIDATION, f"{len(errors)} fields do not match the schema ({named}); see errors"


def validation_errors(error: RequestValidationError) -> list[dict[str, object]]:
    """Where and why, never the rejected value itself (it may be health data)."""
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in error.errors()
    ]


def problem_body(problem: ProblemType, detail: str, instance: str, **extensions: object) -> bytes:
    body = {"type": problem.uri, "title": problem.title, "status": problem.status, "detail": detail}
    body["instance"] = instance
    body.update(extensions)
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def v2_error_body(detail: str) -> bytes:
    return json.dumps({"error": detail}, separators=(",", ":")).encode("utf-8")


async def send_problem(
    scope: Scope, send: Send, problem: ProblemType, detail: str, headers: Sequence[tuple[bytes, bytes]]
) -> None:
    """Answer from ASGI middleware, before any route ran: problem+json on /v1, {"error"} on /v2."""
    if scope["path"].startswith("/v2"):
        body, content_type = v2_error_body(detail), "application/json"
    else:
        body, content_type = problem_body(problem, detail, scope["path"]), PROBLEM_CONTENT_TYPE
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def v2_status(error: Exception) -> int:
    """HTTP status of an error on the /v2 routes."""
    if isinstance(error, InferenceProtocolError | RequestValidationError):
        return 400
    if isinstance(error, HTTPException):
        return error.status_code
    if isinstance(error, RequestRefusedError):
        return error.problem.status
    if isinstance(error, DeadlineExceededError):
        return 504
    return 503 if isinstance(error, ModelBackendError) else 500


def _v2_detail(error: Exception) -> str:
    if isinstance(error, RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        return f"invalid request at {'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', '')}"
    if isinstance(error, HTTPException):
        return str(error.detail)
    return str(error) if v2_status(error) < 500 else "the model call failed; retry later"


def install_problem_handlers(app: FastAPI, metrics: ServingMetrics) -> None:
    """Answer every known error as problem+json (or `{"error"}` under /v2) and count it by reason."""

    async def answer(request: Request, error: Exception) -> Response:
        problem, detail = problem_for(error)
        metrics.rejected.labels(problem.slug).inc()
        headers = dict(error.headers or {}) if isinstance(error, HTTPException | RequestRefusedError) else {}
        if request.url.path.startswith("/v2"):
            return Response(v2_error_body(_v2_detail(error)), v2_status(error), headers, "application/json")
        extensions = {"errors": validation_errors(error)} if isinstance(error, RequestValidationError) else {}
        body = problem_body(problem, detail, request.url.path, **extensions)
        return Response(body, problem.status, headers, PROBLEM_CONTENT_TYPE)

    for kind in (
        RequestValidationError,
        HTTPException,
        RequestRefusedError,
        RecordError,
        PredictionRangeError,
        ImageDecodeError,
        FewShotError,
        ModelBackendError,
        InferenceProtocolError,
        DeadlineExceededError,
    ):
        app.add_exception_handler(kind, answer)
