"""Answers a person can use, through the app with the shipped models: foods apart from settings, the
unnamed dish, sentences in English and Korean, mmol/L when asked in mmol/L, rounding, listed vocabularies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shipped_app import REPO_ROOT, impact_body, photo_paths, readings, shipped_settings, wait_ready

from glucose_model.records import MG_DL_PER_MMOL_L
from serving.main import create_app
from serving.schemas.glucose import ForecastResponse
from serving.schemas.meals import ImpactResponse, RecognizeResponse
from serving.wording import ALERTS, FACTORS, SCENARIOS
from vision.taxonomy import CATEGORIES

HANGUL = re.compile(r"[\uac00-\ud7a3]")

EXAMPLES = REPO_ROOT / "serving" / "examples"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # The README's forecast example carries fixed times: the freshness check is tested elsewhere.
    with TestClient(create_app(shipped_settings(max_cgm_age_min=0))) as test_client:
        wait_ready(test_client)
        yield test_client


def _recognize(client: TestClient, name: str, language: str | None = None) -> dict[str, Any]:
    path = next(p for p in photo_paths() if p.as_posix().endswith(name))
    headers = {"Accept-Language": language} if language else {}
    response = client.post(
        "/v1/meals/recognize", files={"image": (path.name, path.read_bytes())}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def _decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def test_a_setting_is_never_a_food(client: TestClient) -> None:
    for photo in photo_paths()[:12]:
        answer = client.post("/v1/meals/recognize", files={"image": (photo.name, photo.read_bytes())}).json()
        assert all(f["role"] in ("food", "drink") for f in answer["foods"]), photo
        assert "plate" not in {f["name"] for f in answer["foods"]}
        assert all(s["role"] == "setting" for s in answer["settings"])
        assert all(f["category"] in CATEGORIES for f in answer["foods"])


def test_only_settings_confident_says_unnamed_dish_with_the_wide_interval(client: TestClient) -> None:
    answer = _recognize(client, "004/food_pictures/001.jpg")  # plate 0.89, no food above 0.02
    assert not answer["dish_named"] and answer["dish"] == "unnamed dish"
    assert answer["settings"][0]["name"] == "plate"
    carbs = answer["carbs_g"]
    assert carbs["high"] - carbs["low"] > 100  # the wide interval a bare plate carries
    assert "unnamed dish" in answer["summary"] and f"{carbs['high']:.0f} g" in answer["summary"]
    named = _recognize(client, "004/food_pictures/007.jpg")
    assert named["dish_named"] and named["dish"] == "pizza" and "pizza" in named["summary"]


def test_korean_names_and_sentences(client: TestClient) -> None:
    answer = _recognize(client, "004/food_pictures/007.jpg", "ko-KR,ko;q=0.9,en;q=0.8")
    assert answer["dish"] == "피자" and HANGUL.search(answer["summary"])
    assert answer["foods"][0]["category_label"] == "여러 음식이 담긴 접시"
    english = _recognize(client, "004/food_pictures/007.jpg", "en-US,ko;q=0.5")
    assert english["dish"] == "pizza" and not HANGUL.search(english["summary"])


def test_impact_in_mmol_with_sentences_and_rounding(client: TestClient) -> None:
    body = impact_body("mmol/L", scale=MG_DL_PER_MMOL_L)
    answer = client.post("/v1/meals/impact", json=body).json()
    assert answer["unit"] == "mmol/L"
    peak = answer["peak"]
    # Both are rounded (whole mg/dL, 0.1 mmol/L) from the same unrounded value.
    assert peak["glucose_mmol_l"] == pytest.approx(
        peak["glucose_mg_dl"] / MG_DL_PER_MMOL_L, abs=0.05 + 0.5 / 18
    )
    assert all(p["glucose_mmol_l"] is not None for p in answer["curve"])
    assert f"{peak['glucose_mmol_l']:.1f} mmol/L" in answer["summary"] and "mg/dL" not in answer["summary"]
    assert _decimals(peak["glucose_mmol_l"]) <= 1 and _decimals(peak["glucose_mg_dl"]) <= 1
    for c in answer["explanation"]["contributions"]:
        assert c["factor"] in FACTORS and c["label"] and _decimals(c["peak_rise_mg_dl"]) <= 1
        assert c["peak_rise_mmol_l"] == pytest.approx(
            c["peak_rise_mg_dl"] / MG_DL_PER_MMOL_L, abs=0.05 + 0.5 / 18
        )
        assert _decimals(c["peak_rise_mmol_l"]) <= 1
    explanation = answer["explanation"]
    for which in ("predicted", "reference"):
        mg_dl = explanation[f"{which}_peak_rise_mg_dl"]
        assert explanation[f"{which}_peak_rise_mmol_l"] == pytest.approx(
            mg_dl / MG_DL_PER_MMOL_L, abs=0.05 + 0.5 / 18
        )
    assert all(w["scenario"] in SCENARIOS and w["summary"] for w in answer["what_if"])
    korean = client.post("/v1/meals/impact", json=impact_body(), headers={"Accept-Language": "ko"}).json()
    assert korean["unit"] == "mg/dL" and korean["peak"]["glucose_mmol_l"] is None
    assert all(c["peak_rise_mmol_l"] is None for c in korean["explanation"]["contributions"])
    assert HANGUL.search(korean["summary"]) and HANGUL.search(korean["explanation"]["summary"])
    assert (
        HANGUL.search(korean["explanation"]["reference"])
        and "eaten" not in korean["explanation"]["reference"]
    )
    assert all(HANGUL.search(w["description"]) for w in korean["what_if"])


def test_forecast_alerts_in_the_persons_language_and_unit(client: TestClient) -> None:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    values = [(100.0 + 4 * k) / MG_DL_PER_MMOL_L for k in range(36)]  # rising 0.8 mg/dL/min to 240
    body = {"cgm": {"unit": "mmol/L", "readings": readings(values, end)}}
    answer = client.post("/v1/glucose/forecast", json=body, headers={"Accept-Language": "ko"}).json()
    assert answer["unit"] == "mmol/L" and answer["current_glucose_mmol_l"] is not None
    assert answer["alerts"], answer
    for alert in answer["alerts"]:
        assert alert["kind"] in ALERTS and HANGUL.search(alert["reason"]) and "mmol/L" in alert["reason"]


def test_vocabularies_are_enums_in_the_openapi(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schemas["ContributionOut"]["properties"]["factor"]["enum"]) == set(FACTORS)
    assert set(schemas["WhatIfOut"]["properties"]["scenario"]["enum"]) == set(SCENARIOS)
    assert set(schemas["AlertOut"]["properties"]["kind"]["enum"]) == set(ALERTS)
    assert set(schemas["FoodOut"]["properties"]["category"]["enum"]) == set(CATEGORIES)


def _keys(value: Any) -> Any:
    """The shape of a JSON value: its keys, nested (a list by its first element)."""
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys(value[0])] if value else []
    return None


@pytest.mark.parametrize(
    ("model", "route"),
    [
        (RecognizeResponse, "/v1/meals/recognize"),
        (ImpactResponse, "/v1/meals/impact"),
        (ForecastResponse, "/v1/glucose/forecast"),
    ],
)
def test_openapi_examples_have_the_fields_the_server_returns(
    client: TestClient, model: Any, route: str
) -> None:
    example = model.model_config["json_schema_extra"]["examples"][0]
    model.model_validate(example)
    if route == "/v1/meals/recognize":
        path = next(p for p in photo_paths() if p.as_posix().endswith("002/food_pictures/005.jpg"))
        response = client.post(route, files={"image": (path.name, path.read_bytes())})
    else:
        body = json.loads((EXAMPLES / f"{route.rsplit('/', 1)[1]}.json").read_text())
        response = client.post(route, json=body)
    assert response.status_code == 200, response.text
    assert _keys(example) == _keys(response.json())
