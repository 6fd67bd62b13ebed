"""The app through TestClient with its real lifespan and the shipped models: every /v1 route, errors, logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from shipped_app import impact_body, photo_paths, readings, shipped_settings, wait_ready

from glucose_model.records import MG_DL_PER_MMOL_L
from mealimpact.model_repository.checksums import file_sha256
from serving.main import create_app
from serving.metrics import RECOGNIZE_STAGES
from serving.schemas.meals import RecognizeResponse
from serving.settings import REQUIRED_MODELS
from serving.v2_protocol import HEADER_LENGTH, decode_response, encode_request

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(shipped_settings())) as test_client:
        wait_ready(test_client)
        yield test_client


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status
    assert body["title"] and body["detail"] and body["instance"]
    return body


def test_models_are_listed_with_versions_and_checksums(client: TestClient) -> None:
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(REQUIRED_MODELS) <= set(models)
    settings = shipped_settings()
    for name, model in models.items():
        path = settings.models_dir / name / str(model["version"]) / "model.onnx"
        assert model["sha256"] == file_sha256(path)
        assert model["metadata"]["version"] is not None


def test_recognize_a_real_photo(client: TestClient) -> None:
    photo = photo_paths()[0]
    response = client.post(
        "/v1/meals/recognize", files={"image": (photo.name, photo.read_bytes(), "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"]["name"] == "food_recognizer" and body["foods"]
    probabilities = [f["probability"] for f in body["foods"]]
    assert probabilities == sorted(probabilities, reverse=True)
    carbs = body["carbs_g"]
    assert 0 <= carbs["low"] <= carbs["estimate"] <= carbs["high"]


def test_recognize_times_every_stage_and_answers_its_schema(client: TestClient) -> None:
    photo = photo_paths()[1]
    files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
    response = client.post("/v1/meals/recognize", files=files)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    RecognizeResponse.model_validate_json(response.content)  # serialised by the route, not by FastAPI
    text = client.get("/metrics").text
    for stage in RECOGNIZE_STAGES:
        assert f'mealimpact_recognize_stage_seconds_count{{stage="{stage}"}}' in text


@pytest.mark.parametrize("image_format", ["PNG", "WEBP", "HEIF"])
def test_recognize_accepts_png_webp_and_heic(client: TestClient, image_format: str) -> None:
    from PIL import Image

    with Image.open(photo_paths()[0]) as photo:
        small = photo.convert("RGB").resize((480, 360))
    encoded = io.BytesIO()
    small.save(encoded, format=image_format)
    files = {"image": (f"meal.{image_format.lower()}", encoded.getvalue(), "application/octet-stream")}
    response = client.post("/v1/meals/recognize", files=files)
    assert response.status_code == 200, response.text
    assert response.json()["foods"]


def test_impact_curve_peak_explanation_and_what_ifs(client: TestClient) -> None:
    response = client.post("/v1/meals/impact", json=impact_body())
    assert response.status_code == 200, response.text
    body = response.json()
    minutes = [p["minute"] for p in body["curve"]]
    assert minutes == list(range(0, 181, 5))
    assert all(p["low_mg_dl"] <= p["glucose_mg_dl"] <= p["high_mg_dl"] for p in body["curve"])
    assert body["peak"]["glucose_mg_dl"] == pytest.approx(
        max(p["glucose_mg_dl"] for p in body["curve"]), abs=0.5
    )
    assert body["spike"]["threshold_mg_dl"] == 180.0  # type 2
    explanation = body["explanation"]
    total = sum(c["peak_rise_mg_dl"] for c in explanation["contributions"])
    delta = explanation["predicted_peak_rise_mg_dl"] - explanation["reference_peak_rise_mg_dl"]
    # Every mg/dL figure is rounded to a whole number (serving/wording.py): each of the contributions
    # and the two peaks may be off by up to 0.5.
    assert total == pytest.approx(delta, abs=0.5 * (len(explanation["contributions"]) + 2))
    assert {w["scenario"] for w in body["what_if"]} and body["calibration"] is None


def test_history_of_past_meals_calibrates(client: TestClient) -> None:
    body = impact_body()
    now = datetime.fromisoformat(body["meal"]["time"])
    history = []
    for days_ago in (1, 2, 3, 4):
        meal_time = now - timedelta(days=days_ago)
        # 1 h flat before, then a response twice what a small meal gives: a person who rises high.
        trace = [105.0] * 12 + [105.0 + 90.0 * np.sin(np.pi * min(k, 24) / 48) for k in range(37)]
        history.append(
            {
                "meal": {"time": meal_time.isoformat(), "carbs_g": 45},
                "cgm": {"unit": "mg/dL", "readings": readings(trace, meal_time + timedelta(minutes=180))},
            }
        )
    body["history"] = history
    response = client.post("/v1/meals/impact", json=body)
    assert response.status_code == 200, response.text
    calibration = response.json()["calibration"]
    assert calibration is not None and calibration["n_meals"] == 4 and calibration["reason"]


def test_mmol_per_l_gives_the_same_answer_as_mg_dl(client: TestClient) -> None:
    mg = client.post("/v1/meals/impact", json=impact_body()).json()
    mmol = client.post("/v1/meals/impact", json=impact_body("mmol/L", MG_DL_PER_MMOL_L)).json()
    assert mmol["peak"]["glucose_mg_dl"] == pytest.approx(mg["peak"]["glucose_mg_dl"], abs=0.01)


def test_analyze_carries_the_photo_interval_into_the_band(client: TestClient) -> None:
    context = impact_body()
    context["meal"].pop("carbs_g")
    for photo in photo_paths()[:12]:
        response = client.post(
            "/v1/meals/analyze",
            files={"image": (photo.name, photo.read_bytes(), "image/jpeg")},
            data={"context": json.dumps(context)},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if body["impact"] is not None:
            break
    else:
        pytest.skip("the recognizer called none of the first 12 D1NAMO photos food")
    carbs = body["recognition"]["carbs_g"]
    logged = impact_body()
    logged["meal"]["carbs_g"] = carbs["estimate"]
    logged["meal"]["time"] = context["meal"]["time"]
    point = client.post("/v1/meals/impact", json=logged).json()
    width = [p["high_mg_dl"] - p["low_mg_dl"] for p in body["impact"]["curve"]]
    point_width = [p["high_mg_dl"] - p["low_mg_dl"] for p in point["curve"]]
    assert all(w >= pw - 1e-6 for w, pw in zip(width, point_width, strict=True))
    assert sum(width) > sum(point_width)  # the photo's uncertainty widens the band


def test_forecast_points_and_alerts(client: TestClient) -> None:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    body = {"cgm": {"unit": "mg/dL", "readings": readings([100.0 + 2 * k for k in range(36)], end)}}
    response = client.post("/v1/glucose/forecast", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert [p["horizon_min"] for p in result["forecast"]] == [15, 30, 45, 60]
    assert all(p["low_mg_dl"] <= p["glucose_mg_dl"] <= p["high_mg_dl"] for p in result["forecast"])
    assert result["current_glucose_mg_dl"] == pytest.approx(170.0, abs=2.0)  # on the 5-min grid
    assert result["trend_mg_dl_per_min"] == pytest.approx(0.4, abs=0.05)


def _with_cgm(values: list[float], unit: str = "mg/dL", end_shift_min: int = -4) -> dict[str, Any]:
    body = impact_body()
    meal_time = datetime.fromisoformat(body["meal"]["time"])
    body["cgm"] = {"unit": unit, "readings": readings(values, meal_time + timedelta(minutes=end_shift_min))}
    return body


def test_each_input_problem_has_its_own_type(client: TestClient) -> None:
    assert_problem(client.post("/v1/meals/impact", json=_with_cgm([110.0])), 422, "too-few-cgm-readings")
    assert_problem(
        client.post("/v1/meals/impact", json=_with_cgm([110.0] * 35 + [900.0])), 422, "value-out-of-range"
    )
    unordered = _with_cgm([110.0] * 36)
    unordered["cgm"]["readings"].reverse()
    assert_problem(client.post("/v1/meals/impact", json=unordered), 422, "timestamps-out-of-order")
    assert_problem(
        client.post("/v1/meals/impact", json=_with_cgm([110.0] * 36, end_shift_min=120)),
        422,
        "timestamp-in-future",
    )
    assert_problem(
        client.post("/v1/meals/impact", json=_with_cgm([110.0] * 36, unit="mg/l")), 422, "bad-unit"
    )
    missing = impact_body()
    del missing["meal"]["carbs_g"]
    body = assert_problem(client.post("/v1/meals/impact", json=missing), 422, "validation-error")
    assert body["errors"][0]["loc"] == ["body", "meal", "carbs_g"] and "input" not in body["errors"][0]


def test_image_problems(client: TestClient) -> None:
    def upload(data: bytes) -> Any:
        return client.post("/v1/meals/recognize", files={"image": ("x", data, "application/octet-stream")})

    assert_problem(upload(b"GIF89a" + b"\0" * 64), 415, "unsupported-image-format")
    assert_problem(upload(b"just some text"), 415, "unsupported-image-format")
    assert_problem(upload(b""), 422, "not-an-image")
    photo = photo_paths()[0].read_bytes()
    assert_problem(upload(photo[: len(photo) // 3]), 422, "not-an-image")
    # A 273-byte 65000x1 PNG once drove the server to 23 GB: refused from its header.
    strip = io.BytesIO()
    Image.new("L", (65_000, 1)).save(strip, "PNG")
    body = assert_problem(upload(strip.getvalue()), 422, "not-an-image")
    assert "10:1" in body["detail"]


def test_personal_classes_sent_with_a_photo_take_over_when_it_matches(client: TestClient) -> None:
    from vision.metadata import parse_metadata
    from vision.recognition import preprocess_photo

    photo = photo_paths()[0].read_bytes()
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    spec = parse_metadata(runtime.models["food_recognizer"].metadata).preprocess
    outputs = runtime.executor.backend.infer(
        "food_recognizer", {"image": preprocess_photo(photo, spec)[None]}
    )
    taught = {"name": "grandma's dumplings", "prototype": outputs["embedding"][0].tolist(), "shots": 3}
    taught["carbs_g"] = [71.0, 72.0, 73.0]
    files = {"image": ("meal.jpg", photo, "image/jpeg")}

    plain = client.post("/v1/meals/recognize", files=files).json()
    personal = client.post(
        "/v1/meals/recognize", files=files, data={"personal_classes": json.dumps([taught])}
    ).json()
    assert plain["foods"][0]["name"] != taught["name"]
    assert personal["foods"][0]["name"] == taught["name"]  # the very photo it was taught from
    # The interval moves towards the taught one by the personal class's weight.
    weight = personal["foods"][0]["probability"]
    expected = (1 - weight) * plain["carbs_g"]["estimate"] + weight * 72.0
    assert personal["carbs_g"]["estimate"] == pytest.approx(expected, rel=1e-3)

    context = impact_body()
    context["meal"].pop("carbs_g")
    analyzed = client.post(
        "/v1/meals/analyze",
        files=files,
        data={"context": json.dumps(context), "personal_classes": json.dumps([taught])},
    ).json()
    assert analyzed["recognition"]["foods"][0]["name"] == taught["name"]

    for bad in (
        "not json",
        json.dumps([{**taught, "prototype": [1.0, 2.0]}]),
        json.dumps({"a": 1}),
        "[" * 10**5,
    ):
        response = client.post("/v1/meals/recognize", files=files, data={"personal_classes": bad})
        assert_problem(response, 422, "invalid-personal-classes")


def test_limits_pixels_body_and_time() -> None:
    photo = photo_paths()[0].read_bytes()
    settings = shipped_settings(max_image_pixels=100_000, max_body_bytes=len(photo) + 4096)
    with TestClient(create_app(settings)) as small:
        wait_ready(small)
        files = {"image": ("a.jpg", photo, "image/jpeg")}
        assert_problem(small.post("/v1/meals/recognize", files=files), 413, "image-too-large")
        big = {"image": ("a.jpg", photo + photo, "image/jpeg")}
        assert_problem(small.post("/v1/meals/recognize", files=big), 413, "body-too-large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming
            yield from (photo, photo)

        streamed = small.post(
            "/v1/meals/impact", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(streamed, 413, "body-too-large")
    with TestClient(create_app(shipped_settings(request_timeout_s=0.001))) as hurried:
        assert_problem(hurried.post("/v1/meals/impact", json=impact_body()), 504, "request-timeout")


def test_request_ids_are_echoed_when_safe_and_generated_otherwise(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "app-42.a_b"}).headers["x-request-id"] == "app-42.a_b"
    )
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
    assert generated != "bad id with spaces" and len(generated) == 32


def test_v2_infer_json_and_binary(client: TestClient) -> None:
    meta = client.get("/v2/models/glucose_forecast").json()
    feeds = {
        t["name"]: np.full([2, *t["shape"][1:]], 100.0 if t["name"] == "cgm_mg_dl" else 0.0, np.float32)
        for t in meta["inputs"]
    }
    body, headers = encode_request(feeds)
    binary = client.post("/v2/models/glucose_forecast/infer", content=body, headers=headers)
    assert binary.status_code == 200 and HEADER_LENGTH.lower() in binary.headers
    outputs = decode_response(binary.content, binary.headers[HEADER_LENGTH])
    as_json = {
        "inputs": [
            {"name": n, "shape": list(a.shape), "datatype": "FP32", "data": a.reshape(-1).tolist()}
            for n, a in feeds.items()
        ]
    }
    plain = client.post("/v2/models/glucose_forecast/infer", json=as_json)
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    (output,) = plain.json()["outputs"]
    np.testing.assert_allclose(
        np.array(output["data"]).reshape(output["shape"]), outputs[output["name"]], rtol=1e-6
    )
    misnamed = [{**as_json["inputs"][0], "name": "series"}]  # the old contract's input name
    wrong = client.post("/v2/models/glucose_forecast/infer", json={"inputs": misnamed})
    assert wrong.status_code == 400 and "takes inputs" in wrong.json()["error"]
    assert client.post("/v2/models/nope/infer", json=as_json).json() == {
        "error": "model nope version any not found"
    }


def test_v2_shapes_follow_config_dims_where_the_graph_is_reshaped(client: TestClient) -> None:
    meta = client.get("/v2/models/food_recognizer").json()
    declared = {t["name"]: t["shape"] for t in meta["outputs"]}
    image = np.zeros([2, *meta["inputs"][0]["shape"][1:]], np.uint8)
    body, headers = encode_request({"image": image})
    response = client.post("/v2/models/food_recognizer/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    outputs = decode_response(response.content, response.headers[HEADER_LENGTH])
    for name, array in outputs.items():
        assert list(array.shape) == [2, *declared[name][1:]]  # e.g. food_probability (2, 1), graph (2,)


def test_metrics_count_routes_models_batches_and_rejections(client: TestClient) -> None:
    client.post("/v1/meals/impact", json=impact_body())
    client.post("/v1/meals/impact", json=_with_cgm([110.0]))
    client.get("/openapi.json")
    client.get("/no/such/path/123")
    text = client.get("/metrics").text
    # Fixed-path pages by their path; unknown paths in one label, so no path value becomes a label.
    assert 'mealimpact_requests_total{method="GET",route="/openapi.json",status="200"}' in text
    assert 'mealimpact_requests_total{method="GET",route="unmatched",status="404"}' in text
    assert "/no/such/path" not in text
    assert 'mealimpact_requests_total{method="POST",route="/v1/meals/impact",status="200"}' in text
    assert 'mealimpact_model_inference_seconds_count{model="glucose_response"}' in text
    assert 'mealimpact_model_batch_size_count{model="glucose_response"}' in text
    assert 'mealimpact_rejected_requests_total{reason="too-few-cgm-readings"}' in text


def test_no_request_value_reaches_any_log(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    marker_mg_dl = 123.4567
    body = impact_body()
    body["cgm"]["readings"][-1]["value"] = marker_mg_dl
    body["meal"]["carbs_g"] = 77.777
    caplog.set_level(logging.DEBUG)
    client.post("/v1/meals/impact", json=body)
    bad = json.loads(json.dumps(body))
    bad["cgm"]["readings"][0]["value"] = 987.654
    client.post("/v1/meals/impact", json=bad)
    bad["cgm"]["readings"][0]["value"] = "98x.654"
    client.post("/v1/meals/impact", json=bad)
    client.post(
        "/v1/meals/impact",
        content=b'{"meal": {"carbs_g": 55.5555',
        headers={"content-type": "application/json"},
    )
    photo = photo_paths()[0].read_bytes()
    client.post("/v1/meals/recognize", files={"image": ("my-lunch-at-home.jpg", photo, "image/jpeg")})
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert '"route":"/v1/meals/impact"' in logged  # the request line is there...
    for secret in (
        "123.4567",
        "77.777",
        "987.654",
        "98x.654",
        "55.5555",
        "my-lunch-at-home",
        body["meal"]["time"],
    ):
        assert secret not in logged  # ...and nothing from the request
