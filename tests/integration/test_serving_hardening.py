"""Issue 18 through TestClient with the real lifespan: keys checked before the body, audit lines, rate
limit, memory budget, work that stops at its deadline, strict types, clinical caps, stale CGM, /v2
edge cases, and a DEBUG log capture of a full request cycle."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from shipped_app import shipped_settings

from serving.auth import key_digest
from serving.deadline import remaining_s
from serving.main import REQUEST_CONTENT_LOGGERS, create_app
from serving.settings import GLUCOSE_FORECAST, GLUCOSE_RESPONSE, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBLEM_JSON = "application/problem+json"
KEY = "test-key-for-ward-7"
KEYS = (f"ward-7:{key_digest(KEY)}", f"lab:{key_digest('another-key')}")


@contextmanager
def ready_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "models never finished their warm-up"
            time.sleep(0.05)
        yield client


@pytest.fixture(scope="module")
def keyed() -> Iterator[TestClient]:
    with ready_client(shipped_settings(api_keys=KEYS)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with ready_client(shipped_settings()) as test_client:
        yield test_client


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status
    return body


def readings(values: list[float], end: datetime) -> list[dict[str, Any]]:
    return [
        {"time": (end - timedelta(minutes=5 * (len(values) - 1 - k))).isoformat(), "value": v}
        for k, v in enumerate(values)
    ]


def impact_body(carbs_g: float = 60.0) -> dict[str, Any]:
    meal_time = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    return {
        "meal": {"time": meal_time.isoformat(), "carbs_g": carbs_g},
        "cgm": {"unit": "mg/dL", "readings": readings([110.0] * 36, meal_time - timedelta(minutes=4))},
        "profile": {"diabetes": "type2"},
    }


def analyze_context() -> dict[str, Any]:
    """The /v1/meals/analyze `context`: the impact body without meal.carbs_g (the photo gives it)."""
    body = impact_body()
    body["meal"].pop("carbs_g")
    return body


def forecast_body(last_reading_age_min: float) -> dict[str, Any]:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=last_reading_age_min)
    return {"cgm": {"unit": "mg/dL", "readings": readings([120.0 + k for k in range(36)], end)}}


def exif_jpeg(description: str) -> bytes:
    """A photo-sized JPEG whose EXIF carries values a person would not want in a log."""
    pixels = np.random.default_rng(7).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x010E] = description  # ImageDescription
    exif[0x010F] = "MarkerMake"  # Make
    exif[0x0110] = "MarkerModel-X9"  # Model
    exif[0x0132] = "2026:11:28 12:34:56"  # DateTime
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def test_the_key_is_checked_before_the_body_is_read(keyed: TestClient) -> None:
    sent: list[bytes] = []

    def body() -> Iterator[bytes]:  # a client streaming a large upload without a key
        for _ in range(50):
            sent.append(b"x")
            yield b"x" * 65536

    response = keyed.post("/v1/meals/impact", content=body(), headers={"content-type": "application/json"})
    problem = assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'
    assert "X-API-Key" in problem["detail"]
    assert len(sent) < 50  # refused without draining the upload (a keyless client got 422 before)
    wrong = keyed.post("/v1/meals/impact", json=impact_body(), headers={"X-API-Key": KEY[:-1]})
    assert_problem(wrong, 401, "unauthorized")
    assert keyed.post("/v1/meals/impact", json=impact_body(), headers={"X-API-Key": KEY}).status_code == 200


def test_probes_are_open_and_answer_the_documented_json(keyed: TestClient) -> None:
    assert keyed.get("/healthz").json() == {"status": "ok"}
    assert keyed.get("/readyz").json() == {"status": "ready", "waiting_for": []}
    assert keyed.get("/v2/health/live").json() == {"live": True}
    assert keyed.get("/v2/health/ready").json() == {"ready": True}
    assert keyed.get("/problems/unauthorized").status_code == 200
    assert_problem(keyed.get("/metrics"), 401, "unauthorized")  # not a probe
    metrics = keyed.get("/metrics", headers={"X-API-Key": KEY}).text
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
        assert name in metrics


def test_one_audit_line_per_request_names_the_key_never_its_value(
    keyed: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="serving.access")
    keyed.post(
        "/v1/meals/impact", json=impact_body(77.777), headers={"X-API-Key": KEY, "X-Request-ID": "r-1"}
    )
    keyed.get("/v1/models", headers={"X-API-Key": "not-a-key", "X-Request-ID": "r-2"})
    lines = {}
    for record in caplog.records:
        if record.name == "serving.access":
            line = json.loads(record.getMessage())
            lines[line["request_id"]] = line
    assert lines["r-1"]["key"] == "ward-7" and lines["r-1"]["route"] == "/v1/meals/impact"
    assert lines["r-1"]["status"] == 200 and lines["r-1"]["latency_ms"] > 0
    assert lines["r-2"]["key"] == "" and lines["r-2"]["status"] == 401
    assert lines["r-2"]["route"] == "/v1/models"  # named even though it was refused before routing
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert KEY not in logged and "not-a-key" not in logged and "77.777" not in logged


def test_rate_limit_per_key_answers_429_with_retry_after() -> None:
    settings = shipped_settings(api_keys=KEYS, rate_limit_per_min=6, rate_limit_burst=2)
    with ready_client(settings) as limited:
        statuses = [limited.get("/v1/models", headers={"X-API-Key": KEY}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        refused = limited.get("/v1/models", headers={"X-API-Key": KEY})
        assert_problem(refused, 429, "rate-limited")
        assert int(refused.headers["retry-after"]) >= 1
        # Another key has its own bucket; probes are never limited.
        assert limited.get("/v1/models", headers={"X-API-Key": "another-key"}).status_code == 200
        assert all(limited.get("/healthz").status_code == 200 for _ in range(5))


def test_memory_budget_refuses_work_but_not_probes() -> None:
    with ready_client(shipped_settings(max_rss_mb=1)) as tight:  # any real process is above 1 MB
        refused = tight.post("/v1/meals/impact", json=impact_body())
        assert_problem(refused, 503, "server-overloaded")
        assert int(refused.headers["retry-after"]) >= 1
        assert tight.get("/healthz").status_code == 200 and tight.get("/readyz").status_code == 200


def test_work_of_a_timed_out_request_stops_and_the_next_request_is_served() -> None:
    settings = shipped_settings(request_timeout_s=1.0, inference_threads=1)
    with ready_client(settings) as hurried:
        backend = hurried.app.state.runtime.executor.backend  # type: ignore[attr-defined]
        real_infer = backend.infer
        time_left_at_call: list[float] = []

        def slow_response_model(model_name: str, inputs: Any, output_names: Any = None) -> Any:
            if model_name == GLUCOSE_RESPONSE:
                time_left_at_call.append(remaining_s() or 0.0)  # the calling request's own clock
                time.sleep(0.7)
            return real_infer(model_name, inputs, output_names)

        backend.infer = slow_response_model
        statuses: list[int] = []

        def call() -> None:
            statuses.append(hurried.post("/v1/meals/impact", json=impact_body()).status_code)

        try:
            # One pool thread, three requests of 0.7 s each within 1 s: the later ones time out while queued.
            threads = [threading.Thread(target=call) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert statuses.count(504) >= 1
            meta = hurried.get("/v2/models/food_recognizer").json()
            image = np.zeros([1, *meta["inputs"][0]["shape"][1:]], np.uint8)
            tensor = {"name": "image", "shape": list(image.shape), "datatype": "UINT8"}
            response = hurried.post(
                "/v2/models/food_recognizer/infer",
                json={"inputs": [{**tensor, "data": image.reshape(-1).tolist()}]},
            )
            assert response.status_code == 200, response.text  # the next request is served
        finally:
            backend.infer = real_infer
        # No model call started for a request whose time had already run out (without the deadline
        # check, the queued third request's call ran after its 504, holding the only thread).
        assert time_left_at_call and min(time_left_at_call) > 0, time_left_at_call
        assert len(time_left_at_call) < 3


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("meal", "carbs_g"), "60"),
        (("meal", "carbs_g"), False),
        (("meal", "time"), 1_764_331_200),
        (("profile", "diabetes"), 2),
        (("cgm", "readings", 0, "value"), "110"),
        (("activity", "steps"), False),
        (("sleep_hours", None), True),
    ],
)
def test_numbers_and_times_are_strict(client: TestClient, path: tuple[Any, ...], value: object) -> None:
    body = impact_body()
    target: Any = body
    *parents, leaf = [p for p in path if p is not None]
    for key in parents:
        target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
    target[leaf] = value
    assert_problem(client.post("/v1/meals/impact", json=body), 422, "validation-error")


def test_the_clinical_cap_answers_422_not_an_absurd_curve(client: TestClient) -> None:
    assert_problem(client.post("/v1/meals/impact", json=impact_body(1e6)), 422, "validation-error")
    at_cap = client.post("/v1/meals/impact", json=impact_body(1000.0))
    if at_cap.status_code == 200:  # the model may stay within range at the cap; then every value is bounded
        curve = at_cap.json()["curve"]
        assert all(0 <= p["glucose_mg_dl"] <= 600 and 0 <= p["high_mg_dl"] <= 600 for p in curve)
        assert 0 <= at_cap.json()["spike"]["probability"] <= 1
    else:
        assert_problem(at_cap, 422, "prediction-out-of-range")


def test_personal_class_carbs_beyond_the_cap_are_refused(client: TestClient) -> None:
    dim = next(
        t["shape"][-1]
        for t in client.get("/v2/models/food_recognizer").json()["outputs"]
        if t["name"] == "embedding"
    )
    photo = exif_jpeg("plate")
    for carbs in ([1, 2, 1e6], [1e308, 1e308, 1e308]):
        personal = [{"name": "huge", "prototype": [1.0] * dim, "carbs_g": carbs}]
        response = client.post(
            "/v1/meals/analyze",
            files={"image": ("a.jpg", photo, "image/jpeg")},
            data={
                "context": json.dumps(analyze_context()),
                "personal_classes": json.dumps(personal),
            },
        )
        assert_problem(response, 422, "invalid-personal-classes")


def test_a_forecast_refuses_cgm_older_than_the_setting(client: TestClient) -> None:
    if GLUCOSE_FORECAST not in client.app.state.runtime.models:  # type: ignore[attr-defined]
        pytest.skip("the forecast model is not served here")
    assert client.post("/v1/glucose/forecast", json=forecast_body(5)).status_code == 200
    stale = assert_problem(
        client.post("/v1/glucose/forecast", json=forecast_body(3 * 24 * 60)), 422, "stale-cgm"
    )
    assert "4,320 min old" in stale["detail"] and "20 min" in stale["detail"]


def test_v2_refuses_absurd_lengths_and_non_finite_json(client: TestClient) -> None:
    url = "/v2/models/food_recognizer/infer"
    absurd = client.post(url, content=b"{}", headers={"Inference-Header-Content-Length": "9" * 5000})
    assert absurd.status_code == 400 and "Inference-Header-Content-Length" in absurd.json()["error"]
    for value in ("NaN", "Infinity", "1e39"):
        body = f'{{"inputs":[{{"name":"image","shape":[1],"datatype":"FP32","data":[{value}]}}]}}'
        response = client.post(url, content=body.encode(), headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        json.loads(response.text)  # valid JSON (no NaN literal) in every answer


def test_a_debug_log_of_a_full_cycle_holds_no_request_content(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # as MEALIMPACT_LOG_LEVEL=DEBUG does
    context = impact_body(42.4242)
    context["meal"].pop("carbs_g")
    for route, data in (
        ("/v1/meals/recognize", {}),
        ("/v1/meals/analyze", {"context": json.dumps(context)}),
    ):
        response = client.post(
            route,
            files={
                "image": ("secret-filename-lunch.jpg", exif_jpeg("MarkerDescription dinner"), "image/jpeg")
            },
            data=data,
        )
        assert response.status_code == 200, response.text
    client.post(
        "/v1/meals/recognize", files={"image": ("secret-filename-lunch.jpg", b"\xff\xd8broken", "image/jpeg")}
    )
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert '"route":"/v1/meals/analyze"' in logged  # the audit line is captured...
    for secret in (
        "MarkerDescription",
        "MarkerMake",
        "MarkerModel",
        "2026:11:28",
        "secret-filename",
        "42.4242",
    ):
        assert secret not in logged, secret  # ...and nothing the request carried
    chatty = [r.name for r in caplog.records if r.name.split(".")[0] in REQUEST_CONTENT_LOGGERS]
    assert not [name for name in chatty if logging.getLogger(name).getEffectiveLevel() < logging.WARNING]
    assert all(
        r.levelno >= logging.WARNING
        for r in caplog.records
        if r.name.split(".")[0] in REQUEST_CONTENT_LOGGERS
    )


def test_concurrent_requests_each_keep_their_own_deadline(client: TestClient) -> None:
    # The deadline travels in a context variable: a thread pool must not mix requests' clocks.
    results: list[int] = []

    def call() -> None:
        results.append(client.post("/v1/meals/impact", json=impact_body()).status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 4


def test_metrics_on_their_own_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with ready_client(shipped_settings(metrics_port=port)) as separate:
        assert_problem(separate.get("/metrics"), 404, "not-found")  # not on the API port
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert "process_resident_memory_bytes" in text and "mealimpact_requests_total" in text


def test_an_agp_meal_in_year_1_is_a_422_not_a_500(client: TestClient) -> None:
    body = json.loads((REPO_ROOT / "serving" / "examples" / "agp_report.json").read_text())
    body["meals"] = [{"time": "0001-01-01T00:00:00+00:00", "carbs_g": 40}]
    problem = assert_problem(client.post("/v1/reports/agp", json=body), 422, "validation-error")
    assert any(e["loc"][-1] == "time" for e in problem["errors"])
