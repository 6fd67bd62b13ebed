"""Golden cases from the real app and the shipped models: every recorded model call reproduces in a fresh
ONNX Runtime session, and the forecast's raw CGM input is recognised as a window of the request's grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from training.mobile_golden import glucose_cases

REPO = Path(__file__).resolve().parents[2]


def _array(tensor: Any) -> np.ndarray:
    data = [np.nan if v is None else v for v in tensor["data"]]
    return np.asarray(data, dtype=str(tensor["dtype"])).reshape(tensor["shape"])


def test_every_recorded_model_call_reproduces_from_the_model_file_alone() -> None:
    cases: list[Any] = glucose_cases(REPO / "models")
    names = {str(c["name"]) for c in cases}
    assert {"impact_example", "forecast_example", "forecast_irregular_cgm"} <= names
    sessions: dict[str, ort.InferenceSession] = {}
    for case in cases:
        calls = case["calls"]
        assert isinstance(calls, list) and calls, case["name"]
        for call in calls:
            model = call["model"]
            path = REPO / "models" / model["name"] / str(model["version"]) / "model.onnx"
            session = sessions.setdefault(str(path), ort.InferenceSession(str(path)))
            feeds = {name: _array(t) for name, t in call["inputs"].items()}
            for name, got in zip(call["outputs"], session.run(list(call["outputs"]), feeds), strict=True):
                np.testing.assert_allclose(got, _array(call["outputs"][name]), atol=1e-5, equal_nan=True)
    forecast = next(c for c in cases if c["name"] == "forecast_irregular_cgm")
    windows = [call["inputs_from_cgm_grid"] for call in forecast["calls"]]
    # The forecast graph takes raw CGM on the grid (NaN for gaps): a client builds it from the readings.
    assert any(windows), "no forecast input is a window of the request's CGM grid"
