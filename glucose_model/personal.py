"""The person inside the response model: optional profile fields and the past meals with their
measured responses, as the raw arrays the ONNX graph takes (numpy only; serving calls this).

Unknown is NaN, never 0: the graph builds the masks itself (`isnan`), so a phone sends what it has.
The history is a set of past meals, each with the model inputs it had before it was eaten and the
rise measured after it; the graph runs the population model on them, compares with what was
measured, and encodes the differences into a person vector (`response_network.PersonEncoder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from glucose_model.features import CGM_POINTS, CURVE_MINUTES, N_FEATURES, ModelInputs, build_inputs
from glucose_model.records import InsulinKind, Recording

MAX_HISTORY_MEALS = 50  # the encoder was trained on 0-50 past meals; more are cut to the latest 50

# Graph inputs of the personal model (besides features.INPUT_CGM / INPUT_CGM_MASK / INPUT_FEATURES).
INPUT_PERSON = "person"  # (B, P_FIELDS) profile fields in natural units, NaN = unknown
INPUT_HISTORY_SLOT = "history_slot"  # (B,) int64: which history set (row of the history inputs) a row uses
INPUT_HISTORY_CGM = "history_cgm_rel_mg_dl"  # (S, H, 37) pre-meal CGM of past meals, as INPUT_CGM
INPUT_HISTORY_CGM_MASK = "history_cgm_mask"  # (S, H, 37)
INPUT_HISTORY_FEATURES = "history_features"  # (S, H, F) as INPUT_FEATURES
INPUT_HISTORY_RISE = "history_rise_mg_dl"  # (S, H, 37) measured rise at 0..180 min, NaN = not measured
# A past meal counts when at least this share of its 0..180 min rise is measured (mask in the graph).
MIN_MEASURED_SHARE = 0.5


@dataclass(frozen=True)
class PersonField:
    name: str
    unit: str
    center: float
    scale: float


# Medication: several can be true at once (metformin with basal insulin); "none" = told none is taken.
PERSON_FIELDS: tuple[PersonField, ...] = (
    PersonField("age_years", "years", 50.0, 15.0),
    PersonField("sex_male", "1 = male, 0 = female", 0.5, 0.5),
    PersonField("bmi_kg_m2", "kg/m^2", 25.0, 4.0),
    PersonField("hba1c_percent", "% (NGSP)", 7.0, 1.5),
    PersonField("fasting_glucose_mg_dl", "mg/dL", 130.0, 35.0),
    PersonField("medication_none", "1 = takes no glucose-lowering drug", 0.0, 1.0),
    PersonField("medication_oral", "1 = metformin or another oral / non-insulin drug", 0.0, 1.0),
    PersonField("medication_basal_insulin", "1 = long- or intermediate-acting insulin", 0.0, 1.0),
    PersonField("medication_rapid_insulin", "1 = rapid- or short-acting (meal) insulin", 0.0, 1.0),
)
PERSON_FIELD_NAMES = tuple(f.name for f in PERSON_FIELDS)
N_PERSON_FIELDS = len(PERSON_FIELDS)
MEDICATIONS = ("none", "oral", "basal_insulin", "rapid_insulin")


def person_row(
    age_years: float | None = None,
    sex: str | None = None,
    bmi_kg_m2: float | None = None,
    hba1c_percent: float | None = None,
    fasting_glucose_mg_dl: float | None = None,
    medication: Sequence[str] | None = None,
) -> npt.NDArray[np.float32]:
    """(P_FIELDS,) the `person` input; None = unknown (NaN). `medication`: names of MEDICATIONS, [] = none."""
    row = np.full(N_PERSON_FIELDS, np.nan, np.float32)
    values = (age_years, None if sex is None else float(sex == "male"), bmi_kg_m2, hba1c_percent)
    for i, value in enumerate((*values, fasting_glucose_mg_dl)):
        row[i] = np.nan if value is None else value
    if medication is not None:
        unknown = sorted(set(medication) - set(MEDICATIONS))
        if unknown:
            raise ValueError(f"unknown medication {unknown}; use {list(MEDICATIONS)}")
        taken = set(medication) - {"none"}
        for name in MEDICATIONS:
            row[PERSON_FIELD_NAMES.index(f"medication_{name}")] = float(
                name in taken if name != "none" else not taken
            )
    return row


def recording_medication(recording: Recording) -> list[str] | None:
    """The drugs a recording shows: oral agents from its notes (Shanghai), insulin from its doses.

    None when the cohort logs neither drugs nor insulin (unknown, not "none").
    """
    oral = any("agents" in text for _, text in recording.notes)
    basal = any(d.kind == InsulinKind.BASAL and d.units > 0 for d in recording.insulin)
    rapid = any(d.kind == InsulinKind.RAPID and d.units > 0 for d in recording.insulin)
    if recording.cohort.startswith("shanghai"):  # the logs have a column for each: absent = not taken
        return [n for n, t in (("oral", oral), ("basal_insulin", basal), ("rapid_insulin", rapid)) if t]
    if recording.insulin:
        return [n for n, t in (("basal_insulin", basal), ("rapid_insulin", rapid)) if t] or None
    return None


@dataclass(frozen=True)
class HistoryArrays:
    """The history inputs for S history sets of up to H past meals each (NaN rise = padding/gap)."""

    cgm_rel_mg_dl: npt.NDArray[np.float32]  # (S, H, 37)
    cgm_mask: npt.NDArray[np.float32]  # (S, H, 37)
    features: npt.NDArray[np.float32]  # (S, H, F)
    rise_mg_dl: npt.NDArray[np.float32]  # (S, H, 37)

    def as_feed(self) -> dict[str, npt.NDArray[np.float32]]:
        return {
            INPUT_HISTORY_CGM: self.cgm_rel_mg_dl,
            INPUT_HISTORY_CGM_MASK: self.cgm_mask,
            INPUT_HISTORY_FEATURES: self.features,
            INPUT_HISTORY_RISE: self.rise_mg_dl,
        }


def history_arrays(sets: Sequence[tuple[ModelInputs, npt.NDArray[np.float64]]]) -> HistoryArrays:
    """History sets (each: the past meals' inputs (M, ...) and measured rises (M, 37)) -> padded arrays.

    An empty set is all padding: it is the "no history" slot. The latest MAX_HISTORY_MEALS meals of a
    set are kept (rows are taken in the order given: oldest first).
    """
    h = max([1, *(min(len(r), MAX_HISTORY_MEALS) for _, r in sets)])
    s = max(len(sets), 1)
    cgm = np.zeros((s, h, CGM_POINTS), np.float32)
    mask = np.zeros((s, h, CGM_POINTS), np.float32)
    features = np.zeros((s, h, N_FEATURES), np.float32)
    rise = np.full((s, h, CURVE_MINUTES.shape[0]), np.nan, np.float32)
    for i, (inputs, measured) in enumerate(sets):
        n = min(measured.shape[0], MAX_HISTORY_MEALS)
        if n == 0:
            continue
        cgm[i, :n] = inputs.cgm_rel_mg_dl[-n:]
        mask[i, :n] = inputs.cgm_mask[-n:]
        features[i, :n] = inputs.features[-n:]
        rise[i, :n] = measured[-n:]
    return HistoryArrays(cgm, mask, features, rise)


def metadata_person_inputs() -> dict[str, object]:
    """The `inputs` metadata entries of the person and history inputs: shapes and units."""
    return {
        INPUT_PERSON: {
            "shape": ["batch", N_PERSON_FIELDS],
            "unit": "natural units, NaN = unknown",
            "columns": [{"name": f.name, "unit": f.unit} for f in PERSON_FIELDS],
        },
        INPUT_HISTORY_SLOT: {
            "shape": ["batch"],
            "unit": "int64 index into the first axis of the history inputs; point rows at an all-NaN "
            "history set for 'no history'",
        },
        INPUT_HISTORY_CGM: {
            "shape": ["sets", "meals", CGM_POINTS],
            "unit": "as cgm_rel_mg_dl, per past meal",
        },
        INPUT_HISTORY_CGM_MASK: {"shape": ["sets", "meals", CGM_POINTS], "unit": "as cgm_mask"},
        INPUT_HISTORY_FEATURES: {"shape": ["sets", "meals", N_FEATURES], "unit": "as features"},
        INPUT_HISTORY_RISE: {
            "shape": ["sets", "meals", CURVE_MINUTES.shape[0]],
            "unit": "measured mg/dL minus the past meal's pre-meal baseline at curve_minutes; NaN = not "
            f"measured; a past meal with under {int(100 * MIN_MEASURED_SHARE)} % measured is ignored "
            "(padding = all NaN)",
            "max_meals_trained": MAX_HISTORY_MEALS,
        },
    }


def no_history_feed(n_rows: int) -> dict[str, npt.NDArray[np.float32] | npt.NDArray[np.int64]]:
    """The person and history inputs for `n_rows` rows that know nothing of the person (for callers
    that feed the graph directly: benches, the mobile bundle)."""
    empty = history_arrays([(build_inputs([]), np.zeros((0, CURVE_MINUTES.shape[0])))])
    return {
        INPUT_PERSON: np.full((n_rows, N_PERSON_FIELDS), np.nan, np.float32),
        INPUT_HISTORY_SLOT: np.zeros(n_rows, np.int64),
        **empty.as_feed(),
    }
