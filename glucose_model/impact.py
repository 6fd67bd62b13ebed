"""What a meal will do to this person's glucose: the predictor serving calls (numpy only).

One request = one batched model call: the 64 explanation coalitions (the last is the prediction
itself), the what-if scenarios, the photo's p10/p90 carbohydrate, and the person's past meals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from glucose_model.calibration import CalibrationReport, RiseAdjustment, calibrate
from glucose_model.explanation import (
    N_PERSONAL_COALITIONS,
    PERSONAL_FACTOR_GROUPS,
    ReferenceMeal,
    coalition_inputs,
    coalition_slots,
    personal_coalition_inputs,
    raw_coalition_inputs,
    shapley_values,
)
from glucose_model.features import (
    CGM_POINTS,
    CURVE_MINUTES,
    FACTOR_GROUPS,
    FEATURE_INDEX,
    FEATURE_NAMES,
    INPUT_CGM,
    INPUT_CGM_MASK,
    INPUT_FEATURES,
    N_FEATURES,
    QUANTILES,
    MealContext,
    ModelInputs,
    PreMealGlucose,
    build_inputs,
    feature_row,
    glucose_window,
    pre_meal_from_grid,
)
from glucose_model.metrics import IAUC_WINDOW_MIN, peak_rise, positive_incremental_aucs
from glucose_model.personal import (
    INPUT_HISTORY_SLOT,
    INPUT_PERSON,
    MAX_HISTORY_MEALS,
    N_PERSON_FIELDS,
    PERSON_FIELD_NAMES,
    history_arrays,
)
from glucose_model.records import GlucoseSeries, InsufficientCgmError
from glucose_model.response_inputs import (
    INPUT_RAW_CGM,
    OUTPUT_FEATURES,
    RawInputs,
    empty_raw_inputs,
    metadata_raw_inputs,
    raw_contract,
    raw_history,
    raw_inputs,
)
from mealimpact.inference import InferFn
from mealimpact.model_repository.metadata import ModelMetadataError, ResponseMetadata

OUTPUT_RISE = "rise_mg_dl"  # (B, 37, 3) change from the pre-meal baseline at p10, p50, p90
OUTPUT_SPIKE = "spike_probability"  # (B, 1)
OUTPUT_SPIKE_SLOPE = "spike_logit_per_mg_dl"  # (B, 1) d logit / d p50 peak, to re-score an adjusted peak
WALK_WHAT_IF_MIN = 15.0
EXTRA_FIBER_G = 5.0
# Changes a person asks about that the model cannot answer, each with why (answered available=False).
UNAVAILABLE_WHAT_IFS = (
    (
        "lower_gi_swap",
        "swapping the carbohydrate for a lower-GI option: not available, the model saw a glycemic index only "
        "in simulated meals and its effect on real meals is not trustworthy (MODEL_CARD.md, 'Glycemic index: "
        "not accepted')",
    ),
    (
        "protein_or_vegetables_first",
        "eating the protein or vegetables before the carbohydrate: not available, the model has "
        "no input for the order of foods within a meal",
    ),
)
MIN_MEASURED_SHARE = 0.5  # a past meal needs at least half of its 0..180 min curve measured
# What the explanation's contributions are measured against (Explanation.reference).
REFERENCE_DESCRIPTION = (
    "reference_meal in the model metadata (see MODEL_CARD.md), eaten by the same kind of person"
)


class ResponseMetadataError(ValueError):
    """The response model's metadata does not match this code (wrong or old export)."""


@dataclass(frozen=True)
class PastMeal:
    """A meal the person ate before, with the CGM measured after it (sent by the app, never stored)."""

    context: MealContext
    measured: GlucoseSeries


@dataclass(frozen=True)
class Curve:
    minute: npt.NDArray[np.int64]  # (37,) 0..180 step 5, from the meal
    glucose_mg_dl: npt.NDArray[np.float64]  # (37,) p50
    low_mg_dl: npt.NDArray[np.float64]  # (37,) p10, widened by the photo's carbohydrate interval
    high_mg_dl: npt.NDArray[np.float64]  # (37,) p90, likewise


@dataclass(frozen=True)
class Peak:
    glucose_mg_dl: float
    minute: int
    rise_mg_dl: float


@dataclass(frozen=True)
class Spike:
    probability: float
    threshold_mg_dl: float


