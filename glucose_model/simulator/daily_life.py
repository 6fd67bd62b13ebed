"""A virtual subject's days: sleep, meals and snacks, walks, background steps and (type 1) insulin.

Everything is drawn vectorised over people, one day and one meal slot at a time; times are
minutes since the start of the simulation (local midnight of day 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from glucose_model.simulator import lifestyle
from glucose_model.simulator.parameters import CARB_COUNT_ERROR_CV, PersonParameters

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MINUTES_PER_DAY = 1440
ACTIVITY_BIN_MIN = 15  # background steps are drawn and written per 15-min bin, like a phone's step log

# Meal slots: (name, mean local time in min, sd min, probability, median carbs g, carbs log-sd).
# Carbohydrate per main meal ~60 g median, 20-120 g (NHANES adult intake ~250 g/day over 3 meals
# and snacks); snacks 10-40 g.
MEAL_SLOTS: tuple[tuple[str, float, float, float, float, float], ...] = (
    ("breakfast", -1.0, 0.0, 0.95, 50.0, 0.35),  # mean -1: 30-60 min after waking
    ("morning snack", 10.5 * 60, 40.0, 0.30, 20.0, 0.35),
    ("lunch", 12.75 * 60, 40.0, 0.95, 65.0, 0.35),
    ("afternoon snack", 16.0 * 60, 45.0, 0.45, 22.0, 0.35),
    ("dinner", 19.25 * 60, 50.0, 0.97, 70.0, 0.35),
    ("evening snack", 21.5 * 60, 30.0, 0.20, 18.0, 0.35),
)
MAIN_MEAL_CARBS_RANGE_G = (20.0, 120.0)
SNACK_CARBS_RANGE_G = (8.0, 45.0)
EATING_MIN_RANGE = (8.0, 20.0)
WALK_PROBABILITY_AFTER_MAIN_MEAL = 0.35
WALK_DURATION_MIN_RANGE = (10.0, 30.0)
WALK_DELAY_AFTER_MEAL_MIN_RANGE = (0.0, 30.0)  # from the end of eating
# mean, sd: ~100 steps/min marks moderate-intensity walking (Tudor-Locke et al. 2011)
WALK_CADENCE_STEPS_PER_MIN = (100.0, 12.0)
BACKGROUND_STEPS_PER_MIN_MEDIAN = 6.0  # ~5,500 steps over 16 waking hours before walks
SLEEP_HOURS_MEAN_SD_RANGE = (7.0, 1.0, 5.0, 9.0)
BEDTIME_MEAN_SD_MIN = (23.0 * 60, 45.0)
# Type 1 bolus behaviour: missed in 5 % of meals (missed meal boluses are common, e.g. Burdick et
# al. 2004 in young pump users; 5 % is a conservative rate for adults), given -10..+15 min around
# the meal start.
BOLUS_MISSED_PROBABILITY = 0.05
BOLUS_TIMING_RANGE_MIN = (-10.0, 15.0)


@dataclass(frozen=True)
class MealEvents:
    """M meals, each field (M,)."""

    person: IntArray
    start_min: FloatArray
    duration_min: FloatArray
    carbs_g: FloatArray
    sugars_g: FloatArray
    fiber_g: FloatArray
    fat_g: FloatArray
    protein_g: FloatArray
    glycemic_index: FloatArray

    def __len__(self) -> int:
        return int(self.person.shape[0])


@dataclass(frozen=True)
class WalkEvents:
    person: IntArray
    start_min: FloatArray
    duration_min: FloatArray
    steps_per_min: FloatArray


@dataclass(frozen=True)
class BolusEvents:
    person: IntArray
    start_min: FloatArray
    units: FloatArray


@dataclass(frozen=True)
class SleepEvents:
    person: IntArray
    start_min: FloatArray
    end_min: FloatArray

    @property
    def hours(self) -> FloatArray:
        return (self.end_min - self.start_min) / 60.0


@dataclass(frozen=True)
class LifeSchedule:
    """Everything that happens to P people over `minutes` minutes."""

    minutes: int
    meals: MealEvents
    walks: WalkEvents
    boluses: BolusEvents
    sleeps: SleepEvents
    background_steps_per_min: FloatArray  # (P, minutes // ACTIVITY_BIN_MIN), 0 while asleep


def draw_meal_composition(carbs_g: FloatArray, rng: np.random.Generator) -> dict[str, FloatArray]:
    """Sugars, fibre, fat, protein and glycaemic index for meals of the given carbohydrate.

    Shares follow typical mixed Western meals: sugars 10-50 % of carbohydrate, fibre 2-12 %,
    fat and protein 0.1-0.6 g per g carbohydrate; GI 35-95, higher with sugar, lower with fibre.
    """
    n = carbs_g.shape[0]
    sugars_share = rng.uniform(0.10, 0.50, n)
    fiber_share = rng.uniform(0.02, 0.12, n)
    fat_per_carb = rng.uniform(0.10, 0.60, n)
    protein_per_carb = rng.uniform(0.10, 0.60, n)
    gi = 55.0 + 60.0 * (sugars_share - 0.30) - 150.0 * (fiber_share - 0.07) + rng.normal(0.0, 8.0, n)
    return {
        "sugars_g": carbs_g * sugars_share,
        "fiber_g": carbs_g * fiber_share,
        "fat_g": carbs_g * fat_per_carb,
        "protein_g": carbs_g * protein_per_carb,
        "glycemic_index": np.clip(gi, 35.0, 95.0),
    }


def _sleep_hours(rng: np.random.Generator, n: int) -> FloatArray:
    mean, sd, low, high = SLEEP_HOURS_MEAN_SD_RANGE
    return np.clip(rng.normal(mean, sd, n), low, high)


def draw_schedule(people: PersonParameters, days: int, rng: np.random.Generator) -> LifeSchedule:
    """Draw `days` days of ordinary life for every subject.

    Longer than a screen because a day is drawn in order (the night before sets the breakfast time,
    meals set the walks, bedtime bounds the snacks); split up, that order would be lost.
    """
    n = len(people)
    minutes = days * MINUTES_PER_DAY
    person = np.arange(n)
    meal_parts: list[dict[str, FloatArray]] = []
    walk_parts: list[tuple[IntArray, FloatArray, FloatArray, FloatArray]] = []
    sleep_parts: list[tuple[IntArray, FloatArray, FloatArray]] = []
    awake = np.zeros((n, minutes // ACTIVITY_BIN_MIN), dtype=bool)
    # The night before day 0 ends at the first wake-up; each later night starts at a drawn bedtime.
    wake = np.round(7.0 * 60 + rng.normal(0.0, 40.0, n))
    sleep_parts.append((person, wake - np.round(60.0 * _sleep_hours(rng, n)), wake))
    for day in range(days):
        day_start = day * MINUTES_PER_DAY
        bedtime = np.round(day_start + rng.normal(*BEDTIME_MEAN_SD_MIN, n))
        next_wake = bedtime + np.round(60.0 * _sleep_hours(rng, n))
        sleep_parts.append((person, bedtime, next_wake))
        for name, mean_min, sd_min, probability, median_g, log_sd in MEAL_SLOTS:
            happens = rng.random(n) < probability
            if mean_min < 0:
                start = wake + rng.uniform(30.0, 60.0, n)
            else:
                start = day_start + rng.normal(mean_min, sd_min, n)
            # Meals only while awake (a late dinner moves bedtime's meal before it).
            happens &= (start > wake) & (start < bedtime - 20.0)
            is_snack = "snack" in name
            low, high = SNACK_CARBS_RANGE_G if is_snack else MAIN_MEAL_CARBS_RANGE_G
            carbs = np.clip(median_g * np.exp(log_sd * rng.standard_normal(n)), low, high)
            idx = np.flatnonzero(happens)
            duration = rng.uniform(*EATING_MIN_RANGE, n)[idx] * (0.5 if is_snack else 1.0)
            composition = draw_meal_composition(carbs[idx], rng)
            meal_parts.append(
                {
                    "person": idx.astype(np.float64),
                    "start_min": np.round(start[idx]),
                    "duration_min": np.round(duration),
                    "carbs_g": np.round(carbs[idx], 1),
                    **{k: np.round(v, 1) for k, v in composition.items()},
                }
            )
            if not is_snack:
                walks = idx[rng.random(idx.size) < WALK_PROBABILITY_AFTER_MAIN_MEAL]
                walk_start = start[walks] + duration[np.searchsorted(idx, walks)]
                walk_start = walk_start + rng.uniform(*WALK_DELAY_AFTER_MEAL_MIN_RANGE, walks.size)
                walk_parts.append(
                    (
                        walks,
                        np.round(walk_start),
                        np.round(rng.uniform(*WALK_DURATION_MIN_RANGE, walks.size)),
                        np.clip(rng.normal(*WALK_CADENCE_STEPS_PER_MIN, walks.size), 70.0, 130.0),
                    )
                )
        first_bin = np.clip(wake // ACTIVITY_BIN_MIN, 0, awake.shape[1]).astype(np.int64)
        last_bin = np.clip(bedtime // ACTIVITY_BIN_MIN, 0, awake.shape[1]).astype(np.int64)
        bins = np.arange(awake.shape[1])
        awake |= (bins[None, :] >= first_bin[:, None]) & (bins[None, :] < last_bin[:, None])
        wake = next_wake
    meals = _concat_meals(meal_parts)
    background = awake * BACKGROUND_STEPS_PER_MIN_MEDIAN * np.exp(0.8 * rng.standard_normal(awake.shape))
    sleeps = SleepEvents(*(np.concatenate(part) for part in zip(*sleep_parts, strict=True)))
    walks_all = [np.concatenate(part) for part in zip(*walk_parts, strict=True)]
    return LifeSchedule(
        minutes=minutes,
        meals=meals,
        walks=WalkEvents(walks_all[0].astype(np.int64), *walks_all[1:]),
        boluses=draw_boluses(people, meals, rng),
        sleeps=SleepEvents(sleeps.person.astype(np.int64), sleeps.start_min, sleeps.end_min),
        background_steps_per_min=background,
    )


def _concat_meals(parts: list[dict[str, FloatArray]]) -> MealEvents:
    joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((joined["start_min"], joined["person"]))
    joined = {k: v[order] for k, v in joined.items()}
    return MealEvents(**{**joined, "person": joined["person"].astype(np.int64)})


def draw_boluses(people: PersonParameters, meals: MealEvents, rng: np.random.Generator) -> BolusEvents:
    """Type 1 meal boluses: counted carbohydrate (log-normal miscount) over the carb ratio, some missed."""
    is_type1 = people.is_type1[meals.person]
    idx = np.flatnonzero(is_type1 & (rng.random(len(meals)) >= BOLUS_MISSED_PROBABILITY))
    sigma = np.sqrt(np.log1p(CARB_COUNT_ERROR_CV**2))
    counted_g = meals.carbs_g[idx] * np.exp(sigma * rng.standard_normal(idx.size) - 0.5 * sigma * sigma)
    units = counted_g / people.carb_ratio_g_per_unit[meals.person[idx]]
    # Pens dose in half units.
    units = np.round(units * 2.0) / 2.0
    start = meals.start_min[idx] + np.round(rng.uniform(*BOLUS_TIMING_RANGE_MIN, idx.size))
    keep = units > 0
    return BolusEvents(meals.person[idx][keep], np.maximum(start[keep], 0.0), units[keep])


def heart_rate_rise_per_minute(
    schedule: LifeSchedule, first_min: int, count_min: int, people: int
) -> FloatArray:
    """(count_min, P) bpm above rest from background steps and walks."""
    bins = (np.arange(first_min, first_min + count_min) // ACTIVITY_BIN_MIN).clip(
        0, schedule.background_steps_per_min.shape[1] - 1
    )
    steps = schedule.background_steps_per_min[:, bins].T.copy()  # (count_min, P)
    walks = schedule.walks
    for w in np.flatnonzero(
        (walks.start_min < first_min + count_min) & (walks.start_min + walks.duration_min > first_min)
    ):
        lo = int(max(walks.start_min[w] - first_min, 0))
        hi = int(min(walks.start_min[w] + walks.duration_min[w] - first_min, count_min))
        steps[lo:hi, walks.person[w]] = walks.steps_per_min[w]
    return lifestyle.heart_rate_rise_from_steps(steps)
