"""The meal-response summary: how glucose answered each logged meal, which meals and meal times spiked,
whether walks helped, and (when the response model is available) predicted against measured curves.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from glucose_model.features import MealContext
from glucose_model.impact import ResponsePredictor
from glucose_model.metrics import HIGH_ABOVE_MG_DL, MealResponse, meal_response
from glucose_model.records import InsufficientCgmError, Meal, RecordError, Recording
from glucose_model.resample import nearest_grid_time_s
from glucose_model.windows import MealWindow, all_meal_windows

# Meal times by local clock; anything outside the three main meals is a snack.
BREAKFAST_START_H, BREAKFAST_END_H = 5.0, 10.5
LUNCH_START_H, LUNCH_END_H = 10.5, 15.0
DINNER_START_H, DINNER_END_H = 17.0, 21.5
# A walk after a meal: at least this many steps starting within the first hour (about 10 min of walking).
WALK_WINDOW_MIN = 60.0
WALK_MIN_STEPS = 1000.0
# The predictor sees what it would have seen at the meal: the CGM of the hours before, and a previous meal
# only when it is recent enough to still act.
PREDICTOR_CGM_HOURS = 3.0
PREVIOUS_MEAL_HOURS = 6.0
# Patterns are only stated when there are at least this many meals behind them.
MIN_MEALS_FOR_PATTERN = 3


# A meal log as a person or app exports it: the canonical cohort's meals.csv columns (person_id ignored).
MEAL_LOG_REQUIRED = ("time", "carbs_g")


class Sentence(str):
    """An English sentence that keeps its template and values, so a report can print it in another language
    (glucose_model.report.labels.KO holds the Korean templates; word values such as a meal time or a factor
    are looked up there too)."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, **values: object) -> Sentence:
        text = super().__new__(cls, template.format(**values))
        text.template = template
        text.values = values
        return text


NO_MODEL_NOTE = "Predicted curves are not shown: no response model was given."
MODEL_NOTE = "Predicted curves (orange, 10-90 % band) from the glucose response model version {version}."


class MealLogError(RecordError):
    """A meal log file cannot be read (the message names the line and the fix)."""


class MealSlot(enum.StrEnum):
    BREAKFAST = "breakfast"
    LUNCH = "lunch"
    DINNER = "dinner"
    SNACK = "snack"


def meal_slot(local_time: datetime) -> MealSlot:
    """Which meal of the day a meal at this local time is."""
    hour = local_time.hour + local_time.minute / 60.0
    if BREAKFAST_START_H <= hour < BREAKFAST_END_H:
        return MealSlot.BREAKFAST
    if LUNCH_START_H <= hour < LUNCH_END_H:
        return MealSlot.LUNCH
    if DINNER_START_H <= hour < DINNER_END_H:
        return MealSlot.DINNER
    return MealSlot.SNACK


@dataclass(frozen=True)
class PredictedCurve:
    """The response model's answer for one meal, for drawing against the measured curve.

    minute: (K,) minutes after the meal; glucose_mg_dl, low_mg_dl, high_mg_dl: (K,)
    factors: (factor group, contribution to the peak rise in mg/dL), largest first
    """

    minute: npt.NDArray[np.float64]
    glucose_mg_dl: npt.NDArray[np.float64]
    low_mg_dl: npt.NDArray[np.float64]
    high_mg_dl: npt.NDArray[np.float64]
    spike_probability: float
    factors: tuple[tuple[str, float], ...] = ()


# Given one meal's window (the CGM before it is the model's context), the predicted curve, or None.
MealPredictor = Callable[[MealWindow], PredictedCurve | None]


@dataclass(frozen=True)
class MealOutcome:
    """One logged meal and what the CGM showed after it.

    minutes: (W,) -180..180 step 5 relative to the meal; glucose_mg_dl: (W,) NaN where the CGM had a gap
    response: None when the CGM around the meal is too sparse; `missing_reason` says why
    steps_after: steps in the first hour after the meal, None when the record has no activity data
    """

    meal: Meal
    slot: MealSlot
    minutes: npt.NDArray[np.int64]
    glucose_mg_dl: npt.NDArray[np.float64]
    response: MealResponse | None
    missing_reason: str | None
    steps_after: float | None
    spiked: bool | None
    predicted: PredictedCurve | None = None

    @property
    def rise_mg_dl(self) -> float:
        """The measured peak rise; NaN when the CGM around the meal was too sparse to measure it."""
        return self.response.peak_rise_mg_dl if self.response is not None else float("nan")

    @property
    def peak_mg_dl(self) -> float:
        return self.response.peak_mg_dl if self.response is not None else float("nan")

    @property
    def walked_after(self) -> bool | None:
        return None if self.steps_after is None else self.steps_after >= WALK_MIN_STEPS


