"""Meal-aligned windows on the 5-min grid: alignment, coverage, events around the meal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from glucose_model.records import GlucoseSeries, InsulinDose, Meal, Recording, SleepPeriod
from glucose_model.resample import resample_to_grid
from glucose_model.windows import all_meal_windows, meal_windows, window_minutes

START = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)


def recording(minutes: np.ndarray, meals: list[Meal], **kwargs: object) -> Recording:
    times = int(START.timestamp()) + minutes.astype(np.int64) * 60
    glucose = 100 + minutes.astype(np.float64) / 10  # value tells the time: easy to check alignment
    series = GlucoseSeries(times, np.zeros(times.shape[0], np.int16), glucose)
    return Recording("p1", series, meals=tuple(meals), **kwargs)  # type: ignore[arg-type]


def test_window_is_centred_on_the_meal() -> None:
    minutes = np.arange(0, 12 * 60, 5)
    meal = Meal(START + timedelta(hours=5, minutes=1), carbs_g=40)  # rounds to the 5:00 grid time
    (w,) = list(all_meal_windows(recording(minutes, [meal])))
    np.testing.assert_array_equal(w.minutes, window_minutes())
    assert w.glucose_mg_dl[w.minutes == 0][0] == 100 + 300 / 10
    assert w.glucose_mg_dl[w.minutes == -180][0] == 100 + 120 / 10
    assert w.pre_meal_coverage == 1.0 and w.post_meal_coverage == 1.0 and w.has_enough_coverage
    assert w.pre_meal_glucose_mg_dl.shape == (37,) and w.post_meal_glucose_mg_dl.shape == (37,)


def test_meal_near_the_end_has_partial_coverage_and_is_filtered() -> None:
    minutes = np.arange(0, 6 * 60, 5)
    meals = [Meal(START + timedelta(hours=3), 30), Meal(START + timedelta(hours=5), 30)]
    windows = list(all_meal_windows(recording(minutes, meals)))
    assert windows[1].post_meal_coverage < 0.5
    assert windows[1].previous_meal == meals[0] and windows[0].previous_meal is None
    kept = list(meal_windows(recording(minutes, meals)))
    assert [w.meal for w in kept] == [meals[0]]


def test_events_around_the_meal_are_attached() -> None:
    minutes = np.arange(0, 12 * 60, 5)
    meal_time = START + timedelta(hours=5)
    insulin = (
        InsulinDose(meal_time - timedelta(minutes=10), 4.0),
        InsulinDose(meal_time + timedelta(hours=5), 2.0),
    )
    sleep = (SleepPeriod(meal_time - timedelta(hours=12), meal_time - timedelta(hours=4)),)
    (w,) = list(all_meal_windows(recording(minutes, [Meal(meal_time, 50)], insulin=insulin, sleep=sleep)))
    assert w.insulin == insulin[:1] and w.sleep == sleep


@settings(max_examples=60, deadline=None)
@given(
    meal_offset_s=st.integers(-4 * 3600, 16 * 3600),
    gap_start_min=st.integers(0, 11 * 60),
    gap_min=st.sampled_from([0, 10, 45, 90]),
    event_offsets_min=st.lists(st.integers(-300, 300), max_size=6),
)
def test_any_window_is_the_grid_seen_from_the_meal(
    meal_offset_s: int, gap_start_min: int, gap_min: int, event_offsets_min: list[int]
) -> None:
    """Wherever the meal falls (inside, near the ends, outside the record) and whatever gap the record has,
    the window holds exactly the grid values at the meal's nearest grid time + window minute, NaN beyond the
    grid, and attaches exactly the events within 3 h either side."""
    minutes = np.arange(0, 12 * 60, 5)
    minutes = minutes[(minutes < gap_start_min) | (minutes >= gap_start_min + gap_min)]
    meal = Meal(START + timedelta(seconds=meal_offset_s), carbs_g=40)
    insulin = tuple(InsulinDose(meal.time + timedelta(minutes=m), 1.0) for m in sorted(event_offsets_min))
    rec = recording(minutes, [meal], insulin=insulin)
    grid = resample_to_grid(rec.glucose)
    (w,) = list(all_meal_windows(rec, grid))
    np.testing.assert_array_equal(w.minutes, window_minutes())
    wanted_s = grid.times_utc_s[0] + (grid.index_of(int(meal.time.timestamp())) * 300) + w.minutes * 60
    inside = (wanted_s >= grid.times_utc_s[0]) & (wanted_s <= grid.times_utc_s[-1])
    expected = np.full(w.minutes.shape, np.nan)
    expected[inside] = grid.glucose_mg_dl[(wanted_s[inside] - grid.times_utc_s[0]) // 300]
    np.testing.assert_array_equal(w.glucose_mg_dl, expected)
    # The values tell the time: a finite window value is the record's glucose at that very time, never shifted.
    finite = np.isfinite(w.glucose_mg_dl)
    assert np.all(
        np.abs(w.glucose_mg_dl[finite] - (100 + (wanted_s[finite] - START.timestamp()) / 600)) < 1e-9
    )
    assert w.insulin == tuple(d for d in insulin if abs((d.time - meal.time).total_seconds()) <= 3 * 3600)
