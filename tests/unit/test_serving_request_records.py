"""Request bodies -> canonical records: units, ranges, order, clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glucose_model.records import MG_DL_PER_MMOL_L, RecordError
from serving.problems import FutureTimestampError, GlucoseRangeError, TimestampOrderError
from serving.request_records import check_not_future, glucose_series, meal_context, meal_record, past_meals
from serving.schemas.glucose import Cgm
from serving.schemas.meals import ImpactRequest

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def cgm(values: list[float], unit: str = "mg/dL", step_min: int = 5, end: datetime = NOW) -> Cgm:
    times = [end - timedelta(minutes=step_min * (len(values) - 1 - k)) for k in range(len(values))]
    return Cgm.model_validate(
        {
            "unit": unit,
            "readings": [{"time": t.isoformat(), "value": v} for t, v in zip(times, values, strict=True)],
        }
    )


def test_mmol_per_l_is_converted_with_the_canonical_factor() -> None:
    series = glucose_series(cgm([5.5, 6.1], unit="mmol/L"), NOW)
    np.testing.assert_allclose(series.glucose_mg_dl, [5.5 * MG_DL_PER_MMOL_L, 6.1 * MG_DL_PER_MMOL_L])


def test_local_offsets_are_kept() -> None:
    series = glucose_series(cgm([100.0, 101.0], end=datetime(2026, 11, 28, 12, 0, tzinfo=CET)), NOW)
    assert series.utc_offset_min.tolist() == [60, 60]


@pytest.mark.parametrize("value", [5.0, 900.0, float("nan")])
def test_values_outside_the_sensor_range_are_refused(value: float) -> None:
    with pytest.raises(GlucoseRangeError, match=r"readings\[1\] is outside 20-600 mg/dL"):
        glucose_series(cgm([100.0, value]), NOW)


def test_mg_dl_values_sent_as_mmol_per_l_are_caught_by_the_range() -> None:
    with pytest.raises(GlucoseRangeError, match=r"check cgm\.unit"):
        glucose_series(cgm([110.0, 120.0], unit="mmol/L"), NOW)


def test_order_and_future() -> None:
    body = cgm([100.0, 101.0, 102.0])
    body.readings[1], body.readings[2] = body.readings[2], body.readings[1]
    with pytest.raises(TimestampOrderError, match=r"readings\[2\]"):
        glucose_series(body, NOW)
    with pytest.raises(FutureTimestampError):
        glucose_series(cgm([100.0, 101.0], end=NOW + timedelta(minutes=30)), NOW)
    glucose_series(cgm([100.0, 101.0], end=NOW + timedelta(minutes=2)), NOW)  # clock skew tolerated


def test_a_future_time_is_named_as_sent() -> None:
    later = NOW + timedelta(hours=1)
    with pytest.raises(FutureTimestampError, match=r"^meal\.time is in the future"):
        check_not_future(later, NOW, "meal.time")
    with pytest.raises(FutureTimestampError, match=r"^meals\[1\] is in the future"):
        check_not_future([NOW, later], NOW, "meals")
    check_not_future([], NOW, "meals")


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=30),
    unit=st.sampled_from(["mg/dL", "mmol/L"]),
    steps=st.lists(st.integers(-10, 30), min_size=30, max_size=30),
)
def test_any_readings_give_a_valid_series_or_a_record_error(
    values: list[float], unit: str, steps: list[int]
) -> None:
    times = np.cumsum([0, *steps[: len(values) - 1]])
    body = Cgm.model_validate(
        {
            "unit": unit,
            "readings": [
                {"time": (NOW - timedelta(hours=5) + timedelta(minutes=int(t))).isoformat(), "value": v}
                for t, v in zip(times, values, strict=True)
            ],
        }
    )
    try:
        series = glucose_series(body, NOW)
    except RecordError:
        return
    assert np.all(np.diff(series.times_utc_s) > 0)
    assert np.all((series.glucose_mg_dl >= 20) & (series.glucose_mg_dl <= 600))


def test_impact_request_becomes_a_meal_context_and_past_meals() -> None:
    meal_time = NOW - timedelta(hours=4)
    request = ImpactRequest.model_validate(
        {
            "meal": {"time": NOW.isoformat(), "carbs_g": 50, "fiber_g": 3},
            "cgm": cgm([100.0] * 13).model_dump(mode="json"),
            "activity": {"steps": 900, "heart_rate": 80, "planned_walk_min": 10},
            "profile": {"diabetes": "type2"},
            "history": [
                {
                    "meal": {"time": meal_time.isoformat(), "carbs_g": 40},
                    "cgm": cgm([100.0] * 49, end=meal_time + timedelta(hours=3)).model_dump(mode="json"),
                }
            ],
        }
    )
    context = meal_context(request, meal_record(request.meal, 40.0, 65.0, "photo"), NOW)
    assert context.meal.carbs_p10_g == 40.0 and context.meal.fiber_g == 3 and context.meal.sugars_g is None
    assert context.kind is not None and context.kind.value == "type2"
    assert context.planned_walk_min == 10 and context.activity[0].steps == 900
    (past,) = past_meals(request, NOW)
    assert len(past.context.glucose) == 12 and len(past.measured) == 37  # 1 h before, 0..180 min after
