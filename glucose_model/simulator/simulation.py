"""Integrates the meal model over a schedule of meals, insulin, activity and sleep, for P people at once.

The time loop is over minutes (RK4, 1-min step); everything inside a step is vectorised over
people, so a cohort costs about the same number of Python steps as one person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from glucose_model.simulator import daily_life, lifestyle, meal_composition, physiology
from glucose_model.simulator.daily_life import LifeSchedule, MealEvents
from glucose_model.simulator.parameters import PMOL_PER_UNIT_INSULIN, PersonParameters
from glucose_model.simulator.physiology import Compartment

FloatArray = npt.NDArray[np.float64]

# Type 1 subjects treat a low: 15 g of fast carbohydrate when plasma glucose falls below 70 mg/dL,
# at most every 20 min (the ADA "15-15 rule"); these show up as meals (glycaemic index 100).
RESCUE_THRESHOLD_MG_DL = 70.0
RESCUE_CARBS_G = 15.0
RESCUE_EVERY_MIN = 20.0
RESCUE_DURATION_MIN = 3.0
RESCUE_GLYCEMIC_INDEX = 100.0
CHUNK_MIN = daily_life.MINUTES_PER_DAY  # inputs are expanded per-minute one day at a time


@dataclass(frozen=True)
class Trajectory:
    """Sampled output of a simulation: times (N,) in minutes, glucose (P, N) in mg/dL."""

    times_min: npt.NDArray[np.int64]
    plasma_glucose_mg_dl: FloatArray
    interstitial_glucose_mg_dl: FloatArray
    rescue_meals: MealEvents  # the lows treated during the run


def _meal_minutes(meals: MealEvents) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]:
    """Expand meals into (minute, person, carbs mg/min) rows, one per minute of eating."""
    duration = np.maximum(meals.duration_min, 1.0).astype(np.int64)
    rows = np.repeat(np.arange(len(meals)), duration)
    offset = np.arange(rows.size) - np.repeat(np.cumsum(duration) - duration, duration)
    minute = meals.start_min.astype(np.int64)[rows] + offset
    rate = (meals.carbs_g * 1000.0 / duration)[rows]
    return minute, meals.person[rows], rate


def _sleep_factor_per_minute(schedule: LifeSchedule, first: int, count: int, people: int) -> FloatArray:
    """(count, P) insulin-sensitivity multiplier: set at each wake-up by the night just slept."""
    factor = np.ones((count, people))
    sleeps = schedule.sleeps
    order = np.argsort(sleeps.end_min, kind="stable")
    hours = sleeps.hours[order]
    for j in np.flatnonzero(sleeps.end_min[order] < first + count):
        p = sleeps.person[order][j]
        start = int(max(sleeps.end_min[order][j] - first, 0))
        factor[start:, p] = lifestyle.sleep_sensitivity_factor(hours[j])
    return factor


@dataclass(frozen=True)
class _Inputs:
    """Per-minute inputs of one chunk of the schedule, each (count, P)."""

    carbs_mg_per_min: FloatArray
    insulin_pmol_kg_min: FloatArray
    hr_rise_bpm: FloatArray
    sensitivity_scale: FloatArray
    meal_starts: dict[int, list[int]]  # minute within the chunk -> indices into schedule.meals


class _ScheduleInputs:
    """Expands a schedule's events into per-minute inputs, one chunk (a day) at a time."""

    def __init__(self, people: PersonParameters, schedule: LifeSchedule) -> None:
        self.people, self.schedule = people, schedule
        self.meal_minute, self.meal_person, self.meal_rate = _meal_minutes(schedule.meals)
        self.start_minute = schedule.meals.start_min.astype(np.int64)
        self.bolus_minute = schedule.boluses.start_min.astype(np.int64)
        boluses = schedule.boluses
        self.bolus_rate = boluses.units * PMOL_PER_UNIT_INSULIN / people.body_weight_kg[boluses.person]

    def chunk(self, first: int, count: int) -> _Inputs:
        n, schedule = len(self.people), self.schedule
        carbs = np.zeros((count, n))
        rows = (self.meal_minute >= first) & (self.meal_minute < first + count)
        np.add.at(carbs, (self.meal_minute[rows] - first, self.meal_person[rows]), self.meal_rate[rows])
        insulin = np.zeros((count, n))
        rows = (self.bolus_minute >= first) & (self.bolus_minute < first + count)
        np.add.at(
            insulin, (self.bolus_minute[rows] - first, schedule.boluses.person[rows]), self.bolus_rate[rows]
        )
        starts: dict[int, list[int]] = {}
        for s in np.flatnonzero((self.start_minute >= first) & (self.start_minute < first + count)):
            starts.setdefault(int(self.start_minute[s]) - first, []).append(int(s))
        return _Inputs(
            carbs_mg_per_min=carbs,
            insulin_pmol_kg_min=insulin,
            hr_rise_bpm=daily_life.heart_rate_rise_per_minute(schedule, first, count, n),
            sensitivity_scale=_sleep_factor_per_minute(schedule, first, count, n),
            meal_starts=starts,
        )