@dataclass(frozen=True)
class Contribution:
    group: str
    peak_rise_mg_dl: float
    iauc_2h_mg_dl_min: float


@dataclass(frozen=True)
class Explanation:
    """Exact Shapley values; they sum to predicted minus reference (peak rise and 2-h iAUC)."""

    contributions: tuple[Contribution, ...]
    reference_peak_rise_mg_dl: float
    reference_iauc_2h_mg_dl_min: float
    predicted_peak_rise_mg_dl: float
    predicted_iauc_2h_mg_dl_min: float
    reference: str


@dataclass(frozen=True)
class WhatIf:
    name: str
    description: str
    available: bool
    peak_glucose_mg_dl: float | None = None
    spike_probability: float | None = None


@dataclass(frozen=True)
class ImpactResult:
    curve: Curve
    peak: Peak
    spike: Spike
    explanation: Explanation
    what_if: tuple[WhatIf, ...]
    calibration: CalibrationReport | None
    model_version: str

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready values (arrays as lists)."""
        return _jsonable(dataclasses.asdict(self))  # type: ignore[return-value]


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def iauc_2h(rise_mg_dl: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(B,) positive incremental area over 0..120 min of (B, 37) rise curves, mg/dL*min."""
    within = CURVE_MINUTES <= IAUC_WINDOW_MIN
    t = CURVE_MINUTES[within].astype(np.float64)
    return positive_incremental_aucs(t, rise_mg_dl[:, within], np.zeros(rise_mg_dl.shape[0]))


def read_response_metadata(metadata: Mapping[str, str]) -> ResponseMetadata:
    """The model's metadata_props read by the repository's one schema (`ResponseMetadata`)."""
    try:
        return ResponseMetadata.from_props(metadata)
    except ModelMetadataError as error:
        raise ResponseMetadataError(str(error)) from error


