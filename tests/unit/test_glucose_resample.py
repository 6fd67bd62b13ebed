"""Resampling to the 5-min clock grid: identity on grid data, short gaps filled, long gaps never bridged."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from glucose_model.records import GlucoseSeries
from glucose_model.resample import MAX_INTERPOLATED_GAP_MIN, resample_to_grid, typical_interval_min

T0 = 1_700_000_100  # a multiple of 300 s: on the grid


def series(minutes: list[float] | np.ndarray, values: list[float] | np.ndarray) -> GlucoseSeries:
    times = T0 + (np.asarray(minutes, dtype=np.float64) * 60).astype(np.int64)
    return GlucoseSeries(times, np.full(times.shape[0], 60, np.int16), np.asarray(values, np.float64))


@given(st.lists(st.floats(40, 400), min_size=1, max_size=200))
def test_resampling_a_5_min_series_is_identity(values: list[float]) -> None:
    s = series(np.arange(len(values)) * 5, values)
    r = resample_to_grid(s)
    np.testing.assert_array_equal(r.series.times_utc_s, s.times_utc_s)
    np.testing.assert_array_equal(r.glucose_mg_dl, s.glucose_mg_dl)
    assert r.measured.all() and not r.interpolated.any()


def test_15_min_samples_are_interpolated_linearly() -> None:
    r = resample_to_grid(series([0, 15, 30], [100, 130, 100]))
    np.testing.assert_allclose(r.glucose_mg_dl, [100, 110, 120, 130, 120, 110, 100])
    assert r.interpolated.sum() == 4


def test_long_gap_is_left_as_nan() -> None:
    r = resample_to_grid(series([0, 5, 5 + MAX_INTERPOLATED_GAP_MIN + 5, 35], [100, 100, 200, 200]))
    assert np.isnan(r.glucose_mg_dl[2:6]).all()
    assert r.glucose_mg_dl[1] == 100 and r.glucose_mg_dl[6] == 200


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 60), min_size=1, max_size=60),
    st.lists(st.floats(40, 400), min_size=61, max_size=61),
)
def test_gaps_are_never_bridged(intervals_min: list[int], values: list[float]) -> None:
    minutes = np.concatenate([[0], np.cumsum(intervals_min)])
    s = series(minutes, values[: minutes.shape[0]])
    r = resample_to_grid(s)
    grid_min = (r.series.times_utc_s - T0) / 60
    for a, b in itertools.pairwise(minutes):
        inside = (grid_min > a) & (grid_min < b)
        if b - a > MAX_INTERPOLATED_GAP_MIN:
            assert np.isnan(r.glucose_mg_dl[inside]).all()
        else:
            assert np.isfinite(r.glucose_mg_dl[inside]).all()
    # Interpolated values stay between their neighbours.
    assert np.nanmin(r.glucose_mg_dl) >= min(values) - 1e-9


def test_grid_is_aligned_to_the_clock_and_offsets_carried() -> None:
    s = GlucoseSeries(
        np.array([T0 + 62, T0 + 362, T0 + 662]),
        np.array([120, 120, 120], np.int16),
        np.array([100.0, 110, 120]),
    )
    r = resample_to_grid(s)
    assert (r.series.times_utc_s % 300 == 0).all()
    assert r.series.times_utc_s[0] == T0 + 300
    assert (r.series.utc_offset_min == 120).all()
    assert not r.measured.any()


def test_typical_interval() -> None:
    assert typical_interval_min(series([0, 15, 30, 45], [1, 2, 3, 4])) == 15.0
