"""Meal-aligned windows on the 5-min grid: alignment, coverage, events around the meal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from glucose_model.records import GlucoseSeries, InsulinDose, Meal, Recording, SleepPeriod
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