class ResponsePredictor:
    """Predicts, explains and re-scores a meal with the response model behind `infer`."""

    def __init__(self, metadata: Mapping[str, str], infer: InferFn) -> None:
        schema = read_response_metadata(metadata)
        if schema.feature_names != list(FEATURE_NAMES):
            raise ResponseMetadataError(
                "the model's feature_names differ from glucose_model.features: the model and the code "
                "are from different versions; re-export the model or update the code"
            )
        if schema.curve_minutes != CURVE_MINUTES.tolist():
            raise ResponseMetadataError("the model's curve_minutes differ from glucose_model.features")
        if schema.quantiles != list(QUANTILES):
            raise ResponseMetadataError("the model's quantiles differ from glucose_model.features")
        if not isinstance(schema.reference_meal, Mapping):
            raise ResponseMetadataError(
                "the model's reference_meal must be a JSON object; re-export the model"
            )
        self.metadata = schema
        self.reference = ReferenceMeal.from_metadata(schema.reference_meal)
        self.version = schema.version
        self._infer = infer
        # A model with the person inside it takes the profile fields and the history as inputs;
        # an older one (no `person_fields`) gets the ridge calibration on top instead.
        self.personal = schema.person_fields is not None
        if self.personal and schema.person_fields != list(PERSON_FIELD_NAMES):
            raise ResponseMetadataError("the model's person_fields differ from glucose_model.personal")
        # A self-contained graph (version 3 on) takes the raw inputs and builds the features itself;
        # a personal one also takes the person and the past meals, a population one (`train glucose`)
        # takes the meal rows only and gets the ridge calibration on top, as a features-based one.
        inputs = schema.inputs
        self.raw = isinstance(inputs, Mapping) and INPUT_RAW_CGM in inputs
        if isinstance(inputs, Mapping) and self.raw:
            if raw_contract(inputs) != raw_contract(metadata_raw_inputs()):
                raise ResponseMetadataError(
                    "the model's meal/context columns or kind codes differ from glucose_model.response_inputs"
                )
            if self.reference.raw is None:
                raise ResponseMetadataError("a raw-input response model needs reference_meal.raw")

    def _run(self, feed: dict[str, npt.NDArray[Any]]) -> tuple[npt.NDArray[np.float64], ...]:
        """(rise (B,37,3), spike (B,), slope (B,), the graph's features (B,F) or an empty array)."""
        outputs = self._infer(feed)
        needed = (OUTPUT_RISE, OUTPUT_SPIKE, OUTPUT_SPIKE_SLOPE) + ((OUTPUT_FEATURES,) if self.raw else ())
        for name in needed:
            if name not in outputs:
                raise ResponseMetadataError(f"the response model returned no '{name}' output")
        return (
            np.asarray(outputs[OUTPUT_RISE], np.float64),  # (B, 37, 3)
            np.asarray(outputs[OUTPUT_SPIKE], np.float64).reshape(-1),  # (B, 1) -> (B,)
            np.asarray(outputs[OUTPUT_SPIKE_SLOPE], np.float64).reshape(-1),
            np.asarray(outputs.get(OUTPUT_FEATURES, np.zeros((0, N_FEATURES))), np.float64),
        )

    def impact(
        self,
        context: MealContext,
        history: Sequence[PastMeal] = (),
        person: npt.NDArray[np.float32] | None = None,
    ) -> ImpactResult:
        """`person`: the profile fields (`personal.person_row`, NaN = unknown); used by personal models."""
        # features.py validates the request (InsufficientCgmError) and says which inputs are known;
        # a raw graph computes the same features itself (tests/integration/test_glucose_response_raw.py).
        actual = build_inputs([context])
        raw = raw_inputs([context]) if self.raw else None
        scenarios = _what_if_inputs(actual, self.reference, raw)
        meal = context.meal
        photo = meal.carbs_p10_g is not None and meal.carbs_p90_g is not None
        interval = [
            _with_carbs(actual, c, raw) for c in (meal.carbs_p10_g, meal.carbs_p90_g) if c is not None
        ]
        history = tuple(history)[-MAX_HISTORY_MEALS:] if self.personal else tuple(history)
        scenario_rows = [r for s in scenarios for r in (s.changed, s.base) if r is not None]
        coalitions: ModelInputs | RawInputs
        if raw is not None and self.personal:
            once = raw_coalition_inputs(raw, actual.features[0], self.reference)
            coalitions, slots = RawInputs.concatenate([once, once]), coalition_slots()
        elif raw is not None:
            coalitions, slots = raw_coalition_inputs(raw, actual.features[0], self.reference), None
        elif self.personal:
            coalitions, slots = personal_coalition_inputs(actual, self.reference)
        else:
            coalitions, slots = coalition_inputs(actual, self.reference), None
        n_coalitions = (
            coalitions.cgm_mg_dl.shape[0]
            if isinstance(coalitions, RawInputs)
            else coalitions.features.shape[0]
        )
        rows = [coalitions, *scenario_rows, *interval]
        n_rows = n_coalitions + len(scenario_rows) + len(interval)
        report = None
        graph_features = None
        if raw is not None and not self.personal:
            past_raw, after = raw_past_meal_inputs(history)
            batch_raw = RawInputs.concatenate([*rows, past_raw])  # type: ignore[list-item]
            rise, spike, slope, graph_features = self._run(batch_raw.as_feed())
            adjustment = RiseAdjustment()
            if history:
                # The measured rise after each past meal, from the baseline the graph computed for it.
                baseline = graph_features[n_rows:, FEATURE_INDEX["baseline_glucose_mg_dl"], None]
                report = calibrate(rise[n_rows:, :, 1], after - baseline)
                if report.applied:
                    adjustment = report.adjustment
        elif raw is not None:
            past_raw, after = raw_past_meal_inputs(history)
            assert slots is not None
            feed: dict[str, npt.NDArray[Any]] = {
                **RawInputs.concatenate(rows).as_feed(),  # type: ignore[arg-type]
                INPUT_PERSON: _person_rows(person, n_rows),
                INPUT_HISTORY_SLOT: np.concatenate([slots, np.zeros(n_rows - n_coalitions, np.int64)]),
                **raw_history(
                    [(past_raw, after), (empty_raw_inputs(), np.zeros((0, CURVE_MINUTES.shape[0])))],
                    MAX_HISTORY_MEALS,
                ).as_feed(),
            }
            rise, spike, slope, graph_features = self._run(feed)
            report = _history_report(len(history))
            adjustment = RiseAdjustment()
        elif self.personal:
            past, measured = past_meal_inputs(history) if history else (None, None)
            batch = ModelInputs.concatenate(rows)  # type: ignore[arg-type]
            empty = build_inputs([])
            sets = [
                (past, measured) if past is not None and measured is not None else (empty, np.zeros((0, 37))),
                (empty, np.zeros((0, CURVE_MINUTES.shape[0]))),
            ]
            assert slots is not None
            feed = {
                **batch.as_feed(),
                INPUT_PERSON: _person_rows(person, n_rows),
                # Scenario and photo-interval rows keep the person's history (slot 0).
                INPUT_HISTORY_SLOT: np.concatenate([slots, np.zeros(n_rows - n_coalitions, np.int64)]),
                **history_arrays(sets).as_feed(),
            }
            rise, spike, slope, _ = self._run(feed)
            report = _history_report(len(history))
            adjustment = RiseAdjustment()
        else:
            past, measured = past_meal_inputs(history) if history else (None, None)
            batch = ModelInputs.concatenate(rows + ([past] if past is not None else []))  # type: ignore[arg-type]
            rise, spike, slope, _ = self._run(batch.as_feed())
            adjustment = RiseAdjustment()
            if measured is not None:
                report = calibrate(rise[n_rows:, :, 1], measured)
                if report.applied:
                    adjustment = report.adjustment

        own = n_coalitions - 1  # the coalition with every group = the prediction itself
        # The baseline and threshold the graph used (a raw graph's own; else features.py's, the same).
        used = actual.features[0] if graph_features is None else graph_features[own]
        baseline_mg_dl = float(used[FEATURE_INDEX["baseline_glucose_mg_dl"]])
        threshold_mg_dl = float(used[FEATURE_INDEX["spike_threshold_mg_dl"]])
        raw_peak, _ = peak_rise(rise[:n_rows, :, 1])
        rise = adjustment.apply(rise[:n_rows])  # (n_rows, 37, 3)
        p50_peak, p50_minute = peak_rise(rise[:, :, 1])
        spike = _rescore(spike[:n_rows], slope[:n_rows], p50_peak - raw_peak)

        low, high = rise[own, :, 0], rise[own, :, 2]
        spike_probability = float(spike[own])
        if photo:
            lo_row, hi_row = n_rows - 2, n_rows - 1
            low = np.minimum(low, rise[lo_row, :, 0])
            high = np.maximum(high, rise[hi_row, :, 2])
            # Three-point quadrature over the carbohydrate estimate (p10, p50, p90).
            spike_probability = float(0.25 * spike[lo_row] + 0.5 * spike[own] + 0.25 * spike[hi_row])

        peaks_iauc = iauc_2h(rise[:n_coalitions, :, 1])
        phi_peak = shapley_values(p50_peak[:n_coalitions])
        phi_iauc = shapley_values(peaks_iauc)
        groups = PERSONAL_FACTOR_GROUPS if n_coalitions == N_PERSONAL_COALITIONS else FACTOR_GROUPS
        explanation = Explanation(
            contributions=tuple(
                Contribution(g, float(phi_peak[i]), float(phi_iauc[i])) for i, g in enumerate(groups)
            ),
            reference_peak_rise_mg_dl=float(p50_peak[0]),
            reference_iauc_2h_mg_dl_min=float(peaks_iauc[0]),
            predicted_peak_rise_mg_dl=float(p50_peak[own]),
            predicted_iauc_2h_mg_dl_min=float(peaks_iauc[own]),
            reference=REFERENCE_DESCRIPTION,
        )
        what_if = []
        row = n_coalitions
        for scenario in scenarios:
            if scenario.base is None:
                peak, probability = float(p50_peak[row]), float(spike[row])
                row += 1
            else:
                shift = p50_peak[row : row + 1] - p50_peak[row + 1 : row + 2]
                peak = float(p50_peak[own] + shift[0])
                probability = float(_rescore(spike[own : own + 1], slope[own : own + 1], shift)[0])
                row += 2
            what_if.append(
                WhatIf(scenario.name, scenario.description, True, baseline_mg_dl + peak, probability)
            )
        what_if.extend(WhatIf(name, description, False) for name, description in UNAVAILABLE_WHAT_IFS)
        return ImpactResult(
            curve=Curve(
                CURVE_MINUTES.copy(),
                baseline_mg_dl + rise[own, :, 1],
                baseline_mg_dl + low,
                baseline_mg_dl + high,
            ),
            peak=Peak(baseline_mg_dl + float(p50_peak[own]), int(p50_minute[own]), float(p50_peak[own])),
            spike=Spike(spike_probability, threshold_mg_dl),
            explanation=explanation,
            what_if=tuple(what_if),
            calibration=report,
            model_version=self.version,
        )


