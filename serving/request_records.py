"""Request bodies -> canonical glucose records, refusing what cannot be right with a named error.

mmol/L is converted here (glucose_model.records owns the factor); ranges, order and "not in the future"
are checked here, because this is where the values enter the system.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from glucose_model.features import MealContext
from glucose_model.impact import PastMeal
from glucose_model.personal import person_row
from glucose_model.records import (
    GLUCOSE_MAX_MG_DL,
    GLUCOSE_MIN_MG_DL,
    ActivitySample,
    DiabetesKind,
    GlucoseSeries,
    InsulinDose,
    InsulinKind,
    Meal,
    mg_dl_to_mmol_l,
    mmol_l_to_mg_dl,
)
from serving.problems import FutureTimestampError, GlucoseRangeError, GlucoseUnitError, TimestampOrderError
from serving.schemas.glucose import ActivityIn, Cgm, InsulinIn, MealEvent, Profile
from serving.schemas.meals import ActivitySummary, ContextIn, MealIn

# Phone and sensor clocks drift; a reading a few minutes "ahead" of the server is not an error.
CLOCK_SKEW = timedelta(minutes=5)
ACTIVITY_SUMMARY_WINDOW = timedelta(hours=1)  # ActivitySummary describes the hour before the meal


def glucose_series(cgm: Cgm, now: datetime, what: str = "cgm") -> GlucoseSeries:
    """The readings as a series in mg/dL; raises on unit, range, order or future timestamps."""
    values = np.array([r.value for r in cgm.readings], dtype=np.float64)
    if cgm.unit == "mmol/L":
        values = mmol_l_to_mg_dl(values)
    elif cgm.unit != "mg/dL":
        raise GlucoseUnitError(f"{what}.unit must be 'mg/dL' or 'mmol/L'")
    bad = np.flatnonzero(~np.isfinite(values) | (values < GLUCOSE_MIN_MG_DL) | (values > GLUCOSE_MAX_MG_DL))
    if bad.size:
        low_mmol, high_mmol = mg_dl_to_mmol_l([GLUCOSE_MIN_MG_DL, GLUCOSE_MAX_MG_DL])
        raise GlucoseRangeError(
            f"{what}.readings[{int(bad[0])}] is outside {GLUCOSE_MIN_MG_DL:.0f}-{GLUCOSE_MAX_MG_DL:.0f} mg/dL "
            f"({low_mmol:.1f}-{high_mmol:.1f} mmol/L); check cgm.unit and drop sensor error codes"
        )
    times = [r.time for r in cgm.readings]
    check_not_future(times, now, f"{what}.readings")
    for index in range(1, len(times)):
        if times[index] <= times[index - 1]:
            raise TimestampOrderError(
                f"{what}.readings[{index}] is not later than the reading before it; send readings oldest "
                "first without duplicates"
            )
    return GlucoseSeries.from_datetimes(times, values, source="api")


def check_not_future(times: Sequence[datetime] | datetime, now: datetime, what: str) -> None:
    """One time (named `what`) or a list of them (named `what[i]`) must not lie after `now`."""
    named = (
        [(what, times)] if isinstance(times, datetime) else [(f"{what}[{i}]", t) for i, t in enumerate(times)]
    )
    for name, time in named:
        if time > now + CLOCK_SKEW:
            raise FutureTimestampError(
                f"{name} is in the future; check the device clock and the UTC offset of the times"
            )


def kind_of(profile: Profile) -> DiabetesKind | None:
    return None if profile.diabetes is None else DiabetesKind(profile.diabetes)


def person_fields(profile: Profile) -> npt.NDArray[np.float32]:
    """The response model's `person` input (glucose_model.personal): NaN where the profile says nothing."""
    return person_row(
        age_years=profile.age_years,
        sex=profile.sex,
        bmi_kg_m2=profile.bmi_kg_m2,
        hba1c_percent=profile.hba1c_percent,
        fasting_glucose_mg_dl=profile.fasting_glucose_mg_dl,
        medication=profile.medication,
    )


def insulin_doses(insulin: Sequence[InsulinIn]) -> tuple[InsulinDose, ...]:
    return tuple(InsulinDose(d.time, d.units, InsulinKind(d.kind)) for d in insulin)


def activity_samples(activity: Sequence[ActivityIn]) -> tuple[ActivitySample, ...]:
    return tuple(ActivitySample(a.time, a.duration_min, a.steps, a.heart_rate_bpm) for a in activity)


def meal_events(meals: Sequence[MealEvent]) -> tuple[Meal, ...]:
    return tuple(Meal(time=m.time, carbs_g=m.carbs_g) for m in meals)


def _summary_activity(summary: ActivitySummary, meal_time: datetime) -> tuple[ActivitySample, ...]:
    if summary.steps is None and summary.heart_rate is None:
        return ()
    minutes = ACTIVITY_SUMMARY_WINDOW.total_seconds() / 60.0
    return (ActivitySample(meal_time - ACTIVITY_SUMMARY_WINDOW, minutes, summary.steps, summary.heart_rate),)


def meal_record(
    meal: MealIn, carbs_p10_g: float | None = None, carbs_p90_g: float | None = None, source: str = "logged"
) -> Meal:
    return Meal(
        time=meal.time,
        carbs_g=meal.carbs_g,
        sugars_g=meal.sugars_g,
        fiber_g=meal.fiber_g,
        fat_g=meal.fat_g,
        protein_g=meal.protein_g,
        carbs_source=source,
        carbs_p10_g=carbs_p10_g,
        carbs_p90_g=carbs_p90_g,
    )


def meal_context(context: ContextIn, meal: Meal, now: datetime) -> MealContext:
    """The predictor's input for the meal being asked about."""
    check_not_future([d.time for d in context.insulin], now, "insulin")
    return MealContext(
        meal=meal,
        glucose=glucose_series(context.cgm, now),
        kind=kind_of(context.profile),
        activity=_summary_activity(context.activity, meal.time),
        planned_walk_min=context.activity.planned_walk_min,
        insulin=insulin_doses(context.insulin),
        sleep_hours=context.sleep_hours,
        previous_meals=meal_events(context.recent_meals),
    )


def past_meals(context: ContextIn, now: datetime) -> tuple[PastMeal, ...]:
    """Each past meal: the CGM before it as context, the CGM after it as the measured response."""
    past = []
    for index, entry in enumerate(context.history):
        meal = meal_record(entry.meal)
        check_not_future(meal.time, now, f"history[{index}].meal.time")
        series = glucose_series(entry.cgm, now, f"history[{index}].cgm")
        meal_s = int(meal.time.timestamp())
        before, after = series.times_utc_s < meal_s, series.times_utc_s >= meal_s
        pick = [
            GlucoseSeries(series.times_utc_s[m], series.utc_offset_min[m], series.glucose_mg_dl[m], "api")
            for m in (before, after)
        ]
        meal_context_past = MealContext(meal=meal, glucose=pick[0], kind=kind_of(context.profile))
        past.append(PastMeal(context=meal_context_past, measured=pick[1]))
    return tuple(past)
