"""Golden cases from the real app and the shipped models: every recorded model call reproduces in a fresh
ONNX Runtime session, and the forecast's raw CGM input is recognised as a window of the request's grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from training.mobile_golden import (
    GLUCOSE_REQUESTS,
    GOLDEN_PHOTOS,
    glucose_cases,
    population_cases,
    refused_cases,
)

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


def test_refused_cases_are_the_apps_422_answers_and_impact_cases_keep_the_unrounded_result() -> None:
    refused = refused_cases(REPO / "models")
    cases: Any = refused["cases"]
    assert len(cases) > 40
    kinds = {c["problem"]["type"].rsplit("/", 1)[-1] for c in cases}
    assert {
        "validation-error",
        "too-few-cgm-readings",
        "value-out-of-range",
        "timestamp-in-future",
        "stale-cgm",
    } <= kinds
    assert {c["route"] for c in cases} == {"/v1/meals/impact", "/v1/glucose/forecast"}
    impact: Any = glucose_cases(REPO / "models", [r for r in GLUCOSE_REQUESTS if r[0] == "impact"])
    result = impact[0]["result"]
    assert [(w["name"], w["available"]) for w in result["what_if"]] == [
        ("half_portion", True),
        ("higher_fiber", True),
        ("walk_15_min", True),
        ("lower_gi_swap", False),
        ("protein_or_vegetables_first", False),
    ]
    # The answer rounds what the result keeps: the client is held to the unrounded numbers.
    answer = impact[0]["response"]["explanation"]["contributions"][0]["iauc_2h_mg_dl_min"]
    assert abs(result["explanation"]["contributions"][0]["iauc_2h_mg_dl_min"] - answer) <= 0.5


def test_population_cases_run_the_graph_kept_beside_the_golden_cases(tmp_path: Path) -> None:
    assert population_cases(REPO / "models", tmp_path) == ([], {})  # nothing kept: nothing written
    cases, metadata = population_cases(REPO / "models", REPO / "mobile" / "golden")
    assert {c["name"] for c in cases} == {
        "population_impact_example",
        "population_impact_irregular_cgm",
        "population_impact_personal",
    }
    meta: Any = metadata["glucose_response_population"]
    assert "person_fields" not in meta and "history_slot" not in meta["graph_inputs"]
    calls: Any = cases[0]["calls"]
    assert calls[0]["model"]["file"].startswith("population/glucose_response/")


def test_an_analyze_case_keeps_the_photos_carbohydrate_interval(shared_data: Path) -> None:
    photo = shared_data / GOLDEN_PHOTOS[0]
    cases: Any = glucose_cases(REPO / "models", [], photo=photo)
    (case,) = cases
    assert case["name"] == "analyze_photo" and case["route"] == "/v1/meals/analyze"
    meal = case["meal_as_predicted"]
    assert meal["carbs_p10_g"] < meal["carbs_g"] < meal["carbs_p90_g"]
    assert [c["model"]["name"] for c in case["calls"]] == [
        "glucose_response"
    ]  # the recognizer's is elsewhere
    # The photo's interval widens the band: p10 at or below the prediction's own.
    result = case["result"]
    assert all(
        lo <= mid
        for lo, mid in zip(result["curve"]["low_mg_dl"], result["curve"]["glucose_mg_dl"], strict=True)
    )