def _rescore(
    probability: npt.NDArray[np.float64],
    slope: npt.NDArray[np.float64],
    peak_shift_mg_dl: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Spike probability after the personal adjustment moved the p50 peak by `peak_shift_mg_dl`."""
    p = np.clip(probability, 1e-7, 1 - 1e-7)
    logit = np.log(p / (1 - p)) + slope * peak_shift_mg_dl
    return 1.0 / (1.0 + np.exp(-logit))


def _person_rows(person: npt.NDArray[np.float32] | None, n_rows: int) -> npt.NDArray[np.float32]:
    row = np.full(N_PERSON_FIELDS, np.nan, np.float32) if person is None else person
    return np.repeat(row[None, :].astype(np.float32), n_rows, axis=0)


def _history_report(n_past: int) -> CalibrationReport | None:
    if n_past == 0:
        return None
    return CalibrationReport(
        n_past,
        RiseAdjustment(),
        True,
        "the past meals went into the model's person encoder (factor 'your past responses')",
        None,
        None,
    )


def _with_carbs(inputs: ModelInputs, carbs_g: float, raw: RawInputs | None = None) -> ModelInputs | RawInputs:
    if raw is not None:
        return raw.with_values({"carbs_g": carbs_g})
    features = inputs.features.copy()
    features[:, FEATURE_INDEX["carbs_g"]] = carbs_g
    return ModelInputs(inputs.cgm_rel_mg_dl, inputs.cgm_mask, features)


@dataclass(frozen=True)
class _Scenario:
    name: str
    description: str
    changed: ModelInputs | RawInputs  # one row
    # One row "as eaten, with the reference meal's value filled in" when the request left the
    # changed input unknown: the effect is then changed - base, added to the prediction, so the
    # what-if answers "what does the change do", not "what does knowing the input do".
    base: ModelInputs | RawInputs | None = None


def _set(
    actual: ModelInputs, values: Mapping[str, float], raw: RawInputs | None = None
) -> ModelInputs | RawInputs:
    """One row with feature columns set; on the raw inputs when given (a known bit is then implied
    by the value: the raw columns named here are named as the feature columns)."""
    if raw is not None:
        return raw.with_values({k: v for k, v in values.items() if not k.endswith("_known")})
    features = actual.features.copy()
    for name, value in values.items():
        features[0, FEATURE_INDEX[name]] = value
    return ModelInputs(actual.cgm_rel_mg_dl, actual.cgm_mask, features)


HALF_PORTION_FEATURES = ("carbs_g", "carbs_spread_g", "sugars_g", "fiber_g", "fat_g", "protein_g")
HALF_PORTION_RAW = ("carbs_g", "carbs_p10_g", "carbs_p90_g", "sugars_g", "fiber_g", "fat_g", "protein_g")


def _what_if_inputs(
    actual: ModelInputs, reference: ReferenceMeal, raw: RawInputs | None = None
) -> list[_Scenario]:
    """The scenarios the model can answer, as rows to add to the batch (raw rows when `raw` is given)."""
    f = actual.features[0]
    half: ModelInputs | RawInputs = (
        _set(actual, {n: 0.5 * float(f[FEATURE_INDEX[n]]) for n in HALF_PORTION_FEATURES})
        if raw is None
        else raw.with_values({n: 0.5 * raw.value(n) for n in HALF_PORTION_RAW})
    )
    out = [_Scenario("half_portion", "eat half of this meal", half)]
    changes = (
        (
            "higher_fiber",
            f"add {EXTRA_FIBER_G:.0f} g of fibre (a side of vegetables or legumes) to the same carbohydrate",
            "fiber_g",
            "fiber_known",
            lambda fiber: fiber + EXTRA_FIBER_G,
        ),
        (
            "walk_15_min",
            f"a {WALK_WHAT_IF_MIN:.0f}-min walk starting 15-30 min after the meal",
            "planned_walk_min",
            "planned_walk_known",
            lambda walk: max(WALK_WHAT_IF_MIN, walk),
        ),
    )
    for name, description, column, known, change in changes:
        if f[FEATURE_INDEX[known]]:
            current, base = float(f[FEATURE_INDEX[column]]), None
        else:
            current = reference.features[column]
            base = _set(actual, {column: current, known: 1.0}, raw)
        out.append(
            _Scenario(name, description, _set(actual, {column: change(current), known: 1.0}, raw), base)
        )
    return out


def _joined(before: GlucoseSeries, after: GlucoseSeries) -> GlucoseSeries:
    """One series of a past meal's CGM before and after it (a reading in both is kept once)."""
    times = np.concatenate([before.times_utc_s, after.times_utc_s])
    order = np.argsort(times, kind="stable")
    keep = np.ones(order.shape[0], bool)
    keep[1:] = np.diff(times[order]) > 0
    take = order[keep]
    offsets = np.concatenate([before.utc_offset_min, after.utc_offset_min])
    values = np.concatenate([before.glucose_mg_dl, after.glucose_mg_dl])
    return GlucoseSeries(times[take], offsets[take], values[take], "past meal")


def past_meal_inputs(history: Sequence[PastMeal]) -> tuple[ModelInputs, npt.NDArray[np.float64]]:
    """The past meals' model inputs and measured rises (M, 37), from ONE grid of each meal's CGM
    before and after it (the app sends it as one list; resampling it once is both faster and what
    training saw: `windows.MealWindow` grids the whole -180..180 min)."""
    n = len(history)
    cgm = np.zeros((n, CGM_POINTS), np.float32)
    mask = np.zeros((n, CGM_POINTS), np.float32)
    features = np.zeros((n, N_FEATURES), np.float32)
    rises = np.zeros((n, CURVE_MINUTES.shape[0]))
    for i, (past, window, pre) in enumerate(zip(history, *_past_meal_windows(history), strict=True)):
        valid = np.isfinite(pre.glucose_mg_dl)
        cgm[i, valid] = pre.glucose_mg_dl[valid] - pre.baseline_mg_dl
        mask[i] = valid
        features[i] = feature_row(past.context, pre)
        rises[i] = window[CGM_POINTS - 1 :] - pre.baseline_mg_dl
    return ModelInputs(cgm, mask, features), rises


def raw_past_meal_inputs(history: Sequence[PastMeal]) -> tuple[RawInputs, npt.NDArray[np.float64]]:
    """The past meals' raw inputs and the glucose measured after them (M, 37) at CURVE_MINUTES
    (the raw graph subtracts each meal's baseline itself); the same grid as `past_meal_inputs`."""
    windows, pres = _past_meal_windows(history)
    if not history:
        return empty_raw_inputs(), np.zeros((0, CURVE_MINUTES.shape[0]))
    cgm = np.stack([pre.glucose_mg_dl for pre in pres])  # (M, 37)
    after = np.stack([window[CGM_POINTS - 1 :] for window in windows])  # (M, 37)
    return raw_inputs([p.context for p in history], cgm), after


def _past_meal_windows(
    history: Sequence[PastMeal],
) -> tuple[list[npt.NDArray[np.float64]], list[PreMealGlucose]]:
    """Each past meal's (73,) grid at -180..180 min and its pre-meal part; raises InsufficientCgmError
    naming the meal when its CGM before or after it is too thin."""
    windows, pres = [], []
    for i, past in enumerate(history):
        try:
            window = glucose_window(_joined(past.context.glucose, past.measured), past.context.meal.time)
            pre = pre_meal_from_grid(window[:CGM_POINTS])
            _measured(window[CGM_POINTS - 1 :] - pre.baseline_mg_dl)
            windows.append(window)
            pres.append(pre)
        except InsufficientCgmError as err:
            # Name the past meal: "the hour before the meal" alone reads as the meal being asked about.
            raise InsufficientCgmError(
                f"history[{i}] (the past meal at {past.context.meal.time.isoformat()}): {err}; "
                "send its CGM from 1 h before to 3 h after it, or leave that meal out of the history"
            ) from err
    return windows, pres


def _measured(rise: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if np.isfinite(rise).mean() < MIN_MEASURED_SHARE:
        raise InsufficientCgmError(
            f"CGM covers only {100 * np.isfinite(rise).mean():.0f}% of the 3 h after it "
            f"(at least {100 * MIN_MEASURED_SHARE:.0f}% needed)"
        )
    return rise


# The ONNX graph's input names, for callers that build feeds themselves.
INPUT_NAMES = (INPUT_CGM, INPUT_CGM_MASK, INPUT_FEATURES)
