"""Errors -> problem types: one mapping, one type URI per cause."""

from __future__ import annotations

import json

import pytest
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from glucose_model.records import InsufficientCgmError, RecordError
from serving.backends import ModelBackendError
from serving.problems import (
    PROBLEMS,
    FutureTimestampError,
    GlucoseRangeError,
    GlucoseUnitError,
    TimestampOrderError,
    problem_body,
    problem_for,
    v2_status,
    validation_errors,
)
from serving.v2_protocol import InferenceProtocolError
from vision.decode import CorruptImageError, EmptyImageError, ImageTooLargeError, UnsupportedImageFormatError


@pytest.mark.parametrize(
    ("error", "slug", "status"),
    [
        (ImageTooLargeError("big"), "image-too-large", 413),
        (UnsupportedImageFormatError("gif"), "unsupported-image-format", 415),
        (CorruptImageError("bad"), "not-an-image", 422),
        (EmptyImageError("empty"), "not-an-image", 422),
        (InsufficientCgmError("few"), "too-few-cgm-readings", 422),
        (GlucoseRangeError("range"), "value-out-of-range", 422),
        (TimestampOrderError("order"), "timestamps-out-of-order", 422),
        (FutureTimestampError("future"), "timestamp-in-future", 422),
        (GlucoseUnitError("unit"), "bad-unit", 422),
        (RecordError("other"), "invalid-record", 422),
        (ModelBackendError("down"), "model-unavailable", 503),
        (HTTPException(404), "not-found", 404),
        (HTTPException(405), "method-not-allowed", 405),
        (KeyError("x"), "internal-error", 500),
    ],
)
def test_each_cause_has_its_own_type(error: Exception, slug: str, status: int) -> None:
    problem, _ = problem_for(error)
    assert (problem.slug, problem.status) == (slug, status)
    assert problem.uri == f"/problems/{slug}" and slug in PROBLEMS


def test_domain_detail_is_passed_on_but_internal_details_are_not() -> None:
    assert problem_for(InsufficientCgmError("send 2 h of CGM"))[1] == "send 2 h of CGM"
    assert "secret" not in problem_for(KeyError("secret"))[1]
    assert "10.0.0.3" not in problem_for(ModelBackendError("10.0.0.3 refused"))[1]


def test_validation_errors_never_echo_the_rejected_value() -> None:
    error = RequestValidationError(
        [
            {
                "loc": ("body", "cgm", "readings", 0, "value"),
                "msg": "Input should be a number",
                "type": "x",
                "input": 731,
            }
        ]
    )
    problem, _ = problem_for(error)
    assert problem.slug == "validation-error"
    assert validation_errors(error) == [
        {"loc": ["body", "cgm", "readings", 0, "value"], "msg": "Input should be a number", "type": "x"}
    ]


def test_a_wrong_unit_is_its_own_problem_even_as_a_schema_error() -> None:
    error = RequestValidationError(
        [{"loc": ("body", "cgm", "unit"), "msg": "Input should be 'mg/dL'", "type": "x"}]
    )
    assert problem_for(error)[0].slug == "bad-unit"


def _schema_error(*errors: tuple[tuple[str | int, ...], str]) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", *loc), "msg": msg, "type": "x"} for loc, msg in errors])


def test_a_wrong_unit_names_its_own_field() -> None:
    unit = "Input should be 'mg/dL' or 'mmol/L'"
    assert problem_for(_schema_error((("history", 2, "cgm", "unit"), unit))) == (
        PROBLEMS["bad-unit"],
        "history[2].cgm.unit must be 'mg/dL' or 'mmol/L'",
    )
    problem, detail = problem_for(
        _schema_error((("cgm", "unit"), unit), (("history", 0, "cgm", "unit"), unit))
    )
    assert problem.slug == "bad-unit"
    assert detail == "cgm.unit must be 'mg/dL' or 'mmol/L'; history[0].cgm.unit must be 'mg/dL' or 'mmol/L'"
    # The report's print unit is no CGM unit.
    assert problem_for(_schema_error((("unit",), unit)))[1] == "unit must be 'mg/dL' or 'mmol/L'"


def test_a_wrong_unit_does_not_hide_the_other_errors() -> None:
    error = _schema_error(
        (("cgm", "unit"), "Input should be 'mg/dL' or 'mmol/L'"),
        (("meal", "carbs_g"), "Field required"),
        (("meal", "fibre_g"), "Extra inputs are not permitted"),
    )
    problem, detail = problem_for(error)
    assert problem.slug == "validation-error"
    assert detail == "3 fields do not match the schema (cgm.unit, meal.carbs_g, meal.fibre_g); see errors"
    assert len(validation_errors(error)) == 3


def test_one_schema_error_is_the_detail() -> None:
    error = _schema_error(
        (("meal", "fibre_g"), "Extra inputs are not permitted: 'fibre_g' is not a field here")
    )
    assert (
        problem_for(error)[1] == "meal.fibre_g: Extra inputs are not permitted: 'fibre_g' is not a field here"
    )
    many = _schema_error(*[((f"f{i}",), "Field required") for i in range(7)])
    assert problem_for(many)[1] == "7 fields do not match the schema (f0, f1, f2, f3, f4, ...); see errors"


def test_problem_body_has_the_rfc_9457_members() -> None:
    problem, detail = problem_for(TimestampOrderError("reading 3 is not later"))
    body = json.loads(problem_body(problem, detail, "/v1/meals/impact"))
    assert body == {
        "type": "/problems/timestamps-out-of-order",
        "title": problem.title,
        "status": 422,
        "detail": "reading 3 is not later",
        "instance": "/v1/meals/impact",
    }


def test_v2_statuses() -> None:
    assert v2_status(InferenceProtocolError("x")) == 400
    assert v2_status(ModelBackendError("x")) == 503
    assert v2_status(HTTPException(404)) == 404
