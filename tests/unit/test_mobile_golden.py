"""Golden-case encoding for the JavaScript client: NaN as null, uint8 as base64, CGM windows found."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from training.mobile_golden import _grid_window, encode_array, pattern_image, resample_cases


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
