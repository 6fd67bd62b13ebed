"""Exact Shapley values of the predicted response over the factor groups, against a reference meal.

A coalition keeps the person's own inputs for the groups in it and the reference meal's for the
others; all 2^6 coalitions go to the model as rows of one batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from glucose_model.features import (
    CGM_POINTS,
    FACTOR_GROUPS,
    FEATURE_INDEX,
    FEATURES,
    GROUP_GLUCOSE,
    GROUP_PERSON,
    KNOWN_BITS,
    ModelInputs,
)
from glucose_model.records import KIND_ORDER
from glucose_model.response_inputs import CONTEXT_COLUMNS, CONTEXT_INDEX, MEAL_COLUMNS, MEAL_INDEX, RawInputs

# The reference meal every explanation is measured against: 50 g of carbohydrate in a typical
# mixed lunch (GI 55, 10 g sugars, 4 g fibre, 15 g fat, 20 g protein) at 12:30, 4 h after a 50 g
# breakfast, after 7 h of sleep, with light activity before (500 steps in the hour, 75 bpm), no
# walk after and no rapid insulin, starting from a flat pre-meal trace at the kind's typical
# fasting level. The person's kind and spike threshold are never swapped: the reference is this
# meal eaten by the same kind of person; inputs the person did not give stay unknown in it.
REFERENCE_MEAL_FEATURES: Mapping[str, float] = {
    "trend_mg_dl_per_min": 0.0,
    "carbs_g": 50.0,
    "carbs_spread_g": 0.0,
    "carbs_spread_known": 0.0,
    "sugars_g": 10.0,
    "sugars_known": 1.0,
    "fiber_g": 4.0,
    "fiber_known": 1.0,
    "fat_g": 15.0,
    "fat_known": 1.0,
    "protein_g": 20.0,
    "protein_known": 1.0,
    "glycemic_index": 55.0,
    "glycemic_index_known": 1.0,
    "time_of_day_sin": math.sin(2 * math.pi * 750 / 1440),  # 12:30
    "time_of_day_cos": math.cos(2 * math.pi * 750 / 1440),
    "minutes_since_last_meal": 240.0,
    "last_meal_carbs_g": 50.0,
    "last_meal_known": 1.0,
    "sleep_hours": 7.0,
    "sleep_known": 1.0,
    "steps_hour_before": 500.0,
    "steps_known": 1.0,
    "heart_rate_bpm_hour_before": 75.0,
    "heart_rate_known": 1.0,
    "planned_walk_min": 0.0,
    "planned_walk_known": 1.0,
    "rapid_insulin_units": 0.0,
    "insulin_known": 1.0,
}
# The same reference meal as the raw graph inputs (response_inputs; NaN = unknown, null in JSON).
REFERENCE_MEAL_RAW: Mapping[str, float] = {
    "carbs_g": 50.0,
    "carbs_p10_g": math.nan,  # no interval: the reference's carbs_spread is unknown
    "carbs_p90_g": math.nan,
    "sugars_g": 10.0,
    "fiber_g": 4.0,
    "fat_g": 15.0,
    "protein_g": 20.0,
    "glycemic_index": 55.0,
    "local_minute_of_day": 750.0,  # 12:30
    "minutes_since_last_meal": 240.0,
    "last_meal_carbs_g": 50.0,
    "sleep_hours": 7.0,
    "steps_hour_before": 500.0,
    "heart_rate_bpm_hour_before": 75.0,
    "planned_walk_min": 0.0,
    "rapid_insulin_units": 0.0,
}
# Each known bit of the features and the raw columns it is computed from (unknown in the request =
# unknown in the reference: those raw columns keep the request's values).
RAW_KNOWN_COLUMNS: Mapping[str, tuple[str, ...]] = {
    **KNOWN_BITS,
    "carbs_spread_known": ("carbs_p10_g", "carbs_p90_g"),  # the spread is half the p10-p90 interval
}
# Typical pre-meal (fasting-range) glucose by kind, mg/dL; "unknown" when the kind is not given.
REFERENCE_BASELINE_MG_DL: Mapping[str, float] = {
    "none": 90.0,
    "prediabetes": 105.0,
    "type2": 140.0,
    "type1": 150.0,
    "unknown": 120.0,
}
N_GROUPS = len(FACTOR_GROUPS)
N_COALITIONS = 2**N_GROUPS
# A model with the person inside it (personal.py) has a seventh factor: the person's past meals and
# their measured responses. Its coalitions without that factor see no history (an empty history set).
GROUP_HISTORY = "your past responses"
PERSONAL_FACTOR_GROUPS = (*FACTOR_GROUPS, GROUP_HISTORY)
N_PERSONAL_COALITIONS = 2 ** len(PERSONAL_FACTOR_GROUPS)
HISTORY_SLOT = 0  # history set of the rows that keep the person's past responses
NO_HISTORY_SLOT = 1  # an all-NaN history set: the rows without them


class ReferenceMealError(ValueError):
    """The reference meal in the model metadata does not match this code's features."""


