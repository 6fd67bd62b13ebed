"""Single-meal experiments: each subject, at rest, eats one meal (with a walk, a short night, a bolus).

Vectorised over subjects (and over any per-subject meal arguments), so "the same meal for 100
people" or "one person, ten portion sizes" is one call. Used by physiology tests, by the carb-ratio
fit of type 1 subjects, and by the response model's tests of physiological sanity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from glucose_model.records import RecordError
from glucose_model.simulator import daily_life
from glucose_model.simulator.daily_life import BolusEvents, LifeSchedule, MealEvents, SleepEvents, WalkEvents
from glucose_model.simulator.parameters import PersonParameters
from glucose_model.simulator.simulation import Trajectory, simulate_schedule

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MealResponse:
    """Glucose of P subjects around one meal: minutes (N,) from meal start, glucose (P, N) mg/dL."""

    minutes: npt.NDArray[np.int64]
    plasma_glucose_mg_dl: FloatArray
    interstitial_glucose_mg_dl: FloatArray
    baseline_mg_dl: FloatArray  # (P,) plasma glucose at the meal start


def simulate_meal_response(
    people: PersonParameters,
    carbs_g: npt.ArrayLike,
    *,
    sugars_g: npt.ArrayLike | None = None,
    fiber_g: npt.ArrayLike = 5.0,
    fat_g: npt.ArrayLike = 20.0,
    protein_g: npt.ArrayLike = 20.0,
    glycemic_index: npt.ArrayLike = 60.0,
    eating_min: float = 10.0,
    walk_start_min: npt.ArrayLike | None = None,
    walk_duration_min: npt.ArrayLike = 0.0,
    walk_steps_per_min: npt.ArrayLike = 110.0,
    sleep_hours: npt.ArrayLike = 8.0,
    bolus_units: npt.ArrayLike | None = None,
    duration_min: int = 180,
    record_every_min: int = 1,
) -> MealResponse:
    """Each subject, at rest in its basal state, eats one meal at minute 0.

    Every meal argument is a scalar or a (P,) array. walk_start_min (minutes after the meal start;
    None: no walk), sleep_hours (the night before; 8 h = no effect), bolus_units (type 1 only; None:
    the subject's own ratio, carbs / carb_ratio; 0: no bolus). Returns minutes 0..duration_min.
    """
    n = len(people)
    if n == 0:
        raise RecordError("simulate_meal_response needs at least one subject")

    def per_person(value: npt.ArrayLike) -> FloatArray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()

    carbs = per_person(carbs_g)
    meals = MealEvents(
        person=np.arange(n),
        start_min=np.zeros(n),
        duration_min=np.full(n, float(eating_min)),
        carbs_g=carbs,
        sugars_g=per_person(0.3 * carbs if sugars_g is None else sugars_g),
        fiber_g=per_person(fiber_g),
        fat_g=per_person(fat_g),
        protein_g=per_person(protein_g),
        glycemic_index=per_person(glycemic_index),
    )
    if walk_start_min is None:
        walks = WalkEvents(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    else:
        durations = per_person(walk_duration_min)
        has_walk = np.flatnonzero(durations > 0)
        walks = WalkEvents(
            has_walk,
            per_person(walk_start_min)[has_walk],
            durations[has_walk],
            per_person(walk_steps_per_min)[has_walk],
        )
    units = np.where(people.is_type1, carbs / people.carb_ratio_g_per_unit, 0.0)
    if bolus_units is not None:
        units = np.where(people.is_type1, per_person(bolus_units), 0.0)
    bolused = np.flatnonzero(units > 0)
    # The night before ends at minute -60 so its effect (set at waking) is in force at the meal.
    hours = per_person(sleep_hours)
    sleeps = SleepEvents(np.arange(n), -60.0 - 60.0 * hours, np.full(n, -60.0))
    minutes = duration_min + 1
    schedule = LifeSchedule(
        minutes=minutes,
        meals=meals,
        walks=walks,
        boluses=BolusEvents(bolused, np.zeros(bolused.size), units[bolused]),
        sleeps=sleeps,
        background_steps_per_min=np.zeros((n, minutes // daily_life.ACTIVITY_BIN_MIN + 1)),
    )
    trajectory: Trajectory = simulate_schedule(people, schedule, record_every_min)
    return MealResponse(
        minutes=trajectory.times_min,
        plasma_glucose_mg_dl=trajectory.plasma_glucose_mg_dl,
        interstitial_glucose_mg_dl=trajectory.interstitial_glucose_mg_dl,
        baseline_mg_dl=people.glucose_basal_mg_dl.copy(),
    )