@dataclass(frozen=True)
class SlotPattern:
    slot: MealSlot
    meals: int  # meals of this slot with a measured response
    spikes: int
    median_rise_mg_dl: float


@dataclass(frozen=True)
class WalkEffect:
    walked_meals: int
    other_meals: int
    median_rise_walked_mg_dl: float
    median_rise_other_mg_dl: float


@dataclass(frozen=True)
class MealSummary:
    outcomes: tuple[MealOutcome, ...]
    spike_threshold_mg_dl: float
    slots: tuple[SlotPattern, ...]
    walk: WalkEffect | None  # None when the record has no activity data or too few meals either way
    model_note: str  # which model drew the predicted curves, or why there are none
    findings: tuple[str, ...]  # the plain-language sentences the page prints

    @property
    def measured(self) -> tuple[MealOutcome, ...]:
        return tuple(o for o in self.outcomes if o.response is not None)

    def most_spiking(self, n: int) -> list[MealOutcome]:
        """The n meals with the largest measured rise, largest first, one per measured curve."""
        return largest_rises(self.measured, n)


def largest_rises(measured: Sequence[MealOutcome], n: int) -> list[MealOutcome]:
    """The n measured meals with the largest rise, largest first, one per measured curve.

    Dishes logged at the same grid time (D1NAMO photographs each course: steak at 12:59:00, bread
    at 12:59:04) share one measured curve; listing it twice would read as two spikes.
    """
    chosen: dict[int, MealOutcome] = {}
    for outcome in sorted(measured, key=lambda o: -o.rise_mg_dl):
        chosen.setdefault(nearest_grid_time_s(int(outcome.meal.time.timestamp())), outcome)
        if len(chosen) == n:
            break
    return list(chosen.values())


def optional_number(row: dict[str, str], name: str) -> float | None:
    return float(row[name]) if row.get(name) else None  # empty = unknown, never zero


def read_meal_log(text: str) -> tuple[Meal, ...]:
    """Meals from CSV text with columns time (ISO 8601 with offset) and carbs_g, optionally description,
    sugars_g, fiber_g, fat_g, protein_g and kcal (empty = unknown). Sorted by time."""
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in MEAL_LOG_REQUIRED if c not in columns]
    if missing:
        raise MealLogError(
            f"the meal log needs the columns {', '.join(MEAL_LOG_REQUIRED)}; missing {', '.join(missing)} "
            f"(found: {', '.join(columns) or 'no header'})"
        )
    meals = []
    for line_no, raw in enumerate(reader, start=2):
        row = {
            (k or "").strip(): (v or "").strip() for k, v in raw.items() if isinstance(v, str | type(None))
        }

        try:
            meals.append(
                Meal(
                    time=datetime.fromisoformat(row["time"]),
                    carbs_g=float(row["carbs_g"]),
                    description=row.get("description") or None,
                    sugars_g=optional_number(row, "sugars_g"),
                    fiber_g=optional_number(row, "fiber_g"),
                    fat_g=optional_number(row, "fat_g"),
                    protein_g=optional_number(row, "protein_g"),
                    kcal=optional_number(row, "kcal"),
                )
            )
        except (ValueError, RecordError) as error:
            raise MealLogError(f"meal log line {line_no}: {error}") from None
    return tuple(sorted(meals, key=lambda m: m.time))


def steps_after_meal(window: MealWindow, has_steps: bool) -> float | None:
    if not has_steps:
        return None
    total = 0.0
    for sample in window.activity:
        start_min = (sample.time - window.meal.time).total_seconds() / 60.0
        if 0.0 <= start_min < WALK_WINDOW_MIN and sample.steps is not None:
            total += sample.steps
    return total


def is_spike(response: MealResponse, spike_threshold_mg_dl: float) -> bool:
    """The meal took glucose above the threshold. A meal eaten while already above it and followed by a
    fall is not counted: the meal did not cause that high."""
    return response.peak_mg_dl > spike_threshold_mg_dl and response.peak_rise_mg_dl > 0