def reference_meal_metadata() -> dict[str, object]:
    """The `reference_meal` entry of the model metadata."""
    return {
        "features": dict(REFERENCE_MEAL_FEATURES),
        "baseline_glucose_mg_dl_by_kind": dict(REFERENCE_BASELINE_MG_DL),
        "pre_meal_cgm": "flat at the baseline for the 3 h before the meal",
        "kept_from_the_person": [f.name for f in FEATURES if f.group == GROUP_PERSON],
        "unknown_inputs": "an input whose known bit is 0 in the request keeps the request's value and bit",
    }


def reference_meal_raw_metadata() -> dict[str, object]:
    """The `raw` entry of a raw-input model's `reference_meal` metadata (null = unknown)."""
    return {
        "meal_and_context": {k: (None if math.isnan(v) else v) for k, v in REFERENCE_MEAL_RAW.items()},
        "baseline_glucose_mg_dl_by_kind": dict(REFERENCE_BASELINE_MG_DL),
        "cgm_mg_dl": "all 37 grid points at the kind's baseline",
        "kept_from_the_person": ["diabetes_kind"],
        "unknown_inputs": "the columns behind a known bit (of the graph's features) that is 0 for the request "
        "keep the request's values in the reference",
        "known_bits": {k: list(v) for k, v in RAW_KNOWN_COLUMNS.items()},
        "groups": {
            "meal": {c.name: c.group for c in MEAL_COLUMNS},
            "context": {c.name: c.group for c in CONTEXT_COLUMNS},
            "cgm_mg_dl": GROUP_GLUCOSE,
        },
    }


