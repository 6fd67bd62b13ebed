"""Meal-aligned windows: the 3 h before and the 3 h after each meal on the 5-minute grid.

What training and evaluation of the post-meal response model iterate over.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from glucose_model.metrics import BASELINE_WINDOW_MIN
from glucose_model.records import (
    ActivitySample,
    DiabetesKind,
    InsulinDose,
    Meal,
    Recording,
    SleepPeriod,
)
from glucose_model.resample import GRID_STEP_MIN, ResampledGlucose, resample_to_grid

PRE_MEAL_MIN = 180
POST_MEAL_MIN = 180
# Enough coverage for training and evaluation: nearly all of the 3 h after (the target) and at
# least half of the 3 h before (the context the model reads), including the baseline 30 min.
MIN_POST_MEAL_COVERAGE = 0.9
MIN_PRE_MEAL_COVERAGE = 0.5
# How far back "the sleep before this meal" looks.
SLEEP_LOOKBACK = timedelta(hours=24)


@dataclass(frozen=True)
class MealWindow:
    """One meal with the glucose and events around it.

    minutes: (W,) int64, -PRE_MEAL_MIN..POST_MEAL_MIN step 5, relative to the meal start rounded to
        the nearest grid time (at most 2.5 min away from the logged time)
    glucose_mg_dl: (W,) float64, NaN where the resampled series has a gap or does not reach
    activity, insulin: the events within the window (their times relative to the meal are
        `(event.time - meal.time)`); sleep: periods that ended within 24 h before the meal
    previous_meal: the latest meal before this one in the same recording, if any
    """

    person_id: str
    cohort: str
    kind: DiabetesKind | None
    meal: Meal
    minutes: npt.NDArray[np.int64]
    glucose_mg_dl: npt.NDArray[np.float64]
    activity: tuple[ActivitySample, ...]
    insulin: tuple[InsulinDose, ...]
    sleep: tuple[SleepPeriod, ...]
    previous_meal: Meal | None

    @property
    def pre_meal_glucose_mg_dl(self) -> npt.NDArray[np.float64]:
        """(PRE_MEAL_MIN/5 + 1,) glucose at -180..0 min (the meal-start reading included)."""
        return self.glucose_mg_dl[self.minutes <= 0]

    @property
    def post_meal_glucose_mg_dl(self) -> npt.NDArray[np.float64]:
        """(POST_MEAL_MIN/5 + 1,) glucose at 0..180 min."""
        return self.glucose_mg_dl[self.minutes >= 0]

    @property
    def pre_meal_coverage(self) -> float:
        """Share of grid points in -180..-5 min that have a value."""
        return float(np.isfinite(self.glucose_mg_dl[self.minutes < 0]).mean())

    @property
    def post_meal_coverage(self) -> float:
        """Share of grid points in 0..180 min that have a value."""
        return float(np.isfinite(self.post_meal_glucose_mg_dl).mean())

    @property
    def has_enough_coverage(self) -> bool:
        near_start = (self.minutes >= -BASELINE_WINDOW_MIN) & (self.minutes <= 0)
        baseline = np.isfinite(self.glucose_mg_dl[near_start]).any()
        return bool(
            baseline
            and self.pre_meal_coverage >= MIN_PRE_MEAL_COVERAGE
            and self.post_meal_coverage >= MIN_POST_MEAL_COVERAGE
        )


def window_minutes(step_min: int = GRID_STEP_MIN) -> npt.NDArray[np.int64]:
    """(W,) the minutes of a window relative to the meal: -180, -175, ..., 180."""
    return np.arange(-PRE_MEAL_MIN, POST_MEAL_MIN + 1, step_min, dtype=np.int64)


def glucose_around(resampled: ResampledGlucose, time_utc_s: int) -> npt.NDArray[np.float64]:
    """(W,) the grid glucose at `window_minutes()` around the grid time nearest `time_utc_s`."""
    minutes = window_minutes(resampled.step_min)
    out = np.full(minutes.shape[0], np.nan)
    if len(resampled.series) == 0:
        return out
    centre = resampled.index_of(time_utc_s)
    idx = centre + minutes // resampled.step_min
    inside = (idx >= 0) & (idx < len(resampled.series))
    out[inside] = resampled.glucose_mg_dl[idx[inside]]
    return out


def all_meal_windows(recording: Recording, resampled: ResampledGlucose | None = None) -> Iterator[MealWindow]:
    """Every meal of `recording` with its window, in meal time order, whatever the coverage."""
    if resampled is None:
        resampled = resample_to_grid(recording.glucose)
    meals = sorted(recording.meals, key=lambda m: m.time)
    before, after = timedelta(minutes=PRE_MEAL_MIN), timedelta(minutes=POST_MEAL_MIN)
    previous: Meal | None = None
    for meal in meals:
        start, end = meal.time - before, meal.time + after
        yield MealWindow(
            person_id=recording.person_id,
            cohort=recording.cohort,
            kind=recording.kind,
            meal=meal,
            minutes=window_minutes(resampled.step_min),
            glucose_mg_dl=glucose_around(resampled, int(meal.time.timestamp())),
            activity=tuple(a for a in recording.activity if start <= a.time <= end),
            insulin=tuple(d for d in recording.insulin if start <= d.time <= end),
            sleep=tuple(s for s in recording.sleep if meal.time - SLEEP_LOOKBACK <= s.end <= meal.time),
            previous_meal=previous,
        )
        previous = meal


def meal_windows(recording: Recording) -> Iterator[MealWindow]:
    """The meal windows with enough CGM coverage for training and evaluation (`has_enough_coverage`)."""
    return (w for w in all_meal_windows(recording) if w.has_enough_coverage)