def measure_meal(window: MealWindow, spike_threshold_mg_dl: float, has_steps: bool) -> MealOutcome:
    response: MealResponse | None
    try:
        response, reason = meal_response(window.minutes, window.glucose_mg_dl), None
    except InsufficientCgmError as error:
        response, reason = None, str(error)
    return MealOutcome(
        meal=window.meal,
        slot=meal_slot(window.meal.time),
        minutes=window.minutes,
        glucose_mg_dl=window.glucose_mg_dl,
        response=response,
        missing_reason=reason,
        steps_after=steps_after_meal(window, has_steps),
        spiked=None if response is None else is_spike(response, spike_threshold_mg_dl),
    )


def slot_patterns(outcomes: Sequence[MealOutcome]) -> tuple[SlotPattern, ...]:
    patterns = []
    for slot in MealSlot:
        measured = [o for o in outcomes if o.slot is slot and o.response is not None]
        if measured:
            rises = [o.rise_mg_dl for o in measured]
            patterns.append(
                SlotPattern(
                    slot, len(measured), sum(bool(o.spiked) for o in measured), float(np.median(rises))
                )
            )
    return tuple(patterns)


def walk_effect(outcomes: Sequence[MealOutcome]) -> WalkEffect | None:
    measured = [o for o in outcomes if o.response is not None and o.walked_after is not None]
    walked = [o.rise_mg_dl for o in measured if o.walked_after]
    other = [o.rise_mg_dl for o in measured if not o.walked_after]
    if len(walked) < MIN_MEALS_FOR_PATTERN or len(other) < MIN_MEALS_FOR_PATTERN:
        return None
    return WalkEffect(len(walked), len(other), float(np.median(walked)), float(np.median(other)))


def summarize_meals(
    recording: Recording,
    predict: MealPredictor | None = None,
    model_note: str = Sentence(NO_MODEL_NOTE),
) -> MealSummary:
    """Measure every logged meal of `recording`; add the model's predicted curve where `predict` gives one."""
    threshold = recording.kind.spike_threshold_mg_dl if recording.kind is not None else HIGH_ABOVE_MG_DL
    # Heart rate alone (Dubosson) cannot tell a walk from stress or a warm room: walks are read from steps.
    has_steps = any(a.steps is not None for a in recording.activity)
    outcomes = []
    for window in all_meal_windows(recording):
        outcome = measure_meal(window, threshold, has_steps)
        if predict is not None and outcome.response is not None:
            outcome = MealOutcome(**{**outcome.__dict__, "predicted": predict(window)})
        outcomes.append(outcome)
    slots = slot_patterns(outcomes)
    walk = walk_effect(outcomes) if has_steps else None
    return MealSummary(
        outcomes=tuple(outcomes),
        spike_threshold_mg_dl=threshold,
        slots=slots,
        walk=walk,
        model_note=model_note,
        findings=describe_findings(outcomes, slots, walk, threshold, has_steps),
    )


def describe_findings(
    outcomes: Sequence[MealOutcome],
    slots: Sequence[SlotPattern],
    walk: WalkEffect | None,
    threshold_mg_dl: float,
    has_steps: bool,
) -> tuple[str, ...]:
    """Plain sentences in mg/dL; the renderer converts the numbers when the person reads mmol/L.

    Numbers are wrapped as {mg_dl:VALUE} / {delta:VALUE} so the page can print them in either unit; each
    line is a Sentence, so the page can print it in the report's language.
    """
    measured = [o for o in outcomes if o.response is not None]
    lines = [
        Sentence(
            "{logged} meals were logged; {measured} had enough CGM around them to measure the response.",
            logged=len(outcomes),
            measured=len(measured),
        )
    ]
    if not measured:
        return tuple(lines)
    spikes = sum(bool(o.spiked) for o in measured)
    lines.append(
        Sentence(
            "{spikes} of {measured} measured meals took glucose above {threshold} "
            "and higher than before the meal (counted as a spike here).",
            spikes=spikes,
            measured=len(measured),
            threshold=f"{{mg_dl:{threshold_mg_dl:g}}}",
        )
    )
    ranked = [s for s in slots if s.meals >= MIN_MEALS_FOR_PATTERN]
    if ranked:
        worst = max(ranked, key=lambda s: s.median_rise_mg_dl)
        lines.append(
            Sentence(
                "{slot} raised glucose the most: a typical rise of {rise} over {meals} meals "
                "({spikes} above the threshold).",
                slot=worst.slot.value.capitalize(),
                rise=f"{{delta:{worst.median_rise_mg_dl:.1f}}}",
                meals=worst.meals,
                spikes=worst.spikes,
            )
        )
        best = min(ranked, key=lambda s: s.median_rise_mg_dl)
        if best.slot is not worst.slot:
            lines.append(
                Sentence(
                    "{slot} raised it the least (typical rise {rise}).",
                    slot=best.slot.value.capitalize(),
                    rise=f"{{delta:{best.median_rise_mg_dl:.1f}}}",
                )
            )
    lines += describe_predictions(measured)
    if walk is not None:
        change = walk.median_rise_walked_mg_dl - walk.median_rise_other_mg_dl
        lines.append(
            Sentence(
                "After the {walked} meals followed by a walk the typical rise was {walked_rise}, against "
                "{other_rise} without ({direction}); this is an observation, not a controlled comparison.",
                walked=walk.walked_meals,
                walked_rise=f"{{delta:{walk.median_rise_walked_mg_dl:.1f}}}",
                other_rise=f"{{delta:{walk.median_rise_other_mg_dl:.1f}}}",
                direction="smaller" if change < 0 else "larger",
            )
        )
    elif has_steps:
        lines.append(Sentence("There were too few meals with and without a walk after them to compare."))
    else:
        lines.append(Sentence("No step counts were shared, so the effect of walks cannot be shown."))
    return tuple(lines)


