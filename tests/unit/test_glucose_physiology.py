"""Physiological invariants of the shipped response model, as properties over random valid inputs (ONNX).

More carbohydrate never lowers the predicted peak; a longer walk never raises it; more rapid insulin
never raises it (type 1). The network is built to obey them; these tests check the exported file does.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glucose_model.features import CGM_POINTS, FEATURE_INDEX, N_FEATURES, ModelInputs
from glucose_model.impact import OUTPUT_RISE, OUTPUT_SPIKE
from glucose_model.metrics import peak_rise
from glucose_model.records import KIND_ORDER, DiabetesKind

MODEL = Path(__file__).resolve().parents[2] / "models" / "glucose_response" / "1" / "model.onnx"
TOLERANCE_MG_DL = 1e-3  # float32 round-off only


@functools.cache
def session() -> object:
    ort = pytest.importorskip("onnxruntime")
    if not MODEL.exists():
        pytest.skip(f"{MODEL} not exported yet (mealimpact train glucose)")
    return ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])


def run(inputs: ModelInputs) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(B,) p50 peak rise and (B,) spike probability."""
    rise, spike = session().run([OUTPUT_RISE, OUTPUT_SPIKE], inputs.as_feed())  # type: ignore[attr-defined]
    return peak_rise(rise[:, :, 1].astype(np.float64))[0], spike[:, 0].astype(np.float64)


@st.composite
def meal_inputs(draw: st.DrawFn, kind: DiabetesKind | None = None) -> ModelInputs:
    """One random but physically valid input row."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    baseline = draw(st.floats(60.0, 320.0))
    steps = np.cumsum(rng.normal(0.0, draw(st.floats(0.0, 6.0)), CGM_POINTS))
    cgm = (steps - steps[-7:].mean()).astype(np.float32)
    mask = (rng.random(CGM_POINTS) > draw(st.floats(0.0, 0.5))).astype(np.float32)
    mask[-6:] = 1.0
    f = np.zeros(N_FEATURES, np.float32)
    f[FEATURE_INDEX["baseline_glucose_mg_dl"]] = baseline
    f[FEATURE_INDEX["trend_mg_dl_per_min"]] = draw(st.floats(-3.0, 3.0))
    f[FEATURE_INDEX["carbs_g"]] = draw(st.floats(0.0, 200.0))
    for name, high in (
        ("sugars_g", 80.0),
        ("fiber_g", 20.0),
        ("fat_g", 60.0),
        ("protein_g", 60.0),
        ("steps_hour_before", 6000.0),
        ("sleep_hours", 12.0),
        ("last_meal_carbs_g", 120.0),
    ):
        known = draw(st.booleans())
        f[FEATURE_INDEX[name]] = draw(st.floats(0.0, high)) if known else 0.0
    for known_name in (
        "sugars_known",
        "fiber_known",
        "fat_known",
        "protein_known",
        "steps_known",
        "sleep_known",
        "last_meal_known",
        "heart_rate_known",
        "glycemic_index_known",
        "planned_walk_known",
        "insulin_known",
        "carbs_spread_known",
    ):
        f[FEATURE_INDEX[known_name]] = float(draw(st.booleans()))
    f[FEATURE_INDEX["glycemic_index"]] = draw(st.floats(20.0, 100.0))
    f[FEATURE_INDEX["heart_rate_bpm_hour_before"]] = draw(st.floats(50.0, 150.0))
    f[FEATURE_INDEX["carbs_spread_g"]] = draw(st.floats(0.0, 40.0))
    f[FEATURE_INDEX["minutes_since_last_meal"]] = draw(st.floats(30.0, 1440.0))
    angle = draw(st.floats(0.0, 2 * np.pi))
    f[FEATURE_INDEX["time_of_day_sin"]], f[FEATURE_INDEX["time_of_day_cos"]] = np.sin(angle), np.cos(angle)
    f[FEATURE_INDEX["planned_walk_min"]] = draw(st.floats(0.0, 90.0))
    f[FEATURE_INDEX["rapid_insulin_units"]] = draw(st.floats(0.0, 30.0))
    chosen = kind if kind is not None else draw(st.sampled_from([None, *KIND_ORDER]))
    if chosen is not None:
        f[FEATURE_INDEX[f"kind_{chosen.value}"]] = 1.0
        f[FEATURE_INDEX["kind_known"]] = 1.0
    f[FEATURE_INDEX["spike_threshold_mg_dl"]] = 140.0 if chosen is None else chosen.spike_threshold_mg_dl
    return ModelInputs(cgm[None], mask[None], f[None])


def varied(inputs: ModelInputs, name: str, values: list[float]) -> ModelInputs:
    """The same meal repeated with feature `name` set to each of `values` (in that order)."""
    features = np.repeat(inputs.features, len(values), axis=0)
    features[:, FEATURE_INDEX[name]] = values
    n = len(values)
    return ModelInputs(np.repeat(inputs.cgm_rel_mg_dl, n, 0), np.repeat(inputs.cgm_mask, n, 0), features)


def sorted_values(draw_values: list[float]) -> list[float]:
    return sorted(draw_values)


AMOUNTS = st.lists(st.floats(0.0, 250.0), min_size=2, max_size=6).map(sorted_values)


@settings(max_examples=60, deadline=None)
@given(meal_inputs(), AMOUNTS)
def test_more_carbohydrate_never_lowers_the_peak(inputs: ModelInputs, carbs_g: list[float]) -> None:
    peak, spike = run(varied(inputs, "carbs_g", carbs_g))
    assert np.all(np.diff(peak) >= -TOLERANCE_MG_DL), (carbs_g, peak)
    assert np.all(np.diff(spike) >= -1e-5), (carbs_g, spike)


@settings(max_examples=60, deadline=None)
@given(meal_inputs(), st.lists(st.floats(0.0, 120.0), min_size=2, max_size=6).map(sorted_values))
def test_a_longer_walk_never_raises_the_peak(inputs: ModelInputs, walk_min: list[float]) -> None:
    peak, spike = run(varied(inputs, "planned_walk_min", walk_min))
    assert np.all(np.diff(peak) <= TOLERANCE_MG_DL), (walk_min, peak)
    assert np.all(np.diff(spike) <= 1e-5), (walk_min, spike)


@settings(max_examples=60, deadline=None)
@given(
    meal_inputs(DiabetesKind.TYPE1), st.lists(st.floats(0.0, 40.0), min_size=2, max_size=6).map(sorted_values)
)
def test_more_insulin_never_raises_the_peak_in_type1(inputs: ModelInputs, units: list[float]) -> None:
    peak, spike = run(varied(inputs, "rapid_insulin_units", units))
    assert np.all(np.diff(peak) <= TOLERANCE_MG_DL), (units, peak)
    assert np.all(np.diff(spike) <= 1e-5), (units, spike)
