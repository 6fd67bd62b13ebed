"""The shipped personal graph (models/glucose_response/2) keeps the physiology with a history:
with any past meals and profile, more carbohydrate never lowers the peak, a longer walk and more
rapid insulin (type 1) never raise it; with no history it answers exactly as version 1."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_glucose_physiology import AMOUNTS, meal_inputs, varied

from glucose_model.features import CURVE_MINUTES, ModelInputs
from glucose_model.impact import OUTPUT_RISE, OUTPUT_SPIKE
from glucose_model.metrics import peak_rise
from glucose_model.personal import (
    INPUT_HISTORY_SLOT,
    INPUT_PERSON,
    N_PERSON_FIELDS,
    history_arrays,
    no_history_feed,
    person_row,
)
from glucose_model.records import DiabetesKind

MODELS = Path(__file__).resolve().parents[2] / "models" / "glucose_response"
VERSION_2 = MODELS / "2" / "model.onnx"


def _session(path: Path) -> object:
    if not path.is_file():
        pytest.skip(f"{path} not exported")
    return _open(path)


@cache
def _open(path: Path) -> object:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _history(seed: int, n: int) -> tuple[ModelInputs, npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    cgm = rng.normal(0, 4, (n, 37)).astype(np.float32)
    features = np.zeros((n, 36), np.float32)
    features[:, 0] = rng.uniform(90, 220, n)  # baseline
    features[:, 2] = rng.uniform(10, 120, n)  # carbs
    shape = np.sin(np.linspace(0, np.pi, CURVE_MINUTES.shape[0]))
    measured = rng.uniform(0.2, 3.0, (n, 1)) * features[:, 2:3] * shape[None, :]
    measured[rng.random((n, 37)) < 0.1] = np.nan
    return ModelInputs(cgm, np.ones((n, 37), np.float32), features), measured.astype(np.float64)


def run(inputs: ModelInputs, seed: int, n_past: int, medication: bool) -> tuple[np.ndarray, np.ndarray]:
    session = _session(VERSION_2)
    n = inputs.features.shape[0]
    person = person_row(age_years=60, medication=["oral"]) if medication else np.full(N_PERSON_FIELDS, np.nan)
    feed = {
        **inputs.as_feed(),
        INPUT_PERSON: np.repeat(person[None, :].astype(np.float32), n, axis=0),
        INPUT_HISTORY_SLOT: np.zeros(n, np.int64),
        **history_arrays([_history(seed, n_past)]).as_feed(),
    }
    rise, spike = session.run([OUTPUT_RISE, OUTPUT_SPIKE], feed)  # type: ignore[attr-defined]
    return peak_rise(rise[:, :, 1].astype(np.float64))[0], spike[:, 0].astype(np.float64)


HISTORY = st.tuples(st.integers(0, 2**16), st.integers(1, 50), st.booleans())


@settings(max_examples=25, deadline=None)
@given(meal_inputs(), AMOUNTS, HISTORY)
def test_more_carbohydrate_never_lowers_the_peak_with_history(
    inputs: ModelInputs, carbs_g: list[float], history: tuple[int, int, bool]
) -> None:
    peak, spike = run(varied(inputs, "carbs_g", carbs_g), *history)
    assert np.all(np.diff(peak) >= -1e-3) and np.all(np.diff(spike) >= -1e-5)


@settings(max_examples=25, deadline=None)
@given(meal_inputs(), AMOUNTS, HISTORY)
def test_a_longer_walk_never_raises_the_peak_with_history(
    inputs: ModelInputs, walk_min: list[float], history: tuple[int, int, bool]
) -> None:
    peak, spike = run(varied(inputs, "planned_walk_min", walk_min), *history)
    assert np.all(np.diff(peak) <= 1e-3) and np.all(np.diff(spike) <= 1e-5)


@settings(max_examples=25, deadline=None)
@given(meal_inputs(kind=DiabetesKind.TYPE1), AMOUNTS, HISTORY)
def test_more_insulin_never_raises_the_peak_with_history(
    inputs: ModelInputs, units: list[float], history: tuple[int, int, bool]
) -> None:
    peak, spike = run(varied(inputs, "rapid_insulin_units", units), *history)
    assert np.all(np.diff(peak) <= 1e-3) and np.all(np.diff(spike) <= 1e-5)


@settings(max_examples=20, deadline=None)
@given(meal_inputs())
def test_no_history_is_version_1(inputs: ModelInputs) -> None:
    v2, v1 = _session(VERSION_2), _session(MODELS / "1" / "model.onnx")
    feed = inputs.as_feed()
    person = {**no_history_feed(1), INPUT_PERSON: person_row(medication=["oral"])[None, :]}
    got = v2.run([OUTPUT_RISE, OUTPUT_SPIKE], {**feed, **person})  # type: ignore[attr-defined]
    want = v1.run([OUTPUT_RISE, OUTPUT_SPIKE], feed)  # type: ignore[attr-defined]
    np.testing.assert_allclose(got[0], want[0], atol=1e-3)
    np.testing.assert_allclose(got[1], want[1], atol=1e-5)