@dataclass(frozen=True)
class ReferenceMeal:
    features: Mapping[str, float]
    baseline_by_kind_mg_dl: Mapping[str, float]
    # A raw-input model's reference as raw columns (NaN = unknown) and which raw columns each known bit
    # stands for (`reference_meal.raw` in its metadata); None for a model that takes features.
    raw: Mapping[str, float] | None = None
    raw_known_columns: Mapping[str, tuple[str, ...]] | None = None

    @classmethod
    def from_metadata(cls, entry: Mapping[str, object]) -> ReferenceMeal:
        features = entry.get("features")
        baselines = entry.get("baseline_glucose_mg_dl_by_kind")
        if not isinstance(features, Mapping) or not isinstance(baselines, Mapping):
            raise ReferenceMealError("reference_meal needs 'features' and 'baseline_glucose_mg_dl_by_kind'")
        swapped = {f.name for f in FEATURES if f.group not in (GROUP_PERSON,)} - {"baseline_glucose_mg_dl"}
        missing = sorted(swapped - set(features))
        if missing:
            raise ReferenceMealError(f"reference_meal lacks features {missing}; re-export the model")
        raw, known = None, None
        raw_entry = entry.get("raw")
        if isinstance(raw_entry, Mapping):
            values, bits = raw_entry.get("meal_and_context"), raw_entry.get("known_bits")
            if not isinstance(values, Mapping) or not isinstance(bits, Mapping):
                raise ReferenceMealError("reference_meal.raw needs 'meal_and_context' and 'known_bits'")
            raw = {k: math.nan if v is None else float(v) for k, v in values.items()}
            known = {k: tuple(v) for k, v in bits.items()}
            columns = set(MEAL_INDEX) | set(CONTEXT_INDEX)
            unnamed = sorted((set(raw) | {c for v in known.values() for c in v}) - columns)
            if unnamed or set(known) - set(FEATURE_INDEX):
                raise ReferenceMealError(
                    f"reference_meal.raw names {unnamed or sorted(set(known) - set(FEATURE_INDEX))}, which "
                    "are no meal/context columns or features of this code; re-export the model"
                )
        return cls(
            {k: float(v) for k, v in features.items()},
            {k: float(v) for k, v in baselines.items()},
            raw,
            known,
        )

    def row(self, person_features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(F,) the reference inputs for a person whose own row is `person_features`."""
        row = person_features.copy()
        for name, value in self.features.items():
            row[FEATURE_INDEX[name]] = value
        row[FEATURE_INDEX["baseline_glucose_mg_dl"]] = self.baseline_by_kind_mg_dl[
            _kind_name(person_features)
        ]
        # What the request did not say stays unsaid in the reference too, so an input nobody gave
        # contributes nothing (rather than "unknown versus the reference's value").
        for known, values in KNOWN_BITS.items():
            if person_features[FEATURE_INDEX[known]] == 0:
                for name in (known, *values):
                    row[FEATURE_INDEX[name]] = person_features[FEATURE_INDEX[name]]
        return row


def _group_columns() -> list[npt.NDArray[np.int64]]:
    return [np.array([i for i, f in enumerate(FEATURES) if f.group == g], np.int64) for g in FACTOR_GROUPS]


def coalition_inputs(actual: ModelInputs, reference: ReferenceMeal) -> ModelInputs:
    """(64 rows) coalition c keeps the actual inputs of group g iff bit g of c is set; row 63 = actual."""
    if actual.features.shape[0] != 1:
        raise ValueError("coalitions are built for one meal at a time")
    ref_features = reference.row(actual.features[0])
    columns = _group_columns()
    glucose_bit = FACTOR_GROUPS.index(GROUP_GLUCOSE)
    features = np.repeat(ref_features[None, :], N_COALITIONS, axis=0)  # (64, F)
    cgm = np.zeros((N_COALITIONS, CGM_POINTS), np.float32)  # (64, 37) flat reference trace
    mask = np.ones((N_COALITIONS, CGM_POINTS), np.float32)
    for c in range(N_COALITIONS):
        for g in range(N_GROUPS):
            if c >> g & 1:
                features[c, columns[g]] = actual.features[0, columns[g]]
        if c >> glucose_bit & 1:
            cgm[c] = actual.cgm_rel_mg_dl[0]
            mask[c] = actual.cgm_mask[0]
    return ModelInputs(cgm, mask, features)


def _kind_name(features: npt.NDArray[np.float32]) -> str:
    kind_bits = [features[FEATURE_INDEX[f"kind_{k.value}"]] for k in KIND_ORDER]
    return KIND_ORDER[int(np.argmax(kind_bits))].value if max(kind_bits) > 0 else "unknown"


def raw_reference_row(
    actual: RawInputs, features: npt.NDArray[np.float32], reference: ReferenceMeal
) -> RawInputs:
    """The reference meal as raw inputs for one request (`actual`, one row, whose `features` (F,) the
    graph computes): what `ReferenceMeal.row` is in feature space. The values come from the model's
    metadata (`reference_meal.raw`), this module's when the metadata has none."""
    row = actual.with_values(dict(REFERENCE_MEAL_RAW if reference.raw is None else reference.raw))
    known_columns = RAW_KNOWN_COLUMNS if reference.raw_known_columns is None else reference.raw_known_columns
    keep = {
        name: actual.value(name)
        for known, names in known_columns.items()
        if features[FEATURE_INDEX[known]] == 0
        for name in names
    }
    row = row.with_values(keep)
    flat = np.full_like(actual.cgm_mg_dl, reference.baseline_by_kind_mg_dl[_kind_name(features)])
    return RawInputs(flat, row.meal, row.context, actual.diabetes_kind)


def raw_coalition_inputs(
    actual: RawInputs, features: npt.NDArray[np.float32], reference: ReferenceMeal
) -> RawInputs:
    """(64 rows) as `coalition_inputs`, over the raw inputs: coalition c keeps the request's raw
    columns of group g (its CGM for the glucose group) iff bit g of c is set."""
    if actual.meal.shape[0] != 1:
        raise ValueError("coalitions are built for one meal at a time")
    ref = raw_reference_row(actual, features, reference)
    meal = np.repeat(ref.meal, N_COALITIONS, axis=0)  # (64, M)
    context = np.repeat(ref.context, N_COALITIONS, axis=0)  # (64, C)
    cgm = np.repeat(ref.cgm_mg_dl, N_COALITIONS, axis=0)  # (64, 37)
    glucose_bit = FACTOR_GROUPS.index(GROUP_GLUCOSE)
    meal_cols = [
        np.array([MEAL_INDEX[c.name] for c in MEAL_COLUMNS if c.group == g], np.int64) for g in FACTOR_GROUPS
    ]
    context_cols = [
        np.array([CONTEXT_INDEX[c.name] for c in CONTEXT_COLUMNS if c.group == g], np.int64)
        for g in FACTOR_GROUPS
    ]
    for c in range(N_COALITIONS):
        for g in range(N_GROUPS):
            if c >> g & 1:
                meal[c, meal_cols[g]] = actual.meal[0, meal_cols[g]]
                context[c, context_cols[g]] = actual.context[0, context_cols[g]]
        if c >> glucose_bit & 1:
            cgm[c] = actual.cgm_mg_dl[0]
    return RawInputs(cgm, meal, context, np.repeat(actual.diabetes_kind, N_COALITIONS, axis=0))


def coalition_slots(n_coalitions: int = N_COALITIONS) -> npt.NDArray[np.int64]:
    """History slots of the personal coalitions: the 64 without the past responses, then the 64 with."""
    return np.concatenate(
        [np.full(n_coalitions, NO_HISTORY_SLOT, np.int64), np.full(n_coalitions, HISTORY_SLOT, np.int64)]
    )


def personal_coalition_inputs(
    actual: ModelInputs, reference: ReferenceMeal
) -> tuple[ModelInputs, npt.NDArray[np.int64]]:
    """(128 rows, their history slots): bits 0-5 as `coalition_inputs`, bit 6 = the past responses
    (HISTORY_SLOT when set, NO_HISTORY_SLOT otherwise); row 127 is the prediction itself."""
    rows = coalition_inputs(actual, reference)
    return ModelInputs.concatenate([rows, rows]), coalition_slots()


def _shapley_weights(n: int = N_GROUPS) -> npt.NDArray[np.float64]:
    """(2^n, n) w[c, g]: weight of coalition c's value in group g's Shapley value (+ with g, - without)."""
    weights = np.zeros((2**n, n))
    for c in range(2**n):
        size = bin(c).count("1")
        for g in range(n):
            if c >> g & 1:  # c = S + {g}: weight |S|! (n-|S|-1)! / n! with |S| = size - 1
                weights[c, g] = math.factorial(size - 1) * math.factorial(n - size) / math.factorial(n)
            else:  # c = S without g
                weights[c, g] = -math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
    return weights


SHAPLEY_WEIGHTS = _shapley_weights()
PERSONAL_SHAPLEY_WEIGHTS = _shapley_weights(len(PERSONAL_FACTOR_GROUPS))


def shapley_values(coalition_values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(6,) or (7,) exact Shapley values from (64,) or (128,) coalition values; they sum to v(all) - v(none)."""
    if coalition_values.shape == (N_PERSONAL_COALITIONS,):
        return coalition_values @ PERSONAL_SHAPLEY_WEIGHTS
    if coalition_values.shape != (N_COALITIONS,):
        raise ValueError(
            f"need {N_COALITIONS} or {N_PERSONAL_COALITIONS} coalition values, got shape {coalition_values.shape}"
        )
    return coalition_values @ SHAPLEY_WEIGHTS
