"""Simulated cohorts: people, their days and their CGM, as arrays and as canonical records.

`simulate_cohort(config)` gives both without a CSV round trip (what the response model trains on);
`cohort_files.write_cohort` writes the canonical folder. Single-meal experiments are in
`meal_experiment`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt

from glucose_model.records import (
    KIND_NAMES,
    ActivitySample,
    DiabetesKind,
    GlucoseSeries,
    InsulinDose,
    InsulinKind,
    Meal,
    RecordError,
    Recording,
    SleepPeriod,
)
from glucose_model.simulator import daily_life, lifestyle, sensor
from glucose_model.simulator.daily_life import LifeSchedule, MealEvents
from glucose_model.simulator.insulin_therapy import fit_carb_ratios
from glucose_model.simulator.parameters import PersonParameters, draw_people
from glucose_model.simulator.simulation import simulate_schedule

FloatArray = npt.NDArray[np.float64]

CGM_INTERVAL_MIN = 5


class SimulationConfigError(RecordError):
    """A simulation request that cannot be run (bad people spec, no days...)."""


def parse_people(spec: str) -> tuple[tuple[DiabetesKind, int], ...]:
    """'healthy:50,prediabetes:50,type2:50,type1:50' -> ((NONE, 50), ...); 'none' = 'healthy'."""
    groups: list[tuple[DiabetesKind, int]] = []
    for part in spec.split(","):
        name, sep, count = part.strip().partition(":")
        if not sep or name.strip().lower() not in KIND_NAMES:
            raise SimulationConfigError(
                f"cannot read {part!r} in --people: write kind:count pairs separated by commas, "
                f"kinds one of {sorted(KIND_NAMES)}, e.g. healthy:50,type1:20"
            )
        try:
            n = int(count)
        except ValueError as err:
            raise SimulationConfigError(
                f"count {count!r} for {name} in --people is not a whole number"
            ) from err
        if n < 0:
            raise SimulationConfigError(f"count for {name} in --people must be >= 0, got {n}")
        groups.append((KIND_NAMES[name.strip().lower()], n))
    if sum(n for _, n in groups) == 0:
        raise SimulationConfigError("--people asks for nobody; give at least one person, e.g. healthy:1")
    return tuple(groups)


@dataclass(frozen=True)
class CohortConfig:
    """What to simulate. Saved into the cohort README."""

    people: tuple[tuple[DiabetesKind, int], ...]  # kind and how many
    days: int = 14
    seed: int = 0
    start_local: datetime = datetime(
        2025, 3, 3, tzinfo=timezone(timedelta(hours=1))
    )  # a Monday, local midnight
    cgm_interval_min: int = CGM_INTERVAL_MIN
    # False: every person wears the default sensor. True: people cycle through sensor.SENSOR_VARIETY
    # (raw, smoothed, filtered, noisy), so a forecast trained on them sees several sensors.
    sensor_variety: bool = False

    def __post_init__(self) -> None:
        if self.days < 1:
            raise SimulationConfigError(f"--days must be at least 1, got {self.days}")
        if self.start_local.tzinfo is None:
            raise SimulationConfigError("start_local needs a UTC offset")

    @property
    def kinds(self) -> tuple[DiabetesKind, ...]:
        return tuple(kind for kind, n in self.people for _ in range(n))


@dataclass(frozen=True)
class SimulatedCohort:
    """P simulated people: their parameters, what they did, and their glucose.

    cgm_mg_dl and plasma_glucose_mg_dl are (P, N) on times_min (N,) minutes since `start_local`.
    """

    config: CohortConfig
    person_ids: tuple[str, ...]
    people: PersonParameters
    schedule: LifeSchedule
    times_min: npt.NDArray[np.int64]
    plasma_glucose_mg_dl: FloatArray
    cgm_mg_dl: FloatArray
    rescue_meals: MealEvents
    wall_time_s: float = field(default=0.0, compare=False)
    cpu_time_s: float = field(default=0.0, compare=False)  # this process; wall > cpu on a busy machine

    def time_at(self, minute: float) -> datetime:
        return self.config.start_local + timedelta(minutes=float(minute))

    def recordings(self) -> list[Recording]:
        """One canonical `Recording` per person (CGM every 5 min, meals, insulin, activity, sleep)."""
        start_s = int(self.config.start_local.timestamp())
        offset = self.config.start_local.utcoffset()
        offset_min = 0 if offset is None else int(offset.total_seconds() // 60)
        times_s = start_s + self.times_min * 60
        out = []
        for p, pid in enumerate(self.person_ids):
            series = GlucoseSeries(
                times_s.astype(np.int64),
                np.full(times_s.shape, offset_min, dtype=np.int16),
                self.cgm_mg_dl[p].astype(np.float64),
                source=f"simulated:{pid}",
            )
            out.append(
                Recording(
                    person_id=pid,
                    glucose=series,
                    kind=self.people.kind[p],
                    meals=tuple(self.meals_of(p)),
                    insulin=tuple(self.insulin_of(p)),
                    activity=tuple(self.activity_of(p)),
                    sleep=tuple(self.sleep_of(p)),
                    cohort="simulated",
                )
            )
        return out

    def all_meals(self) -> MealEvents:
        """Scheduled meals and the rescue carbohydrate eaten for lows, by person then time."""
        return _merge_meals(self.schedule.meals, self.rescue_meals)

    def meals_of(self, person: int) -> list[Meal]:
        meals = self.all_meals()
        return [
            Meal(
                time=self.time_at(meals.start_min[i]),
                carbs_g=float(meals.carbs_g[i]),
                sugars_g=float(meals.sugars_g[i]),
                fiber_g=float(meals.fiber_g[i]),
                fat_g=float(meals.fat_g[i]),
                protein_g=float(meals.protein_g[i]),
                glycemic_index=float(meals.glycemic_index[i]),
                carbs_source="simulated",
                carbs_confidence=1.0,
            )
            for i in np.flatnonzero(meals.person == person)
        ]

    def insulin_of(self, person: int) -> list[InsulinDose]:
        doses = []
        if self.people.is_type1[person]:
            daily = float(np.round(self.people.basal_units_per_day[person], 1))
            doses += [
                InsulinDose(self.time_at(d * 1440), daily, InsulinKind.BASAL) for d in range(self.config.days)
            ]
        b = self.schedule.boluses
        doses += [
            InsulinDose(self.time_at(b.start_min[i]), float(b.units[i]), InsulinKind.RAPID)
            for i in np.flatnonzero(b.person == person)
        ]
        return sorted(doses, key=lambda d: d.time)

    def activity_of(self, person: int) -> list[ActivitySample]:
        """15-min bins while awake: steps (background and walks) and mean heart rate."""
        steps_per_bin, hr_per_bin = activity_bins(self.schedule, self.people, person)
        return [
            ActivitySample(
                self.time_at(float(i * daily_life.ACTIVITY_BIN_MIN)),
                float(daily_life.ACTIVITY_BIN_MIN),
                steps=float(steps_per_bin[i]),
                heart_rate_bpm=float(hr_per_bin[i]),
            )
            for i in np.flatnonzero(steps_per_bin > 0)
        ]

    def sleep_of(self, person: int) -> list[SleepPeriod]:
        s = self.schedule.sleeps
        return [
            SleepPeriod(self.time_at(s.start_min[i]), self.time_at(s.end_min[i]))
            for i in np.flatnonzero(s.person == person)
        ]


def activity_bins(
    schedule: LifeSchedule, people: PersonParameters, person: int
) -> tuple[FloatArray, FloatArray]:
    """(bins,) whole steps per 15-min bin and mean heart rate (bpm) of one person."""
    minutes = schedule.background_steps_per_min.shape[1] * daily_life.ACTIVITY_BIN_MIN
    per_min = np.repeat(schedule.background_steps_per_min[person], daily_life.ACTIVITY_BIN_MIN)
    w = schedule.walks
    for i in np.flatnonzero(w.person == person):
        lo, hi = int(w.start_min[i]), int(min(w.start_min[i] + w.duration_min[i], minutes))
        per_min[lo:hi] = w.steps_per_min[i]
    bins = per_min.reshape(-1, daily_life.ACTIVITY_BIN_MIN)
    hr = people.heart_rate_rest_bpm[person] + lifestyle.heart_rate_rise_from_steps(bins).mean(axis=1)
    return np.round(bins.sum(axis=1)), np.round(hr, 1)


def _merge_meals(a: MealEvents, b: MealEvents) -> MealEvents:
    names = [f for f in MealEvents.__dataclass_fields__]
    joined = {n: np.concatenate([getattr(a, n), getattr(b, n)]) for n in names}
    order = np.lexsort((joined["start_min"], joined["person"]))
    return MealEvents(**{n: v[order] for n, v in joined.items()})


def simulate_cohort(
    config: CohortConfig, on_progress: Callable[[int], None] | None = None
) -> SimulatedCohort:
    """Draw people and their days from `config.seed`, integrate, and pass glucose through the sensor.

    on_progress(minutes) is called as simulated time advances (total = days * 1440).
    """
    started, started_cpu = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(config.seed)
    people = fit_carb_ratios(draw_people(config.kinds, rng), rng)
    schedule = daily_life.draw_schedule(people, config.days, rng)
    trajectory = simulate_schedule(people, schedule, config.cgm_interval_min, on_chunk=on_progress)
    if config.sensor_variety:
        cgm = sensor.varied_cgm_readings(trajectory.interstitial_glucose_mg_dl, rng)
    else:
        cgm = sensor.cgm_readings(trajectory.interstitial_glucose_mg_dl, rng)
    counters: dict[DiabetesKind, int] = {}
    ids = []
    for kind in people.kind:
        counters[kind] = counters.get(kind, 0) + 1
        ids.append(f"sim-{kind.value}-{counters[kind]:03d}")
    return SimulatedCohort(
        config=config,
        person_ids=tuple(ids),
        people=people,
        schedule=schedule,
        times_min=trajectory.times_min,
        plasma_glucose_mg_dl=trajectory.plasma_glucose_mg_dl,
        cgm_mg_dl=cgm,
        rescue_meals=trajectory.rescue_meals,
        wall_time_s=time.perf_counter() - started,
        cpu_time_s=time.process_time() - started_cpu,
    )


def draw_subjects(kinds: Sequence[DiabetesKind], seed: int = 0) -> PersonParameters:
    """Virtual subjects of the given kinds, reproducibly, type 1 carb ratios titrated (experiments, tests)."""
    rng = np.random.default_rng(seed)
    return fit_carb_ratios(draw_people(kinds, rng), rng)
