"""Every /v1 route answers an unknown key (JSON or form part) with a 422 problem naming it; /v2 with a 400."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shipped_app import impact_body, photo_paths, readings, shipped_settings

from serving.main import create_app
from serving.schemas.meals import GLYCEMIC_INDEX_REFUSED
from serving.schemas.reports import example_day

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(shipped_settings())) as test_client:
        yield test_client


def refused(response: Any, slug: str = "validation-error") -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


def test_impact_names_a_misspelt_field(client: TestClient) -> None:
    body = impact_body()
    body["meal"]["fibre_g"] = body["meal"].pop("fiber_g")
    problem = refused(client.post("/v1/meals/impact", json=body))
    message = (
        "Extra inputs are not permitted: 'fibre_g' is not a field here (did you mean 'fiber_g'?); "
        "the fields are time, sugars_g, fiber_g, fat_g, protein_g, carbs_g"
    )
    assert problem["detail"] == f"meal.fibre_g: {message}"
    assert problem["errors"] == [
        {"loc": ["body", "meal", "fibre_g"], "msg": message, "type": "extra_forbidden"}
    ]


def test_impact_refuses_a_glycemic_index_with_the_reason(client: TestClient) -> None:
    body = impact_body()
    body["meal"]["glycemic_index"] = 40
    problem = refused(client.post("/v1/meals/impact", json=body))
    assert problem["detail"].endswith(GLYCEMIC_INDEX_REFUSED)


def test_a_misspelt_past_meal_unit_is_named_and_other_errors_are_not_hidden(client: TestClient) -> None:
    body = impact_body()
    meal_time = datetime.fromisoformat(body["meal"]["time"]) - timedelta(hours=6)
    cgm = {"unit": "mg/dl", "readings": readings([110.0] * 48, meal_time + timedelta(hours=3))}
    past = {"meal": {"time": meal_time.isoformat(), "carbs_g": 40}, "cgm": cgm}
    body["history"] = [past]
    problem = refused(client.post("/v1/meals/impact", json=body), "bad-unit")
    assert problem["detail"] == "history[0].cgm.unit must be 'mg/dL' or 'mmol/L'"
    body["meal"]["carbs"] = 60
    problem = refused(client.post("/v1/meals/impact", json=body))
    assert {tuple(e["loc"]) for e in problem["errors"]} == {
        ("body", "history", 0, "cgm", "unit"),
        ("body", "meal", "carbs"),
    }
    assert "history[0].cgm.unit" in problem["detail"] and "meal.carbs" in problem["detail"]


def test_forecast_and_reports_refuse_unknown_keys(client: TestClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    forecast = {"cgm": {"unit": "mg/dL", "readings": readings([120.0] * 36, now)}, "meal": []}
    problem = refused(client.post("/v1/glucose/forecast", json=forecast))
    assert "'meal' is not a field here (did you mean 'meals'?)" in problem["detail"]
    report = {"cgm": {"unit": "mg/dL", "readings": example_day()}, "day": 7}
    problem = refused(client.post("/v1/reports/agp", json=report))
    assert "'day' is not a field here (did you mean 'days'?)" in problem["detail"]
    fhir = {"cgm": {"unit": "mg/dL", "readings": example_day()}, "patient": {"ref": "Patient/1"}}
    problem = refused(client.post("/v1/reports/fhir", json=fhir))
    assert problem["errors"][0]["loc"] == ["body", "patient", "ref"]
    assert "the fields are reference, identifier_system, identifier_value" in problem["detail"]


def test_photo_routes_refuse_an_unknown_form_part_and_unknown_context_keys(client: TestClient) -> None:
    photo = photo_paths()[0].read_bytes()
    files = {"image": ("a.jpg", photo, "image/jpeg")}
    problem = refused(client.post("/v1/meals/recognize", files=files, data={"personal_class": "[]"}))
    assert problem["errors"][0]["loc"] == ["body", "personal_class"]
    assert "(did you mean 'personal_classes'?); the fields are image, personal_classes" in problem["detail"]
    context = impact_body()
    problem = refused(client.post("/v1/meals/analyze", files=files, data={"context": json.dumps(context)}))
    assert problem["errors"][0]["loc"] == ["body", "context", "meal", "carbs_g"]
    assert "the carbohydrate comes from the photo" in problem["detail"]
    context["meal"].pop("carbs_g")
    data = {"context": json.dumps(context), "contexts": "{}"}
    problem = refused(client.post("/v1/meals/analyze", files=files, data=data))
    assert "'contexts' is not a field here (did you mean 'context'?)" in problem["detail"]


def test_v2_infer_refuses_an_unknown_key(client: TestClient) -> None:
    body = {
        "inputs": [{"name": "cgm_mg_dl", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}],
        "output": [],
    }
    response = client.post("/v2/models/glucose_forecast/infer", json=body)
    assert response.status_code == 400
    assert (
        "at output: Extra inputs are not permitted: 'output' is not a field here" in response.json()["error"]
    )


def test_an_unknown_setting_variable_is_logged_at_start_up_by_name_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MEALIMPACT_MAX_BODY_BYTE", "secret-value-123")
    with caplog.at_level(logging.WARNING, logger="serving.main"), TestClient(create_app(shipped_settings())):
        pass
    warned = [r.getMessage() for r in caplog.records if r.name == "serving.main"]
    assert any("MEALIMPACT_MAX_BODY_BYTE is not a serving setting" in m for m in warned), warned
    assert not any("secret-value-123" in r.getMessage() for r in caplog.records)


def test_every_api_route_refuses_an_unknown_query_parameter_and_probes_take_any(client: TestClient) -> None:
    """Each /v1 and /v2 route of the app (every method) names the parameter; the probes, metrics and docs
    answer as without it (Kubernetes and Prometheus may add parameters to the path they are given)."""
    paths = client.get("/openapi.json").json()["paths"]
    api = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(("/v1", "/v2")) and not path.startswith("/v2/health")
        for method in operations
    ]
    assert len(api) >= 15 and ("POST", "/v1/meals/recognize") in api and ("GET", "/v1/models") in api
    for method, path in api:
        url = path.format(model_name="glucose_forecast", model_version="5") + "?lang=de"
        response = client.request(method, url)
        # the answer is one the route publishes (GET /v1/models had no 422 of its own)
        documented = paths[path][method.lower()]["responses"][str(response.status_code)]
        assert response.headers["content-type"] in documented["content"], (method, path)
        if path.startswith("/v2"):
            assert response.status_code == 400, (method, path, response.text)
            assert (
                "at query.lang: Extra inputs are not permitted: 'lang' is not a query parameter here"
                in (response.json()["error"])
            )
            continue
        problem = refused(response)
        assert problem["errors"] == [
            {
                "loc": ["query", "lang"],
                "msg": "Extra inputs are not permitted: 'lang' is not a query parameter here; this route takes none",
                "type": "extra_forbidden",
            }
        ], (method, path)
    # with a valid body the parameter is the only complaint
    problem = refused(client.post("/v1/meals/impact?verbose=1", json=impact_body()))
    assert problem["detail"] == (
        "query.verbose: Extra inputs are not permitted: 'verbose' is not a query parameter here; this route "
        "takes none"
    )
    assert client.post("/v1/meals/impact", json=impact_body()).status_code == 200
    for probe in ("/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready", "/openapi.json"):
        assert client.get(probe).status_code == 200, probe
        assert client.get(probe + "?probe=kubelet").status_code == 200, probe
    assert client.get("/docs?x=1").status_code == 200 and client.get("/redoc?x=1").status_code == 200
