"""Golden-case encoding for the JavaScript client: NaN as null, uint8 as base64, CGM windows found."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from training.mobile_golden import (
    EXAMPLES,
    _grid_window,
    _schema_bound_requests,
    constants,
    encode_array,
    pattern_image,
    refused_forecast_requests,
    refused_requests,
    resample_cases,
)


def test_arrays_encode_nan_as_null_and_uint8_as_base64() -> None:
    encoded = encode_array(np.array([[1.5, np.nan]], dtype=np.float32))
    assert encoded == {"dtype": "float32", "shape": [1, 2], "data": [1.5, None]}
    pixels = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    packed = encode_array(pixels)
    assert packed["shape"] == [1, 2, 3] and base64.b64decode(str(packed["base64"])) == pixels.tobytes()


def test_an_input_equal_to_a_cgm_window_is_marked_with_its_first_grid_time() -> None:
    times = np.arange(10, dtype=np.int64) * 300 + 3000
    values = np.array([100, 101, np.nan, 103, 104, 105, 106, 107, 108, 109], dtype=np.float64)
    feed = np.tile(values[2:6].astype(np.float32), (3, 1))  # (3, 4), every row the same window
    assert _grid_window(feed, times, values) == {"first_grid_time_utc_s": 3600, "length": 4}
    shifted = feed - 100.0  # relative to a baseline: not raw CGM, so the client keeps the recorded input
    assert _grid_window(shifted, times, values) is None
    padded = np.tile(np.concatenate([[np.nan, np.nan], values[:3]]).astype(np.float32), (1, 1))
    assert _grid_window(padded, times, values) == {"first_grid_time_utc_s": 2400, "length": 5}  # NaN before
    rows_differ = feed.copy()
    rows_differ[1, 0] = 50.0
    assert _grid_window(rows_differ, times, values) is None


def test_resample_cases_cover_gaps_missing_values_and_off_grid_readings() -> None:
    cases: dict[str, Any] = {str(c["name"]): c for c in resample_cases()}
    gaps = cases["short_and_long_gaps"]["grid"]["glucose_mg_dl"]
    assert None in gaps and gaps[0] == 120  # the 49-min hole stays a gap
    assert None in cases["missing_values"]["readings"]["glucose_mg_dl"]
    assert all(t % 300 == 0 for c in cases.values() for t in c["grid"]["times_utc_s"])
    assert pattern_image(5, 3).shape == (3, 5, 3) and np.array_equal(pattern_image(5, 3), pattern_image(5, 3))


def _impact_example() -> dict[str, Any]:
    return json.loads((EXAMPLES / "impact.json").read_text())


def test_every_numeric_bound_of_the_impact_schema_gets_a_request_just_beyond_it() -> None:
    cases = dict(_schema_bound_requests(_impact_example() | {"insulin": [{"time": "x", "units": 1}]}))
    # Both sides of every bounded number: meal (5), activity (3), profile (4), insulin units, sleep.
    assert {"schema_meal.carbs_g_above", "schema_meal.carbs_g_below", "schema_sleep_hours_above"} <= set(
        cases
    )
    assert {"schema_profile.age_years_below", "schema_insulin.0.units_above"} <= set(cases)
    assert cases["schema_meal.carbs_g_above"]["meal"]["carbs_g"] == 1001.0
    assert cases["schema_activity.heart_rate_below"]["activity"]["heart_rate"] == 19.0
    assert len(cases) == 2 * (5 + 3 + 4 + 1 + 1)  # recent_meals is empty in the example: no case built on it


def test_refused_requests_change_one_thing_each_and_keep_the_rest() -> None:
    base = _impact_example()
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    cases = dict(refused_requests(base, now))
    assert len(cases) == len(refused_requests(base, now))  # names are unique
    assert cases["meal_in_the_future"]["meal"]["time"] == (now + timedelta(days=1)).isoformat()
    assert "unit" not in cases["cgm_unit_missing"]["cgm"]
    sparse = cases["cgm_too_sparse_in_the_last_hour"]["cgm"]["readings"]
    assert 2 < len(sparse) < len(base["cgm"]["readings"])
    assert cases["cgm_value_above_range"]["meal"] == cases["cgm_no_readings"]["meal"]


def test_constants_are_the_python_modules_numbers() -> None:
    values = constants()
    assert values["iauc_window_min"] == 120
    what_if = values["what_if"]
    assert (
        isinstance(what_if, dict)
        and what_if["walk_min"] == 15.0
        and "carbs_p10_g" in what_if["half_portion_columns"]
    )


def test_forecast_refusals_include_a_stale_trace_and_the_schemas_exclusive_minimum() -> None:
    base = json.loads((EXAMPLES / "forecast.json").read_text())
    now = datetime(2026, 11, 28, 11, 5, tzinfo=UTC)
    cases = dict(refused_forecast_requests(base, now))
    assert all(name.startswith("forecast_") for name in cases)
    assert (
        cases["forecast_schema_activity.0.duration_min_at_exclusive_minimum"]["activity"][0]["duration_min"]
        == 0
    )
    stale = cases["forecast_cgm_two_hours_old"]["cgm"]["readings"][-1]["time"]
    assert datetime.fromisoformat(stale) == datetime.fromisoformat(
        base["cgm"]["readings"][-1]["time"]
    ) - timedelta(hours=2)
