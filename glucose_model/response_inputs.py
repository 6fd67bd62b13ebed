"""The raw inputs of the self-contained response graph (version 3 on): what a phone has, NaN = unknown.

The graph (`glucose_model.feature_graph`) turns these into `features.py`'s arrays itself, so serving
and a phone call one definition. Here: the columns with their units, and the arrays for a
`MealContext` (the aggregations of event lists, such as the rapid insulin within +-30 min of the
meal, stay `features.py`'s; the columns hold their results). numpy only: serving imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from glucose_model.features import (
    CGM_POINTS,
    CURVE_MINUTES,
    GROUP_ACTIVITY,
    GROUP_CARBS,
    GROUP_COMPOSITION,
    GROUP_INSULIN,
    GROUP_TIMING,
    LAST_MEAL_LOOKBACK_H,
    MealContext,
    hour_before,
    last_meal,
    pre_meal_glucose,
    rapid_insulin_units,
)
from glucose_model.forecast import KIND_CODES, UNKNOWN_KIND_CODE, kind_code
from glucose_model.personal import INPUT_HISTORY_SLOT, INPUT_PERSON, N_PERSON_FIELDS
from glucose_model.records import Meal

# Graph inputs of the self-contained response model (with personal.INPUT_PERSON / INPUT_HISTORY_SLOT).
INPUT_RAW_CGM = "cgm_mg_dl"  # (B, 37) float32 mg/dL on the grid at -180..0 min from the meal, NaN = gap
INPUT_MEAL = "meal"  # (B, M) float32 MEAL_COLUMNS, NaN = unknown
INPUT_CONTEXT = "context"  # (B, C) float32 CONTEXT_COLUMNS, NaN = unknown
INPUT_KIND = (
    "diabetes_kind"  # (B, 1) float32 code of forecast.KIND_CODES, -1 = unknown (as the forecast model)
)
INPUT_HISTORY_RAW_CGM = "history_cgm_mg_dl"  # (S, H, 37) as INPUT_RAW_CGM, per past meal
INPUT_HISTORY_MEAL = "history_meal"  # (S, H, M)
INPUT_HISTORY_CONTEXT = "history_context"  # (S, H, C)
INPUT_HISTORY_KIND = "history_diabetes_kind"  # (S, H) float32 code
INPUT_HISTORY_GLUCOSE = "history_glucose_mg_dl"  # (S, H, 37) measured mg/dL at 0..180 min after, NaN = none
# An extra output: the graph's own `features` block (baseline and threshold for the absolute curve).
OUTPUT_FEATURES = "features"


@dataclass(frozen=True)
class RawColumn:
    """One column of the `meal` or `context` input: natural unit, explanation factor group."""

    name: str
    unit: str
    group: str


MEAL_COLUMNS: tuple[RawColumn, ...] = (
    RawColumn("carbs_g", "g of carbohydrate (required; NaN is read as 0 g)", GROUP_CARBS),
    RawColumn(
        "carbs_p10_g", "g, 10th percentile of an estimate (photo); NaN unless p90 is sent too", GROUP_CARBS
    ),
    RawColumn(
        "carbs_p90_g", "g, 90th percentile of an estimate (photo); NaN unless p10 is sent too", GROUP_CARBS
    ),
    RawColumn("sugars_g", "g", GROUP_COMPOSITION),
    RawColumn("fiber_g", "g", GROUP_COMPOSITION),
    RawColumn("fat_g", "g", GROUP_COMPOSITION),
    RawColumn("protein_g", "g", GROUP_COMPOSITION),
    RawColumn("glycemic_index", "0-100 (glucose = 100)", GROUP_COMPOSITION),
)
CONTEXT_COLUMNS: tuple[RawColumn, ...] = (
    RawColumn(
        "local_minute_of_day",
        "min after local midnight at the meal's start (0-1440), in the meal time's own UTC offset; "
        "NaN gives time_of_day_sin = cos = 0",
        GROUP_TIMING,
    ),
    RawColumn(
        "minutes_since_last_meal",
        f"min since the latest earlier meal; counted only when > 0 and <= {LAST_MEAL_LOOKBACK_H * 60} "
        "and last_meal_carbs_g is sent too",
        GROUP_TIMING,
    ),
    RawColumn("last_meal_carbs_g", "g of carbohydrate of that meal", GROUP_TIMING),
    RawColumn("sleep_hours", "h slept last night", GROUP_TIMING),
    RawColumn("steps_hour_before", "steps in the 60 min before the meal", GROUP_ACTIVITY),
    RawColumn("heart_rate_bpm_hour_before", "bpm, mean of the 60 min before the meal", GROUP_ACTIVITY),
    RawColumn("planned_walk_min", "min of walking planned within 60 min after the meal", GROUP_ACTIVITY),
    RawColumn(
        "rapid_insulin_units",
        "U rapid-acting within +-30 min of the meal; 0 = none taken, NaN = not known",
        GROUP_INSULIN,
    ),
)
MEAL_NAMES = tuple(c.name for c in MEAL_COLUMNS)
CONTEXT_NAMES = tuple(c.name for c in CONTEXT_COLUMNS)
MEAL_INDEX = {name: i for i, name in enumerate(MEAL_NAMES)}
CONTEXT_INDEX = {name: i for i, name in enumerate(CONTEXT_NAMES)}
N_MEAL = len(MEAL_COLUMNS)
N_CONTEXT = len(CONTEXT_COLUMNS)
# Of the context, a past meal in the history is described by its time only (the encoder was trained
# on the inputs `PastMealIn` has); the graph reads no other context column of `history_context`.
HISTORY_CONTEXT_READ = ("local_minute_of_day",)


@dataclass(frozen=True)
class RawInputs:
    """The raw inputs for B rows (one meal, its explanation coalitions, its what-ifs...)."""

    cgm_mg_dl: npt.NDArray[np.float32]  # (B, 37) NaN = gap
    meal: npt.NDArray[np.float32]  # (B, M) NaN = unknown
    context: npt.NDArray[np.float32]  # (B, C) NaN = unknown
    diabetes_kind: npt.NDArray[np.float32]  # (B, 1) code, UNKNOWN_KIND_CODE = unknown

    def as_feed(self) -> dict[str, npt.NDArray[np.float32]]:
        return {
            INPUT_RAW_CGM: self.cgm_mg_dl,
            INPUT_MEAL: self.meal,
            INPUT_CONTEXT: self.context,
            INPUT_KIND: self.diabetes_kind,
        }

    def value(self, name: str, row: int = 0) -> float:
        """A meal or context column of one row (NaN = unknown)."""
        if name in MEAL_INDEX:
            return float(self.meal[row, MEAL_INDEX[name]])
        return float(self.context[row, CONTEXT_INDEX[name]])

    def with_values(self, values: dict[str, float]) -> RawInputs:
        """A copy with meal/context columns set (by name) in every row."""
        meal, context = self.meal.copy(), self.context.copy()
        for name, value in values.items():
            if name in MEAL_INDEX:
                meal[:, MEAL_INDEX[name]] = value
            else:
                context[:, CONTEXT_INDEX[name]] = value
        return RawInputs(self.cgm_mg_dl, meal, context, self.diabetes_kind)

    @staticmethod
    def concatenate(parts: Sequence[RawInputs]) -> RawInputs:
        return RawInputs(
            np.concatenate([p.cgm_mg_dl for p in parts]),
            np.concatenate([p.meal for p in parts]),
            np.concatenate([p.context for p in parts]),
            np.concatenate([p.diabetes_kind for p in parts]),
        )


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def meal_row(meal: Meal) -> npt.NDArray[np.float32]:
    """(M,) the `meal` input of one meal."""
    values = {name: _or_nan(getattr(meal, name)) for name in MEAL_NAMES}
    return np.array([values[n] for n in MEAL_NAMES], np.float32)


def context_row(context: MealContext) -> npt.NDArray[np.float32]:
    """(C,) the `context` input of one meal: features.py's aggregations of the context's records."""
    time = context.meal.time
    last = last_meal(context)
    steps, heart_rate = hour_before(context.activity, time)
    values = {
        "local_minute_of_day": time.hour * 60 + time.minute + time.second / 60.0,
        "minutes_since_last_meal": np.nan if last is None else (time - last.time).total_seconds() / 60.0,
        "last_meal_carbs_g": np.nan if last is None else last.carbs_g,
        "sleep_hours": _or_nan(context.sleep_hours),
        "steps_hour_before": _or_nan(steps),
        "heart_rate_bpm_hour_before": _or_nan(heart_rate),
        "planned_walk_min": _or_nan(context.planned_walk_min),
        "rapid_insulin_units": _or_nan(rapid_insulin_units(context.insulin, time)),
    }
    return np.array([values[n] for n in CONTEXT_NAMES], np.float32)


def raw_inputs(
    contexts: Sequence[MealContext], cgm_mg_dl: npt.NDArray[np.float64] | None = None
) -> RawInputs:
    """The raw inputs of B meals; `cgm_mg_dl` (B, 37) their pre-meal grids, by default each context's
    CGM resampled (`features.pre_meal_glucose`)."""
    n = len(contexts)
    if cgm_mg_dl is None:
        cgm_mg_dl = np.array([pre_meal_glucose(c.glucose, c.meal.time).glucose_mg_dl for c in contexts])
    return RawInputs(
        np.asarray(cgm_mg_dl, np.float32).reshape(n, CGM_POINTS),
        np.stack([meal_row(c.meal) for c in contexts]).reshape(n, N_MEAL).astype(np.float32),
        np.stack([context_row(c) for c in contexts]).reshape(n, N_CONTEXT).astype(np.float32),
        np.array([[kind_code(c.kind)] for c in contexts], np.float32).reshape(n, 1),
    )


@dataclass(frozen=True)
class RawHistory:
    """The raw history inputs for S sets of up to H past meals (padding: all NaN, kind unknown)."""

    cgm_mg_dl: npt.NDArray[np.float32]  # (S, H, 37)
    meal: npt.NDArray[np.float32]  # (S, H, M)
    context: npt.NDArray[np.float32]  # (S, H, C)
    diabetes_kind: npt.NDArray[np.float32]  # (S, H)
    glucose_mg_dl: npt.NDArray[np.float32]  # (S, H, 37) measured after the meal, at CURVE_MINUTES

    def as_feed(self) -> dict[str, npt.NDArray[np.float32]]:
        return {
            INPUT_HISTORY_RAW_CGM: self.cgm_mg_dl,
            INPUT_HISTORY_MEAL: self.meal,
            INPUT_HISTORY_CONTEXT: self.context,
            INPUT_HISTORY_KIND: self.diabetes_kind,
            INPUT_HISTORY_GLUCOSE: self.glucose_mg_dl,
        }


def raw_history(sets: Sequence[tuple[RawInputs, npt.NDArray[np.float64]]], max_meals: int) -> RawHistory:
    """History sets (each: past meals' raw inputs (N, ...) and glucose after them (N, 37)) -> padded
    arrays, keeping the latest `max_meals` of each set (as `personal.history_arrays`)."""
    h = max([1, *(min(g.shape[0], max_meals) for _, g in sets)])
    s = max(len(sets), 1)
    out = RawHistory(
        np.full((s, h, CGM_POINTS), np.nan, np.float32),
        np.full((s, h, N_MEAL), np.nan, np.float32),
        np.full((s, h, N_CONTEXT), np.nan, np.float32),
        np.full((s, h), float(UNKNOWN_KIND_CODE), np.float32),
        np.full((s, h, CURVE_MINUTES.shape[0]), np.nan, np.float32),
    )
    for i, (inputs, glucose) in enumerate(sets):
        n = min(glucose.shape[0], max_meals)
        if n == 0:
            continue
        out.cgm_mg_dl[i, :n] = inputs.cgm_mg_dl[-n:]
        out.meal[i, :n] = inputs.meal[-n:]
        out.context[i, :n] = inputs.context[-n:]
        out.diabetes_kind[i, :n] = inputs.diabetes_kind[-n:, 0]
        out.glucose_mg_dl[i, :n] = glucose[-n:]
    return out


def no_history_raw_feed(
    n_rows: int, max_meals: int = 1
) -> dict[str, npt.NDArray[np.float32] | npt.NDArray[np.int64]]:
    """The person and history inputs of a raw graph for `n_rows` rows that know nothing of the person
    (for callers that feed the graph directly: benches, the mobile bundle)."""
    return {
        INPUT_PERSON: np.full((n_rows, N_PERSON_FIELDS), np.nan, np.float32),
        INPUT_HISTORY_SLOT: np.zeros(n_rows, np.int64),
        **raw_history([], max_meals).as_feed(),
    }


def empty_raw_inputs() -> RawInputs:
    return RawInputs(
        np.zeros((0, CGM_POINTS), np.float32),
        np.zeros((0, N_MEAL), np.float32),
        np.zeros((0, N_CONTEXT), np.float32),
        np.zeros((0, 1), np.float32),
    )


def metadata_raw_inputs() -> dict[str, object]:
    """The raw input contract for the `inputs` metadata entry: shapes, units and column order."""
    from glucose_model.features import BASELINE_WINDOW_MIN, TREND_WINDOW_MIN
    from glucose_model.windows import window_minutes

    def columns(cols: Sequence[RawColumn]) -> list[dict[str, str]]:
        return [{"name": c.name, "unit": c.unit, "group": c.group} for c in cols]

    kinds = {str(k.value): v for k, v in KIND_CODES.items()} | {"unknown": UNKNOWN_KIND_CODE}
    return {
        INPUT_RAW_CGM: {
            "shape": ["batch", CGM_POINTS],
            "dtype": "float32",
            "unit": "mg/dL on the 5-min grid before the meal (resampled readings, cgm.ts gridWindow); NaN = gap",
            "minutes": [int(m) for m in window_minutes() if m <= 0],
            "baseline": f"the graph's: mean of the values in the last {BASELINE_WINDOW_MIN} min "
            f"(trend: least-squares slope over the same {TREND_WINDOW_MIN} min)",
        },
        INPUT_MEAL: {
            "shape": ["batch", N_MEAL],
            "dtype": "float32",
            "unit": "NaN = unknown",
            "columns": columns(MEAL_COLUMNS),
        },
        INPUT_CONTEXT: {
            "shape": ["batch", N_CONTEXT],
            "dtype": "float32",
            "unit": "NaN = unknown",
            "columns": columns(CONTEXT_COLUMNS),
        },
        INPUT_KIND: {
            "shape": ["batch", 1],
            "dtype": "float32",
            "unit": "code of kind_codes; -1 = unknown",
            "codes": kinds,
        },
        INPUT_HISTORY_RAW_CGM: {
            "shape": ["sets", "meals", CGM_POINTS],
            "dtype": "float32",
            "unit": f"as {INPUT_RAW_CGM}, per past meal; padding = all NaN",
        },
        INPUT_HISTORY_MEAL: {
            "shape": ["sets", "meals", N_MEAL],
            "dtype": "float32",
            "unit": f"as {INPUT_MEAL}",
        },
        INPUT_HISTORY_CONTEXT: {
            "shape": ["sets", "meals", N_CONTEXT],
            "dtype": "float32",
            "unit": f"as {INPUT_CONTEXT}; only {list(HISTORY_CONTEXT_READ)} is read",
        },
        INPUT_HISTORY_KIND: {"shape": ["sets", "meals"], "dtype": "float32", "unit": f"as {INPUT_KIND}"},
        INPUT_HISTORY_GLUCOSE: {
            "shape": ["sets", "meals", CURVE_MINUTES.shape[0]],
            "dtype": "float32",
            "unit": "measured mg/dL at curve_minutes after the past meal (minute 0 = the last pre-meal grid "
            "point); NaN = not measured; the graph subtracts that meal's baseline",
        },
    }


def raw_contract(inputs: Mapping[str, Any]) -> tuple[object, ...]:
    """(meal column names, context column names, kind codes) of an `inputs` metadata entry."""
    meal, context, kind = (inputs.get(name, {}) for name in (INPUT_MEAL, INPUT_CONTEXT, INPUT_KIND))
    return (
        [c.get("name") for c in meal.get("columns", [])],
        [c.get("name") for c in context.get("columns", [])],
        kind.get("codes"),
    )
