"""Golden cases for time fields: the table is the server's verdict for every `Timestamp` field, and the
requests with rewritten times keep their instants."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from serving.schemas.glucose import ActivityIn, InsulinIn, MealEvent, Reading
from serving.schemas.meals import ImpactRequest, MealIn
from training.mobile_golden import EXAMPLES, _personal, _recent
from training.mobile_golden_timestamps import (
    FORMS,
    _verdict,
    refused_time_form_requests,
    time_forms,
    timestamp_cases,
)

# Each model with a `Timestamp` field and the other fields it needs.
_FIELDS: tuple[tuple[type[BaseModel], dict[str, object]], ...] = (
    (Reading, {"value": 100.0}),
    (MealIn, {"carbs_g": 50.0}),
    (InsulinIn, {"units": 2.0}),
    (ActivityIn, {"duration_min": 30.0}),
    (MealEvent, {"carbs_g": 20.0}),
)


def _by_time() -> dict[str, Any]:
    cases: Any = timestamp_cases()["times"]
    return {json.dumps(c["time"]): c for c in cases}


def test_the_table_has_every_form_and_the_server_verdicts_the_review_named() -> None:
    table = _by_time()
    assert all(json.dumps(form) in table for form in FORMS) and len(table) > 1500
    hour_only = table[json.dumps("2026-01-01T12:34:56+01")]["field"]
    assert hour_only["error"] == "datetime_from_date_parsing"
    for separator in "Tt_ ":
        accepted = table[json.dumps(f"2026-01-01{separator}12:34:56+01:00")]["field"]
        assert accepted["isoformat"] == "2026-01-01T12:34:56+01:00"
    local = table[json.dumps("2026-01-01T12:34:56")]
    assert local["field"]["error"] == "timezone_aware"
    assert local["reading_in_zone"]["isoformat"] == "2026-01-01T12:34:56+01:00"


def test_accepted_times_hold_their_instant() -> None:
    for case in _by_time().values():
        for verdict in (case["field"], case.get("reading_in_zone", case["field"])):
            if "isoformat" in verdict:
                time = datetime.fromisoformat(verdict["isoformat"])
                assert (
                    int(time.timestamp()) == verdict["utc_s"] and time.microsecond == verdict["microsecond"]
                )


@pytest.mark.parametrize(("model", "others"), _FIELDS, ids=[m.__name__ for m, _ in _FIELDS])
def test_every_timestamp_field_reads_a_time_as_the_table_says(
    model: type[BaseModel], others: dict[str, object]
) -> None:
    table = _by_time()

    def as_field(value: object) -> datetime:
        return model.model_validate({"time": value, **others}).time  # type: ignore[attr-defined]

    def as_json(value: object) -> datetime:  # /v1/meals/analyze parses its context as JSON
        body = json.dumps({"time": value, **others})
        return model.model_validate_json(body).time  # type: ignore[attr-defined]

    for form in FORMS:
        if isinstance(form, str) and "\ud800" in form:
            continue  # no UTF-8 JSON text carries a lone surrogate
        want = table[json.dumps(form)]["field"]
        assert _verdict(as_field, form) == want, form
        assert _verdict(as_json, form) == want, form


def test_time_forms_keep_every_instant_and_the_meals_offset() -> None:
    impact = _personal(json.loads((EXAMPLES / "impact.json").read_text()))
    before, after = ImpactRequest.model_validate(impact), ImpactRequest.model_validate(time_forms(impact))
    assert [r.time for r in before.cgm.readings] == [r.time for r in after.cgm.readings]
    assert [d.time for d in before.insulin] == [d.time for d in after.insulin]
    assert before.meal.time.utcoffset() == after.meal.time.utcoffset() and before.meal.time == after.meal.time
    written = [r["time"] for r in time_forms(impact)["cgm"]["readings"]]
    assert written != [r["time"] for r in impact["cgm"]["readings"]]
    assert any("_" in t for t in written) and any(t.isdigit() for t in written)
    assert any("\u2212" in t for t in written) and any("," in t for t in written)


def test_refused_time_forms_are_refused_for_the_edited_time() -> None:
    impact = _personal(json.loads((EXAMPLES / "impact.json").read_text()))
    forecast = _recent(json.loads((EXAMPLES / "forecast.json").read_text()))
    cases = refused_time_form_requests(impact, forecast)
    assert len({name for _, name, _ in cases}) == len(cases) == 4
    for kind, name, request in cases:
        if kind != "impact":
            continue
        with pytest.raises(ValidationError) as refused:
            ImpactRequest.model_validate(request)
        assert refused.value.errors()[0]["loc"][-1] == "time", name
