"""The report routes through TestClient: the router on an app with the project's problem handlers and a runtime
without models (reports must work without the response model), PDF / HTML negotiation, FHIR validation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.dependencies import get_runtime
from serving.metrics import ServingMetrics
from serving.problems import install_problem_handlers
from serving.routes import reports

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(reports.router)
    install_problem_handlers(app, ServingMetrics())
    no_models = SimpleNamespace(response_predictor=None, model_versions=lambda *names: "")
    app.dependency_overrides[get_runtime] = lambda: no_models
    with TestClient(app) as test_client:
        yield test_client


def two_days(unit: str = "mg/dL") -> dict[str, Any]:
    """Two days of 15-min readings ending at the last 23:45 UTC, a 70 mg/dL rise after each 08:00 breakfast.

    A fixed time of day, not "an hour ago": ending at 08:30 would leave the last breakfast without the
    CGM after it, and the test would fail every morning.
    """
    end = datetime.now(UTC).replace(hour=23, minute=45, second=0, microsecond=0) - timedelta(days=1)
    times = [end - timedelta(minutes=15 * k) for k in range(2 * 96, -1, -1)]
    values = [110.0 + 70.0 * max(0.0, 1 - abs((t.hour * 60 + t.minute) - 540) / 60) for t in times]
    scale = 18.016 if unit == "mmol/L" else 1.0
    readings = [{"time": t.isoformat(), "value": v / scale} for t, v in zip(times, values, strict=True)]
    return {"cgm": {"unit": unit, "readings": readings}}


def test_agp_html_by_accept_header_with_meal_pages(client: TestClient) -> None:
    body = two_days()
    breakfasts = [
        t
        for t in (datetime.fromisoformat(r["time"]) for r in body["cgm"]["readings"])
        if t.hour == 8 and t.minute == 0
    ]
    body["meals"] = [
        {"time": t.isoformat(), "carbs_g": 50, "description": "porridge $x^{$ 2"} for t in breakfasts
    ]
    assert len(breakfasts) == 2
    body["profile"] = {"diabetes": "type2"}
    body["label"] = r"$\frac{$ (own text, never matplotlib math)"
    accept = {"Accept": "text/html;q=0.9, application/json"}
    response = client.post("/v1/reports/agp", json=body, headers=accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert html.count("data:image/png;base64,") == 3  # AGP, meal responses, meal table
    assert "at least 14 days are recommended" in html  # two days: the report says it is short
    assert "Predicted curves are not shown: the response model is not loaded on this server." in html
    assert "2 meals were logged; 2 had enough CGM" in html


def test_agp_pdf_in_mmol(client: TestClient) -> None:
    body = {**two_days("mmol/L"), "unit": "mmol/L", "format": "pdf"}
    response = client.post("/v1/reports/agp", json=body, headers={"Accept": "text/html"})  # the field wins
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith(b"%PDF")
    assert response.content.count(b"/Type /Page\n") + response.content.count(b"/Type /Page ") == 1  # no meals


@pytest.mark.parametrize(
    ("accept", "requested", "expected"),
    [(None, None, "pdf"), ("text/html", None, "html"), ("text/html;q=0.2, application/pdf", None, "pdf"),
     ("text/html", "pdf", "pdf"), ("*/*", None, "pdf"), ("text/*;q=0.5", None, "html")],
)  # fmt: skip
def test_format_negotiation(accept: str | None, requested: Any, expected: str) -> None:
    assert reports.negotiate_format(requested, accept) == expected


def test_short_or_bad_records_are_problems(client: TestClient) -> None:
    body = two_days()
    body["cgm"]["readings"] = body["cgm"]["readings"][:20]  # 5 hours
    response = client.post("/v1/reports/agp", json=body)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == "/problems/too-few-cgm-readings"
    assert "at least 24 h" in response.json()["detail"]
    future = two_days()
    future["cgm"]["readings"][-1]["time"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.post("/v1/reports/agp", json=future).json()["type"] == "/problems/timestamp-in-future"
    no_patient = {**two_days(), "patient": {}}
    response = client.post("/v1/reports/fhir", json=no_patient)
    assert response.status_code == 422 and "needs a patient" in response.json()["detail"]


@pytest.mark.parametrize("day", ["1767225600", 0, "0", 20260101, "2026-01-01T00:00:00", "01/01/2026"])
@pytest.mark.parametrize("route", ["/v1/reports/agp", "/v1/reports/fhir"])
def test_a_report_day_is_written_as_a_calendar_date(client: TestClient, route: str, day: Any) -> None:
    """Lax date parsing would read "1767225600" or 0 as a Unix time and a date-time as its day."""
    body = {**two_days(), "first_day": day, "last_day": "2026-01-02"}
    if route.endswith("fhir"):
        body["patient"] = {"identifier_system": "https://hospital.example/mrn", "identifier_value": "42"}
    response = client.post(route, json=body)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM_JSON
    assert "first_day" in response.text and "YYYY-MM-DD, such as 2026-11-27" in response.text


def test_fhir_bundle_validates(client: TestClient) -> None:
    bundle_model = pytest.importorskip("fhir.resources.R4B.bundle", reason="fhir.resources is a dev extra")
    body = {**two_days(), "patient": {"identifier_system": "https://hospital.example/mrn", "identifier_value": "42"},
            "include_readings": True, "device_identifier_value": "sensor-7"}  # fmt: skip
    response = client.post("/v1/reports/fhir", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    bundle = response.json()
    parsed = bundle_model.Bundle.model_validate(bundle)
    assert parsed.type == "transaction"
    readings = [
        e
        for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "99504-3"
    ]
    assert len(readings) == len(body["cgm"]["readings"])
    assert all(e["resource"]["subject"]["identifier"]["value"] == "42" for e in readings)
    values = np.array([r["valueQuantity"]["value"] for r in (e["resource"] for e in readings)])
    assert values.max() == pytest.approx(180.0, abs=0.1)
    assert "DiagnosticReport" not in {e["resource"]["resourceType"] for e in bundle["entry"]}
    device = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Device")
    assert device["identifier"][0]["value"] == "sensor-7"


def test_fhir_period_and_device_local_times(client: TestClient) -> None:
    body = {**two_days(), "patient": {"reference": "Patient/1"}, "days": 1}
    bundle = client.post("/v1/reports/fhir", json=body).json()
    panel = next(e["resource"] for e in bundle["entry"] if e["resource"].get("effectivePeriod"))
    start, end = (datetime.fromisoformat(panel["effectivePeriod"][k]).date() for k in ("start", "end"))
    assert (end - start).days <= 1  # the latest day of two
    # The same readings written as device-local clock time in a named zone.
    local = two_days()
    for reading in local["cgm"]["readings"]:
        reading["time"] = (
            datetime.fromisoformat(reading["time"])
            .astimezone(ZoneInfo("Asia/Seoul"))
            .replace(tzinfo=None)
            .isoformat()
        )
    refused = client.post("/v1/reports/agp", json=local)
    assert refused.status_code == 422
    local["cgm"]["tz"] = "Asia/Seoul"
    assert client.post("/v1/reports/agp", json={**local, "format": "html"}).status_code == 200
    for not_a_zone in ("Mars/Olympus", "America", "Etc"):  # "America" is a folder of zones: was a 500
        refused = client.post("/v1/reports/agp", json={**local, "cgm": {**local["cgm"], "tz": not_a_zone}})
        assert refused.status_code == 422 and "IANA" in refused.text, not_a_zone


def test_agp_page_in_korean_by_accept_language(client: TestClient) -> None:
    body = {**two_days(), "format": "html"}
    korean = client.post("/v1/reports/agp", json=body, headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    assert korean.status_code == 200, korean.text
    assert "이 보고서는" in korean.text  # the short-record note, in Korean
    english = client.post("/v1/reports/agp", json=body, headers={"Accept-Language": "en"})
    assert "This report covers" in english.text and "이 보고서는" not in english.text
