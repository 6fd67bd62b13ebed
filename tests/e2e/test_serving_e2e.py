"""uvicorn in a subprocess on 127.0.0.1: real photo uploads, every route, the served OpenAPI schema,
the official tritonclient (binary and JSON), and one server using another as its V2 model backend."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest

from serving.settings import REQUIRED_MODELS, Settings
from vision.metadata import parse_metadata
from vision.recognition import preprocess_photo

REPO_ROOT = Path(__file__).resolve().parents[2]
D1NAMO = REPO_ROOT / ".." / "shared" / "data" / "d1namo"
E2E_REQUEST_TIMEOUT_S = 180.0
MARKERS = ("123.4567", "77.777", "987.654", "my-lunch-at-home")  # request values that must never be logged


@dataclass
class Server:
    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(tmp: Path, name: str, **env: str) -> Server:
    port = free_port()
    log_path = tmp / f"{name}.log"
    environment = {**os.environ, **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mealimpact", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", port, process, log_path)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}:\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    stop_server(server)
    raise AssertionError(f"{name} never became ready:\n{server.log()[-3000:]}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)


@pytest.fixture(scope="module")
def models_dir() -> Path:
    models = Settings().models_dir
    missing = [m for m in REQUIRED_MODELS if not (models / m / "config.pbtxt").is_file()]
    if missing:
        pytest.skip(f"models {missing} not exported into {models} yet")
    return models


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The request timeout is an operator setting (its 504 is tested in tests/integration); here it is long
    # enough that a report rendered on a busy shared CI machine finishes, so a 5xx below is a real fault.
    started = start_server(
        tmp_path_factory.mktemp("e2e"),
        "server",
        MEALIMPACT_MODELS_DIR=str(models_dir),
        MEALIMPACT_REQUEST_TIMEOUT_S=str(E2E_REQUEST_TIMEOUT_S),
        # The README's forecast example carries fixed times; the freshness check is tested elsewhere.
        MEALIMPACT_MAX_CGM_AGE_MIN="0",
    )
    yield started
    stop_server(started)
    log = started.log()
    assert '"route":"/v1/meals/impact"' in log  # one line per request was written...
    leaked = [m for m in MARKERS if m in log]
    assert not leaked, f"request values in the server log: {leaked}"  # ...and nothing from the requests


@pytest.fixture(scope="module")
def openapi(server: Server) -> dict[str, Any]:
    return httpx.get(f"{server.base_url}/openapi.json").json()


def photos() -> list[Path]:
    if not D1NAMO.is_dir():
        pytest.skip(f"D1NAMO photos not found at {D1NAMO} (see ../shared/README.md)")
    people = sorted(p for p in D1NAMO.iterdir() if (p / "food_pictures").is_dir())
    return [sorted((p / "food_pictures").glob("*.jpg"))[k] for p in people for k in (0, 5)]


def validate(openapi: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """The response body against the schema the server itself publishes for this status."""
    documented = openapi["paths"][path][method]["responses"][str(response.status_code)]
    media = response.headers["content-type"].split(";")[0]
    schema = documented["content"].get(media, documented["content"].get("application/json"))["schema"]
    jsonschema.validate(response.json(), {**schema, "components": openapi["components"]})


def readings(values: list[float], end: datetime) -> list[dict[str, Any]]:
    return [
        {"time": (end - timedelta(minutes=5 * (len(values) - 1 - k))).isoformat(), "value": v}
        for k, v in enumerate(values)
    ]


def impact_body() -> dict[str, Any]:
    meal_time = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    trace = [110.0 + k % 4 for k in range(35)] + [123.4567]
    return {
        "meal": {"time": meal_time.isoformat(), "carbs_g": 77.777, "fat_g": 10},
        "cgm": {"unit": "mg/dL", "readings": readings(trace, meal_time - timedelta(minutes=3))},
        "activity": {"steps": 500, "planned_walk_min": 15},
        "profile": {"diabetes": "none"},
    }


def test_recognize_real_photos(server: Server, openapi: dict[str, Any]) -> None:
    for photo in photos():
        files = {"image": ("my-lunch-at-home.jpg", photo.read_bytes(), "image/jpeg")}
        response = httpx.post(f"{server.base_url}/v1/meals/recognize", files=files, timeout=30)
        assert response.status_code == 200, response.text
        validate(openapi, "/v1/meals/recognize", "post", response)


def test_impact_analyze_forecast(server: Server, openapi: dict[str, Any]) -> None:
    impact = httpx.post(f"{server.base_url}/v1/meals/impact", json=impact_body(), timeout=30)
    assert impact.status_code == 200, impact.text
    validate(openapi, "/v1/meals/impact", "post", impact)
    assert impact.json()["spike"]["threshold_mg_dl"] == 140.0

    context = impact_body()
    context["meal"].pop("carbs_g")
    photo = photos()[0]
    analyze = httpx.post(
        f"{server.base_url}/v1/meals/analyze",
        files={"image": ("my-lunch-at-home.jpg", photo.read_bytes(), "image/jpeg")},
        data={"context": json.dumps(context)},
        timeout=30,
    )
    assert analyze.status_code == 200, analyze.text
    validate(openapi, "/v1/meals/analyze", "post", analyze)

    cgm = impact_body()["cgm"]
    forecast = httpx.post(f"{server.base_url}/v1/glucose/forecast", json={"cgm": cgm}, timeout=30)
    assert forecast.status_code == 200, forecast.text
    validate(openapi, "/v1/glucose/forecast", "post", forecast)


def test_errors_are_documented_problems(server: Server, openapi: dict[str, Any]) -> None:
    bad = impact_body()
    bad["cgm"]["readings"][0]["value"] = 987.654
    response = httpx.post(f"{server.base_url}/v1/meals/impact", json=bad, timeout=30)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    validate(openapi, "/v1/meals/impact", "post", response)
    described = httpx.get(f"{server.base_url}{response.json()['type']}")
    assert described.status_code == 200 and described.json()["status"] == 422


def test_operations_routes(server: Server, openapi: dict[str, Any]) -> None:
    for path in ("/healthz", "/readyz", "/v1/models", "/v2", "/v2/models/food_recognizer"):
        response = httpx.get(f"{server.base_url}{path}")
        assert response.status_code == 200, path
        validate(openapi, path.replace("food_recognizer", "{model_name}"), "get", response)
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/glucose_response/ready"):
        assert httpx.get(f"{server.base_url}{path}").status_code == 200, path
    metrics = httpx.get(f"{server.base_url}/metrics").text
    assert "mealimpact_request_duration_seconds_bucket" in metrics


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_against_the_server(server: Server, binary: bool) -> None:
    triton = pytest.importorskip("tritonclient.http")
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}", network_timeout=60)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("food_recognizer")
    metadata = client.get_model_metadata("food_recognizer")
    assert metadata["inputs"][0]["name"] == "image"
    models = httpx.get(f"{server.base_url}/v1/models").json()["models"]
    props = {m["name"]: m["metadata"] for m in models}["food_recognizer"]
    recognizer = parse_metadata({k: json.dumps(v) for k, v in props.items()})
    spec = recognizer.preprocess
    photo = photos()[0]
    image = preprocess_photo(photo.read_bytes(), spec)[None]  # (1, crop, crop, 3)
    request_input = triton.InferInput("image", list(image.shape), "UINT8")
    request_input.set_data_from_numpy(image, binary_data=binary)
    outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("probabilities", "carbs_g")]
    result = client.infer("food_recognizer", [request_input], outputs=outputs)
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (1, len(props["labels"]))
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    files = {"image": ("a.jpg", photo.read_bytes(), "image/jpeg")}
    served = httpx.post(f"{server.base_url}/v1/meals/recognize", files=files, timeout=30).json()
    # Served numbers are rounded (0.1 g, 4 decimals) and foods never include a setting class.
    assert float(result.as_numpy("carbs_g")[0, 1]) == pytest.approx(served["carbs_g"]["estimate"], abs=0.05)
    foods = np.array([label.role != "setting" for label in recognizer.labels])
    assert float(probabilities[0, foods].max()) == pytest.approx(served["foods"][0]["probability"], abs=5e-5)


def test_a_missing_model_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    environment = {**os.environ, "MEALIMPACT_MODELS_DIR": str(tmp_path / "models")}
    result = subprocess.run(
        [sys.executable, "-m", "mealimpact", "serve", "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert (
        "required model(s) ['food_recognizer', 'glucose_forecast', 'glucose_response'] not found"
        in result.stderr
    )


def test_a_server_using_another_as_its_v2_backend(server: Server, tmp_path: Path) -> None:
    front = start_server(tmp_path, "front", MEALIMPACT_MODEL_BACKEND=f"v2://127.0.0.1:{server.port}")
    try:
        body = impact_body()
        remote = httpx.post(f"{front.base_url}/v1/meals/impact", json=body, timeout=30)
        local = httpx.post(f"{server.base_url}/v1/meals/impact", json=body, timeout=30)
        assert remote.status_code == 200, remote.text
        for ours, theirs in zip(remote.json()["curve"], local.json()["curve"], strict=True):
            assert ours["glucose_mg_dl"] == pytest.approx(theirs["glucose_mg_dl"], abs=1e-3)
        photo = photos()[0].read_bytes()
        files = {"image": ("a.jpg", photo, "image/jpeg")}
        via = httpx.post(f"{front.base_url}/v1/meals/recognize", files=files, timeout=30).json()
        direct = httpx.post(f"{server.base_url}/v1/meals/recognize", files=files, timeout=30).json()
        assert via["carbs_g"]["estimate"] == pytest.approx(direct["carbs_g"]["estimate"], rel=1e-5)
        metrics = httpx.get(f"{server.base_url}/metrics").text
        assert 'route="/v2/models/{model_name}/versions/{model_version}/infer",status="200"' in metrics
    finally:
        stop_server(front)
    assert not [m for m in MARKERS if m in front.log()]


def readme_curl_lines() -> list[str]:
    lines, in_shell = [], False
    for line in (REPO_ROOT / "serving" / "README.md").read_text().splitlines():
        if line.startswith("```"):
            in_shell = line.strip() == "```sh"
        elif in_shell and line.startswith("curl "):
            lines.append(line)
    return lines


def test_every_curl_call_in_the_readme_works_as_written(server: Server) -> None:
    calls = readme_curl_lines()
    assert len(calls) >= 15
    if not D1NAMO.is_dir():
        pytest.skip(f"the README's photo uploads need {D1NAMO}")
    for call in calls:
        # Only the port differs from the README; --fail turns any HTTP error into a non-zero exit.
        command = call.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}").replace(
            "curl -s", "curl -s --fail", 1
        )
        result = subprocess.run(
            ["bash", "-c", command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{call}\n{result.stdout[-500:]}{result.stderr[-500:]}"
        assert result.stdout.strip() and not result.stdout.startswith("5"), call


# schemathesis over the whole spec (with API keys, 0 server errors, 0 schema violations) is in
# test_serving_hardening_e2e.py.