def describe_predictions(measured: Sequence[MealOutcome]) -> list[Sentence]:
    """How close the model's predicted peaks came, and which factor it credits most for the biggest spikes."""
    predicted = [o for o in measured if o.predicted is not None]
    if not predicted:
        return []
    errors = [
        abs(float(np.max(p.glucose_mg_dl)) - o.peak_mg_dl)
        for o in predicted
        if (p := o.predicted) is not None
    ]
    lines = [
        Sentence(
            "For {meals} meals the response model predicted the curve from what was known before the meal; "
            "its peak was typically {error} away from the measured peak.",
            meals=len(predicted),
            error=f"{{mg_dl:{float(np.median(errors)):.1f}}}",
        )
    ]
    top = largest_rises(predicted, MIN_MEALS_FOR_PATTERN * 2)
    leading = [o.predicted.factors[0][0] for o in top if o.predicted is not None and o.predicted.factors]
    if leading:
        factor = max(set(leading), key=leading.count)
        lines.append(
            Sentence(
                "For the meals that raised glucose most, the model's explanation most often names {factor} as "
                "the factor that moved the predicted rise the most, up or down against its reference meal "
                "({count} of {total} meals).",
                factor=factor,
                count=leading.count(factor),
                total=len(leading),
            )
        )
    return lines


def impact_predictor(predictor: ResponsePredictor, recording: Recording) -> MealPredictor:
    """Adapt the response model to `summarize_meals`: each meal is predicted from what was known before it
    (CGM of the previous hours, activity, insulin up to the meal), never from the CGM after it."""

    def predict(window: MealWindow) -> PredictedCurve | None:
        meal_time = window.meal.time
        before = recording.glucose.between(meal_time - timedelta(hours=PREDICTOR_CGM_HOURS), meal_time)
        previous = window.previous_meal
        recent = previous is not None and meal_time - previous.time <= timedelta(hours=PREVIOUS_MEAL_HOURS)
        sleep = window.sleep[-1].hours if window.sleep else None
        try:
            context = MealContext(
                meal=window.meal,
                glucose=before,
                kind=window.kind,
                activity=tuple(a for a in window.activity if a.time <= meal_time),
                insulin=tuple(d for d in window.insulin if d.time <= meal_time),
                sleep_hours=None if sleep is None else min(sleep, 24.0),
                previous_meals=(previous,) if recent and previous is not None else (),
            )
            result = predictor.impact(context)
        except RecordError:
            # Too little CGM before this meal for the model: the page shows it measured only.
            return None
        factors = sorted(
            ((c.group, c.peak_rise_mg_dl) for c in result.explanation.contributions), key=lambda f: -abs(f[1])
        )
        return PredictedCurve(
            minute=result.curve.minute.astype(np.float64),
            glucose_mg_dl=result.curve.glucose_mg_dl,
            low_mg_dl=result.curve.low_mg_dl,
            high_mg_dl=result.curve.high_mg_dl,
            spike_probability=result.spike.probability,
            factors=tuple(factors),
        )

    return predict
