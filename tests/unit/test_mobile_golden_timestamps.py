"""Golden cases for time fields: the table is the server's verdict for every `Timestamp` field, and the
requests with rewritten times keep their instants."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from serving.schemas.glucose import ActivityIn, Cgm, ForecastRequest, InsulinIn, MealEvent, Reading
from serving.schemas.meals import ImpactRequest, MealIn
from serving.time_text import reads_as_number
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


# Numbers in a string pydantic would read as Unix seconds (milliseconds beyond 2e10 in size) in UTC.
_NUMBERS = ("1767270896", "+1767270896", "1767270896.", "1.767270896e9", "1767270896123", "20261025", "2026")
_NUMBER_REFUSAL = (
    "Value error, time must be an ISO 8601 date-time string with its UTC offset, such as "
    "2026-11-28T12:00:00+01:00, not a number of seconds"
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


@pytest.mark.parametrize(("model", "others"), _FIELDS, ids=[m.__name__ for m, _ in _FIELDS])
def test_every_timestamp_field_refuses_a_number_in_a_string_and_says_what_to_send(
    model: type[BaseModel], others: dict[str, object]
) -> None:
    for number in _NUMBERS:
        body = {"time": number, **others}
        for as_json in (False, True):
            with pytest.raises(ValidationError) as refused:
                model.model_validate_json(json.dumps(body)) if as_json else model.model_validate(body)
            (error,) = refused.value.errors()
            assert (error["loc"], error["type"], error["msg"]) == (("time",), "value_error", _NUMBER_REFUSAL)
    table = _by_time()
    assert all(table[json.dumps(n)]["field"]["msg"] == _NUMBER_REFUSAL for n in _NUMBERS)


def test_a_number_in_a_string_is_no_device_local_time_either() -> None:
    # fromisoformat reads "20261025" as a basic-format date; with cgm.tz it was 2026-10-25T00:00+02:00.
    for number in ("20261025", "2026102510230.5", "1767270896"):
        with pytest.raises(ValidationError) as refused:
            Cgm.model_validate(
                {"unit": "mg/dL", "tz": "Europe/Zurich", "readings": [{"time": number, "value": 1}]}
            )
        assert refused.value.errors()[0]["msg"] == _NUMBER_REFUSAL, number
    table = _by_time()
    assert "reading_in_zone" not in table[json.dumps("20261025")]


def test_every_number_the_table_holds_is_refused_as_one_and_nothing_else_is() -> None:
    for case in _by_time().values():
        time, verdict = case["time"], case["field"]
        is_number = isinstance(time, str) and reads_as_number(time)
        assert (verdict.get("msg") == _NUMBER_REFUSAL) == is_number, time


def test_time_forms_keep_every_instant_and_the_meals_offset() -> None:
    impact = _personal(json.loads((EXAMPLES / "impact.json").read_text()))
    before, after = ImpactRequest.model_validate(impact), ImpactRequest.model_validate(time_forms(impact))
    assert [r.time for r in before.cgm.readings] == [r.time for r in after.cgm.readings]
    assert [d.time for d in before.insulin] == [d.time for d in after.insulin]
    assert before.meal.time.utcoffset() == after.meal.time.utcoffset() and before.meal.time == after.meal.time
    written = [r["time"] for r in time_forms(impact)["cgm"]["readings"]]
    assert written != [r["time"] for r in impact["cgm"]["readings"]]
    assert any("_" in t for t in written) and any(t.endswith("-00:00") for t in written)
    assert any("\u2212" in t for t in written) and any("," in t for t in written)
    assert any(t.endswith("+1345") for t in written) and not any(reads_as_number(t) for t in written)


def test_refused_time_forms_are_refused_for_the_edited_time() -> None:
    impact = _personal(json.loads((EXAMPLES / "impact.json").read_text()))
    forecast = _recent(json.loads((EXAMPLES / "forecast.json").read_text()))
    cases = refused_time_form_requests(impact, forecast)
    assert len({name for _, name, _ in cases}) == len(cases) == 6
    for kind, name, request in cases:
        with pytest.raises(ValidationError) as refused:
            (ImpactRequest if kind == "impact" else ForecastRequest).model_validate(request)
        assert refused.value.errors()[0]["loc"][-1] == "time", name