class _Eating:
    """What each subject is eating: scheduled meals under way and rescue carbohydrate for lows."""

    def __init__(self, people: PersonParameters, meals: MealEvents) -> None:
        n = len(people)
        self.people, self.meals = people, meals
        self.emptying = meal_composition.emptying_scale(meals.fat_g, meals.protein_g, meals.fiber_g)
        self.absorption = meal_composition.absorption_scale(meals.glycemic_index)
        self.rescue_absorption = float(meal_composition.absorption_scale(RESCUE_GLYCEMIC_INDEX))
        self.uneaten = np.zeros(n)  # carbohydrate of meals being eaten, not yet swallowed, mg
        self.rescue_due = np.zeros(n)  # rescue carbohydrate still to swallow, mg
        self.last_rescue = np.full(n, -np.inf)
        self.rescues: list[tuple[int, float]] = []

    def start_meals(self, x: FloatArray, drive: physiology.Drive, indices: list[int]) -> None:
        for m in indices:
            p = int(self.meals.person[m])
            pending = self.uneaten[p] + self.rescue_due[p]
            _start_meal(x, drive, p, self.meals.carbs_g[m], pending, self.emptying[m], self.absorption[m])
            self.uneaten[p] += self.meals.carbs_g[m] * 1000.0

    def treat_lows(self, x: FloatArray, drive: physiology.Drive, t: int) -> None:
        """Type 1 subjects below the threshold take rescue carbohydrate (at most every 20 min)."""
        glucose = x[Compartment.GP] / self.people.vg
        low = (
            self.people.is_type1
            & (glucose < RESCUE_THRESHOLD_MG_DL)
            & (t - self.last_rescue >= RESCUE_EVERY_MIN)
        )
        for who in np.flatnonzero(low):
            pending = self.uneaten[who] + self.rescue_due[who]
            _start_meal(x, drive, int(who), RESCUE_CARBS_G, pending, 1.0, self.rescue_absorption)
            self.rescue_due[who] += RESCUE_CARBS_G * 1000.0
            self.last_rescue[who] = t
            self.rescues.append((int(who), float(t)))

    def swallow(self, scheduled_mg_per_min: FloatArray) -> FloatArray:
        """(P,) carbohydrate swallowed this minute, mg/min: the scheduled meals plus any rescue."""
        rescue = np.minimum(self.rescue_due, RESCUE_CARBS_G * 1000.0 / RESCUE_DURATION_MIN)
        self.rescue_due -= rescue
        self.uneaten = np.maximum(self.uneaten - scheduled_mg_per_min, 0.0)
        return scheduled_mg_per_min + rescue


