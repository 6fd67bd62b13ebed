"""The one definition of the response model's inputs: a meal in its context -> arrays.

Training, evaluation and serving all call `build_inputs`; the names, units and order written here
go into the ONNX metadata, so a phone build can rebuild the same arrays without this code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from glucose_model.metrics import BASELINE_WINDOW_MIN
from glucose_model.records import (
    ActivitySample,
    DiabetesKind,
    GlucoseSeries,
    InsufficientCgmError,
    InsulinDose,
    InsulinKind,
    Meal,
    RecordError,
    SleepPeriod,
)
from glucose_model.resample import GRID_STEP_MIN, resample_to_grid
from glucose_model.windows import PRE_MEAL_MIN, MealWindow, glucose_around, window_minutes

# The model sees the pre-meal part of a `windows.MealWindow`: 37 grid points at -180, -175, ..., 0 min,
# minute 0 being the grid time nearest the meal; the baseline is `metrics.meal_response`'s.
CGM_POINTS = PRE_MEAL_MIN // GRID_STEP_MIN + 1
CURVE_HORIZON_MIN = 180
CURVE_MINUTES = np.arange(0, CURVE_HORIZON_MIN + 1, GRID_STEP_MIN)  # (37,) 0, 5, ..., 180 min
QUANTILES = (0.1, 0.5, 0.9)
TREND_WINDOW_MIN = 30  # the pre-meal trend is the least-squares slope of the last 30 min
# Of the 12 grid points of the last hour (before a meal, or before a forecast's origin: forecast.py
# imports it); fewer is not enough to start from. A 15-min sensor interpolated onto the grid covers all 12.
MIN_VALID_LAST_HOUR = 6
INSULIN_WINDOW_MIN = 30  # rapid insulin within +-30 min of the meal counts as the meal bolus
WALK_STEPS_PER_MIN = 60.0  # activity at or above this cadence after a meal counts as a walk
WALK_WINDOW_MIN = 60  # a walk must start within this long after the meal to count as "planned"
SLEEP_LOOKBACK_H = 18  # "last night" = sleep that ended within 18 h before the meal
LAST_MEAL_LOOKBACK_H = 24

# The inputs of the ONNX model, in order. Units are part of the contract.
INPUT_CGM = "cgm_rel_mg_dl"  # (B, 37) CGM minus the pre-meal baseline, 0 where masked
INPUT_CGM_MASK = "cgm_mask"  # (B, 37) 1 where the grid point has a (measured or interpolated) value
INPUT_FEATURES = "features"  # (B, F) the FEATURES below, in natural units


@dataclass(frozen=True)
class Feature:
    """One column of the `features` input: natural unit, and how the network normalises it."""

    name: str
    unit: str
    center: float  # the network sees (value - center) / scale
    scale: float
    group: str  # the explanation factor group it belongs to


# Factor groups of the explanation; "person" (kind, threshold) is never swapped for the reference.
GROUP_CARBS = "carbohydrate amount"
GROUP_COMPOSITION = "meal composition"
GROUP_GLUCOSE = "pre-meal glucose level and trend"
GROUP_ACTIVITY = "activity"
GROUP_TIMING = "timing and sleep"
GROUP_INSULIN = "insulin"
GROUP_PERSON = "person"
FACTOR_GROUPS = (GROUP_CARBS, GROUP_COMPOSITION, GROUP_GLUCOSE, GROUP_ACTIVITY, GROUP_TIMING, GROUP_INSULIN)

FEATURES: tuple[Feature, ...] = (
    Feature("baseline_glucose_mg_dl", "mg/dL", 140.0, 50.0, GROUP_GLUCOSE),
    Feature("trend_mg_dl_per_min", "mg/dL/min", 0.0, 1.0, GROUP_GLUCOSE),
    Feature("carbs_g", "g", 50.0, 40.0, GROUP_CARBS),
    Feature("carbs_spread_g", "g (half the p10-p90 photo interval)", 0.0, 20.0, GROUP_CARBS),
    Feature("carbs_spread_known", "0/1", 0.0, 1.0, GROUP_CARBS),
    Feature("sugars_g", "g", 0.0, 20.0, GROUP_COMPOSITION),
    Feature("sugars_known", "0/1", 0.0, 1.0, GROUP_COMPOSITION),
    Feature("fiber_g", "g", 0.0, 6.0, GROUP_COMPOSITION),
    Feature("fiber_known", "0/1", 0.0, 1.0, GROUP_COMPOSITION),
    Feature("fat_g", "g", 0.0, 20.0, GROUP_COMPOSITION),
    Feature("fat_known", "0/1", 0.0, 1.0, GROUP_COMPOSITION),
    Feature("protein_g", "g", 0.0, 25.0, GROUP_COMPOSITION),
    Feature("protein_known", "0/1", 0.0, 1.0, GROUP_COMPOSITION),
    Feature("glycemic_index", "0-100 (glucose = 100)", 55.0, 20.0, GROUP_COMPOSITION),
    Feature("glycemic_index_known", "0/1", 0.0, 1.0, GROUP_COMPOSITION),
    Feature("time_of_day_sin", "sin(2 pi local minute / 1440)", 0.0, 1.0, GROUP_TIMING),
    Feature("time_of_day_cos", "cos(2 pi local minute / 1440)", 0.0, 1.0, GROUP_TIMING),
    Feature("minutes_since_last_meal", "min", 240.0, 180.0, GROUP_TIMING),
    Feature("last_meal_carbs_g", "g", 0.0, 50.0, GROUP_TIMING),
    Feature("last_meal_known", "0/1", 0.0, 1.0, GROUP_TIMING),
    Feature("sleep_hours", "h (last night)", 7.0, 2.0, GROUP_TIMING),
    Feature("sleep_known", "0/1", 0.0, 1.0, GROUP_TIMING),
    Feature("steps_hour_before", "steps in the 60 min before the meal", 0.0, 2000.0, GROUP_ACTIVITY),
    Feature("steps_known", "0/1", 0.0, 1.0, GROUP_ACTIVITY),
    Feature("heart_rate_bpm_hour_before", "bpm (mean of the 60 min before)", 75.0, 15.0, GROUP_ACTIVITY),
    Feature("heart_rate_known", "0/1", 0.0, 1.0, GROUP_ACTIVITY),
    Feature(
        "planned_walk_min", "min of walking starting within 60 min after the meal", 0.0, 15.0, GROUP_ACTIVITY
    ),
    Feature("planned_walk_known", "0/1", 0.0, 1.0, GROUP_ACTIVITY),
    Feature("rapid_insulin_units", "U (rapid-acting, within +-30 min of the meal)", 0.0, 5.0, GROUP_INSULIN),
    Feature("insulin_known", "0/1", 0.0, 1.0, GROUP_INSULIN),
    Feature("kind_none", "0/1", 0.0, 1.0, GROUP_PERSON),
    Feature("kind_prediabetes", "0/1", 0.0, 1.0, GROUP_PERSON),
    Feature("kind_type2", "0/1", 0.0, 1.0, GROUP_PERSON),
    Feature("kind_type1", "0/1", 0.0, 1.0, GROUP_PERSON),
    Feature("kind_known", "0/1", 0.0, 1.0, GROUP_PERSON),
    Feature("spike_threshold_mg_dl", "mg/dL", 160.0, 20.0, GROUP_PERSON),
)
# Each "known" bit and the value columns it vouches for.
KNOWN_BITS: dict[str, tuple[str, ...]] = {
    "carbs_spread_known": ("carbs_spread_g",),
    "sugars_known": ("sugars_g",),
    "fiber_known": ("fiber_g",),
    "fat_known": ("fat_g",),
    "protein_known": ("protein_g",),
    "glycemic_index_known": ("glycemic_index",),
    "last_meal_known": ("minutes_since_last_meal", "last_meal_carbs_g"),
    "sleep_known": ("sleep_hours",),
    "steps_known": ("steps_hour_before",),
    "heart_rate_known": ("heart_rate_bpm_hour_before",),
    "planned_walk_known": ("planned_walk_min",),
    "insulin_known": ("rapid_insulin_units",),
}
FEATURE_NAMES = tuple(f.name for f in FEATURES)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_FEATURES = len(FEATURES)
# The network is monotone in these by construction (more carbs -> higher, walk/insulin -> lower).
CARBS_INDEX = FEATURE_INDEX["carbs_g"]
WALK_INDEX = FEATURE_INDEX["planned_walk_min"]
INSULIN_INDEX = FEATURE_INDEX["rapid_insulin_units"]
# Unknown kind: warn at the lower threshold rather than miss a spike.
UNKNOWN_KIND_SPIKE_THRESHOLD_MG_DL = DiabetesKind.NONE.spike_threshold_mg_dl


@dataclass(frozen=True)
class MealContext:
    """Everything known about one meal, as canonical records; optional parts may be empty/None."""

    meal: Meal
    glucose: GlucoseSeries  # recent CGM, at least the last hour before the meal
    kind: DiabetesKind | None = None
    activity: tuple[ActivitySample, ...] = ()
    planned_walk_min: float | None = None
    insulin: tuple[InsulinDose, ...] = ()  # empty = insulin not known (not "none taken")
    sleep_hours: float | None = None
    previous_meals: tuple[Meal, ...] = ()

    def __post_init__(self) -> None:
        if self.planned_walk_min is not None and not (
            np.isfinite(self.planned_walk_min) and 0 <= self.planned_walk_min <= 600
        ):
            raise RecordError(f"planned walk must be 0-600 min, got {self.planned_walk_min}")
        if self.sleep_hours is not None and not (
            np.isfinite(self.sleep_hours) and 0 <= self.sleep_hours <= 24
        ):
            raise RecordError(f"sleep hours must be 0-24, got {self.sleep_hours}")


@dataclass(frozen=True)
class ModelInputs:
    """The arrays the ONNX model takes, one row per meal (or per explanation coalition)."""

    cgm_rel_mg_dl: npt.NDArray[np.float32]  # (B, 37)
    cgm_mask: npt.NDArray[np.float32]  # (B, 37)
    features: npt.NDArray[np.float32]  # (B, F)

    def as_feed(self) -> dict[str, npt.NDArray[np.float32]]:
        return {INPUT_CGM: self.cgm_rel_mg_dl, INPUT_CGM_MASK: self.cgm_mask, INPUT_FEATURES: self.features}

    @staticmethod
    def concatenate(parts: Sequence[ModelInputs]) -> ModelInputs:
        return ModelInputs(
            np.concatenate([p.cgm_rel_mg_dl for p in parts]),
            np.concatenate([p.cgm_mask for p in parts]),
            np.concatenate([p.features for p in parts]),
        )


@dataclass(frozen=True)
class PreMealGlucose:
    """The pre-meal CGM on the grid ending at the meal."""

    glucose_mg_dl: npt.NDArray[np.float64]  # (37,) at -180..0 min, NaN where there is no value
    baseline_mg_dl: float
    trend_mg_dl_per_min: float


def glucose_window(glucose: GlucoseSeries, meal_time: datetime) -> npt.NDArray[np.float64]:
    """(73,) CGM on the 5-min grid at -180..180 min around the meal (`windows.glucose_around`), NaN = gap."""
    if len(glucose) == 0:
        return np.full(window_minutes().shape[0], np.nan)
    return glucose_around(resample_to_grid(glucose), int(meal_time.timestamp()))


def pre_meal_glucose(glucose: GlucoseSeries, meal_time: datetime) -> PreMealGlucose:
    """The 3 h before the meal on the grid, with the baseline and trend the curve is relative to."""
    minutes_all = window_minutes()
    values = glucose_window(glucose, meal_time)[minutes_all <= 0]  # (37,)
    return pre_meal_from_grid(values)


def pre_meal_from_grid(values: npt.NDArray[np.float64]) -> PreMealGlucose:
    """Baseline and trend of (37,) grid values at -180..0 min (NaN = gap)."""
    minutes = np.arange(-(CGM_POINTS - 1), 1) * GRID_STEP_MIN  # (37,) -180..0
    valid = np.isfinite(values)
    last_hour = minutes > -60
    if int(valid[last_hour].sum()) < MIN_VALID_LAST_HOUR:
        raise InsufficientCgmError(
            f"the hour before the meal has {int(valid[last_hour].sum())} of 12 CGM points on the 5-min grid; "
            f"send at least {MIN_VALID_LAST_HOUR} (the last 60 min of CGM readings before the meal)"
        )
    in_baseline = valid & (minutes >= -BASELINE_WINDOW_MIN)
    if not in_baseline.any():
        raise InsufficientCgmError(
            f"no CGM reading in the {BASELINE_WINDOW_MIN} min before the meal; send the most recent readings"
        )
    baseline = float(values[in_baseline].mean())
    in_trend = valid & (minutes >= -TREND_WINDOW_MIN)
    trend = 0.0
    if int(in_trend.sum()) >= 2:
        trend = float(np.polyfit(minutes[in_trend].astype(np.float64), values[in_trend], 1)[0])
    return PreMealGlucose(values, baseline, trend)


def hour_before(activity: Sequence[ActivitySample], meal_time: datetime) -> tuple[float | None, float | None]:
    """(steps, mean heart rate) over the 60 min before the meal; None where no sample says."""
    start = meal_time - timedelta(minutes=60)
    steps, hr_weighted, hr_minutes = 0.0, 0.0, 0.0
    steps_seen = False
    for sample in activity:
        sample_end = sample.time + timedelta(minutes=sample.duration_min)
        overlap_min = (min(sample_end, meal_time) - max(sample.time, start)).total_seconds() / 60.0
        if overlap_min <= 0:
            continue
        share = overlap_min / sample.duration_min  # steps are prorated to the part inside the hour
        if sample.steps is not None:
            steps += sample.steps * share
            steps_seen = True
        if sample.heart_rate_bpm is not None:
            hr_weighted += sample.heart_rate_bpm * overlap_min
            hr_minutes += overlap_min
    return (steps if steps_seen else None), (hr_weighted / hr_minutes if hr_minutes > 0 else None)


def walk_minutes_after(activity: Sequence[ActivitySample], meal_time: datetime) -> float:
    """Minutes of walking (cadence >= WALK_STEPS_PER_MIN) starting within WALK_WINDOW_MIN after the meal.

    Used to label recorded meals with the `planned_walk_min` the app would have sent.
    """
    end = meal_time + timedelta(minutes=WALK_WINDOW_MIN)
    total = 0.0
    for sample in activity:
        if sample.steps is None or not (meal_time <= sample.time < end):
            continue
        if sample.steps / sample.duration_min >= WALK_STEPS_PER_MIN:
            total += sample.duration_min
    return total


def sleep_hours_before(sleep: Sequence[SleepPeriod], meal_time: datetime) -> float | None:
    """Hours slept in periods that ended within SLEEP_LOOKBACK_H before the meal; None if none."""
    lookback = meal_time - timedelta(hours=SLEEP_LOOKBACK_H)
    hours = [p.hours for p in sleep if lookback <= p.end <= meal_time]
    return float(sum(hours)) if hours else None


def rapid_insulin_units(insulin: Sequence[InsulinDose], meal_time: datetime) -> float | None:
    """Rapid insulin within +-30 min of the meal; None when no insulin record was sent at all."""
    if not insulin:
        return None
    window = timedelta(minutes=INSULIN_WINDOW_MIN)
    return float(
        sum(
            d.units
            for d in insulin
            if d.kind == InsulinKind.RAPID and meal_time - window <= d.time <= meal_time + window
        )
    )


def spike_threshold_mg_dl(kind: DiabetesKind | None) -> float:
    return UNKNOWN_KIND_SPIKE_THRESHOLD_MG_DL if kind is None else kind.spike_threshold_mg_dl


def last_meal(context: MealContext) -> Meal | None:
    """The latest earlier meal within LAST_MEAL_LOOKBACK_H before this one; None if none."""
    earlier = [
        m
        for m in context.previous_meals
        if timedelta(0) < context.meal.time - m.time <= timedelta(hours=LAST_MEAL_LOOKBACK_H)
    ]
    return max(earlier, key=lambda m: m.time) if earlier else None


def _optional(row: npt.NDArray[np.float32], name: str, known_name: str, value: float | None) -> None:
    # Missing values stay 0 in the value column, but the known bit says so: never a silent zero.
    row[FEATURE_INDEX[name]] = 0.0 if value is None else value
    row[FEATURE_INDEX[known_name]] = 0.0 if value is None else 1.0


def feature_row(context: MealContext, pre_meal: PreMealGlucose) -> npt.NDArray[np.float32]:
    """(F,) the `features` input for one meal."""
    meal = context.meal
    row = np.zeros(N_FEATURES, np.float32)
    row[FEATURE_INDEX["baseline_glucose_mg_dl"]] = pre_meal.baseline_mg_dl
    row[FEATURE_INDEX["trend_mg_dl_per_min"]] = pre_meal.trend_mg_dl_per_min
    row[CARBS_INDEX] = meal.carbs_g
    spread = None
    if meal.carbs_p10_g is not None and meal.carbs_p90_g is not None:
        if meal.carbs_p90_g < meal.carbs_p10_g:
            raise RecordError(f"carbs_p90_g ({meal.carbs_p90_g}) is below carbs_p10_g ({meal.carbs_p10_g})")
        spread = (meal.carbs_p90_g - meal.carbs_p10_g) / 2.0
    _optional(row, "carbs_spread_g", "carbs_spread_known", spread)
    _optional(row, "sugars_g", "sugars_known", meal.sugars_g)
    _optional(row, "fiber_g", "fiber_known", meal.fiber_g)
    _optional(row, "fat_g", "fat_known", meal.fat_g)
    _optional(row, "protein_g", "protein_known", meal.protein_g)
    _optional(row, "glycemic_index", "glycemic_index_known", meal.glycemic_index)
    # An aware datetime carries the local wall-clock time of the meal itself.
    local_min = meal.time.hour * 60 + meal.time.minute + meal.time.second / 60.0
    angle = 2 * np.pi * local_min / 1440.0
    row[FEATURE_INDEX["time_of_day_sin"]] = np.sin(angle)
    row[FEATURE_INDEX["time_of_day_cos"]] = np.cos(angle)
    last = last_meal(context)
    row[FEATURE_INDEX["minutes_since_last_meal"]] = (
        0.0 if last is None else (meal.time - last.time).total_seconds() / 60.0
    )
    _optional(row, "last_meal_carbs_g", "last_meal_known", None if last is None else last.carbs_g)
    _optional(row, "sleep_hours", "sleep_known", context.sleep_hours)
    steps, heart_rate = hour_before(context.activity, meal.time)
    _optional(row, "steps_hour_before", "steps_known", steps)
    _optional(row, "heart_rate_bpm_hour_before", "heart_rate_known", heart_rate)
    _optional(row, "planned_walk_min", "planned_walk_known", context.planned_walk_min)
    _optional(row, "rapid_insulin_units", "insulin_known", rapid_insulin_units(context.insulin, meal.time))
    if context.kind is not None:
        row[FEATURE_INDEX[f"kind_{context.kind.value}"]] = 1.0
        row[FEATURE_INDEX["kind_known"]] = 1.0
    row[FEATURE_INDEX["spike_threshold_mg_dl"]] = spike_threshold_mg_dl(context.kind)
    return row


def build_inputs(contexts: Sequence[MealContext]) -> ModelInputs:
    """The model inputs for a batch of meals (raises InsufficientCgmError / RecordError on bad input)."""
    n = len(contexts)
    cgm = np.zeros((n, CGM_POINTS), np.float32)  # (B, 37)
    mask = np.zeros((n, CGM_POINTS), np.float32)  # (B, 37)
    features = np.zeros((n, N_FEATURES), np.float32)  # (B, F)
    for i, context in enumerate(contexts):
        pre_meal = pre_meal_glucose(context.glucose, context.meal.time)
        valid = np.isfinite(pre_meal.glucose_mg_dl)
        cgm[i, valid] = pre_meal.glucose_mg_dl[valid] - pre_meal.baseline_mg_dl
        mask[i] = valid
        features[i] = feature_row(context, pre_meal)
    return ModelInputs(cgm, mask, features)


def measured_rise_mg_dl(
    glucose: GlucoseSeries, meal_time: datetime, baseline_mg_dl: float
) -> npt.NDArray[np.float64]:
    """(37,) measured glucose minus the pre-meal baseline at 0..180 min, NaN where there is no value."""
    return glucose_window(glucose, meal_time)[window_minutes() >= 0] - baseline_mg_dl


def context_from_window(window: MealWindow, insulin_recorded: bool) -> MealContext:
    """The request the app would have sent for a recorded meal (what training and evaluation use).

    Only the CGM up to minute 0 is kept. The walk is read from the activity recorded after the meal;
    `insulin_recorded` says the cohort logs insulin, so no dose near the meal means none was taken.
    """
    pre = window.minutes <= 0
    centre_s = int(np.floor(window.meal.time.timestamp() / (GRID_STEP_MIN * 60) + 0.5)) * GRID_STEP_MIN * 60
    keep = pre & np.isfinite(window.glucose_mg_dl)
    offset_min = int(window.meal.time.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    glucose = GlucoseSeries(
        centre_s + window.minutes[keep] * 60,
        np.full(int(keep.sum()), offset_min, np.int16),
        window.glucose_mg_dl[keep],
        "window",
    )
    activity_before = tuple(a for a in window.activity if a.time < window.meal.time)
    insulin = window.insulin
    if insulin_recorded and rapid_insulin_units(insulin, window.meal.time) is None:
        insulin = (InsulinDose(window.meal.time, 0.0),)  # recorded as nothing taken, not unknown
    has_steps = any(a.steps is not None for a in window.activity)
    return MealContext(
        meal=window.meal,
        glucose=glucose,
        kind=window.kind,
        activity=activity_before,
        planned_walk_min=walk_minutes_after(window.activity, window.meal.time) if has_steps else None,
        insulin=insulin,
        sleep_hours=sleep_hours_before(window.sleep, window.meal.time),
        previous_meals=(window.previous_meal,) if window.previous_meal is not None else (),
    )


def metadata_inputs() -> dict[str, object]:
    """The `inputs` entry of the ONNX metadata: names, shapes, units and feature order."""
    return {
        INPUT_CGM: {
            "shape": ["batch", CGM_POINTS],
            "unit": "mg/dL relative to the pre-meal baseline; 0 where masked",
            "minutes": [int(m) for m in window_minutes() if m <= 0],
            "baseline": f"mean CGM of the last {BASELINE_WINDOW_MIN} min before the meal",
        },
        INPUT_CGM_MASK: {"shape": ["batch", CGM_POINTS], "unit": "1 = value present, 0 = gap"},
        INPUT_FEATURES: {
            "shape": ["batch", N_FEATURES],
            "columns": [{"name": f.name, "unit": f.unit, "group": f.group} for f in FEATURES],
        },
    }