def simulate_schedule(
    people: PersonParameters,
    schedule: LifeSchedule,
    record_every_min: int = 5,
    on_chunk: Callable[[int], None] | None = None,
) -> Trajectory:
    """Run every subject from its basal state through `schedule`; record glucose every few minutes.

    on_chunk(minutes_done) is called after each simulated day (progress bars).
    """
    x = physiology.basal_state(people)
    drive = physiology.Drive.resting(len(people))
    inputs = _ScheduleInputs(people, schedule)
    eating = _Eating(people, schedule.meals)
    recorded_plasma, recorded_interstitial = [], []
    for first in range(0, schedule.minutes, CHUNK_MIN):
        count = min(CHUNK_MIN, schedule.minutes - first)
        chunk = inputs.chunk(first, count)
        for minute in range(count):
            t = first + minute
            if t % record_every_min == 0:
                recorded_plasma.append(x[Compartment.GP] / people.vg)
                recorded_interstitial.append(x[Compartment.GSC].copy())
            eating.start_meals(x, drive, chunk.meal_starts.get(minute, []))
            eating.treat_lows(x, drive, t)
            drive.carbs_mg_per_min = eating.swallow(chunk.carbs_mg_per_min[minute])
            drive.insulin_pmol_kg_min = chunk.insulin_pmol_kg_min[minute]
            drive.hr_rise_bpm = chunk.hr_rise_bpm[minute]
            drive.sensitivity_scale = chunk.sensitivity_scale[minute]
            x = physiology.step(x, people, drive)
        if on_chunk is not None:
            on_chunk(count)
    return Trajectory(
        times_min=np.arange(0, schedule.minutes, record_every_min, dtype=np.int64),
        plasma_glucose_mg_dl=np.stack(recorded_plasma, axis=1),
        interstitial_glucose_mg_dl=np.stack(recorded_interstitial, axis=1),
        rescue_meals=_rescue_events(eating.rescues),
    )


def _start_meal(
    x: FloatArray,
    drive: physiology.Drive,
    person: int,
    carbs_g: float,
    pending_mg: float,
    emptying: float,
    absorption: float,
) -> None:
    """A meal begins: the nonlinear emptying restarts from the whole meal on top of what is there.

    D (Dalla Man's dose) counts the stomach, the carbohydrate of earlier meals still being eaten
    (`pending_mg`) and this meal; leaving the uneaten part out would make D smaller than the stomach
    will become, which keeps emptying at its maximum (the problem simglucose's issue #41 describes).

    Composition scales of the food already in the stomach and of the new meal are mixed by
    carbohydrate mass, so a snack on a full stomach does not reset how the earlier meal empties.
    """
    in_stomach_mg = x[Compartment.QSTO1, person] + x[Compartment.QSTO2, person] + x[Compartment.QGUT, person]
    new_mg = carbs_g * 1000.0
    weight_new = new_mg / max(new_mg + in_stomach_mg, 1e-9)
    for scales, value in ((drive.emptying_scale, emptying), (drive.absorption_scale, absorption)):
        scales[person] = (1.0 - weight_new) * scales[person] + weight_new * float(value)
    drive.meal_dose_mg[person] = (
        x[Compartment.QSTO1, person] + x[Compartment.QSTO2, person] + pending_mg + new_mg
    )


def _rescue_events(rescues: list[tuple[int, float]]) -> MealEvents:
    person = np.array([p for p, _ in rescues], dtype=np.int64)
    start = np.array([t for _, t in rescues], dtype=np.float64)
    carbs = np.full(person.size, RESCUE_CARBS_G)
    return MealEvents(
        person=person,
        start_min=start,
        duration_min=np.full(person.size, RESCUE_DURATION_MIN),
        carbs_g=carbs,
        sugars_g=carbs.copy(),
        fiber_g=np.zeros(person.size),
        fat_g=np.zeros(person.size),
        protein_g=np.zeros(person.size),
        glycemic_index=np.full(person.size, RESCUE_GLYCEMIC_INDEX),
    )
