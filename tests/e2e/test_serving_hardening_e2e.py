"""Issue 18 against a real uvicorn process on 127.0.0.1 with API keys configured: schemathesis over the whole
served spec (0 server errors, 0 schema violations), a hostile-image corpus under a memory ceiling measured on
the server process, slow or oversized connections, start-up failures, and a remote model tier that dies."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from pillow_heif import from_pillow
from test_serving_e2e import REPO_ROOT, Server, start_server, stop_server

from serving.auth import key_digest
from serving.settings import Settings

KEY = "e2e-key-of-the-ward"
HEADERS = {"X-API-Key": KEY}
HEADER_READ_TIMEOUT_S = 2
BODY_READ_TIMEOUT_S = 3
MAX_CONNECTIONS = 12
# Peak resident memory the hostile corpus may add to a warmed-up server. Before issue 18 one 102-byte
# strip cost 2.3 GB and a 60 KB 7000x7000 PNG +280 MB; every image here is refused from its header.
CORPUS_PEAK_RSS_GROWTH_MB = 120
EXIF_MARKERS = (
    "MarkerDescription-dinner",
    "MarkerMake",
    "MarkerModel-X9",
    "secret-filename-lunch",
    "2026:11:28",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    models = Settings().models_dir
    missing = [m for m in Settings().required_models if not (models / m / "config.pbtxt").is_file()]
    if missing:
        pytest.skip(f"models {missing} not exported into {models} yet")
    started = start_server(
        tmp_path_factory.mktemp("hardened"),
        "hardened",
        MEALIMPACT_MODELS_DIR=str(models),
        MEALIMPACT_API_KEYS=f"ward-7:{key_digest(KEY)}",
        MEALIMPACT_REQUEST_TIMEOUT_S="120",
        MEALIMPACT_HEADER_READ_TIMEOUT_S=str(HEADER_READ_TIMEOUT_S),
        MEALIMPACT_BODY_READ_TIMEOUT_S=str(BODY_READ_TIMEOUT_S),
        MEALIMPACT_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        MEALIMPACT_LOG_LEVEL="DEBUG",  # the most a log can say: still nothing a request carried
    )
    yield started
    stop_server(started)
    log = started.log()
    assert '"key":"ward-7"' in log  # the audit line names the key...
    assert KEY not in log  # ...never the key itself
    leaked = [marker for marker in EXIF_MARKERS if marker in log]
    assert not leaked, f"request content in the DEBUG log: {leaked}"


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the highest resident memory the process has had (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc (Linux only)")


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png(width: int, height: int, rows: bytes | None = None, mode_byte: int = 0) -> bytes:
    """A grey PNG of any declared size; `rows` the raw scanlines (None: all zero, compressed)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, mode_byte, 0, 0, 0)
    raw = rows if rows is not None else b"\x00" * ((width + 1) * height)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int, progressive: bool = False) -> bytes:
    data = bytearray(encode(Image.new("RGB", (16, 16), (200, 80, 40)), "JPEG", progressive=progressive))
    marker = b"\xff\xc2" if progressive else b"\xff\xc0"
    frame = data.find(marker)
    struct.pack_into(">HH", data, frame + 5, height, width)
    return bytes(data)


def hostile_corpus() -> dict[str, bytes]:
    """Strips, bombs, lying headers, truncations and non-images: none is a photo to recognise."""
    photo = np.random.default_rng(3).integers(0, 255, (900, 1200, 3), dtype=np.uint8)
    real = Image.fromarray(photo)
    jpeg, webp, png_real = encode(real, "JPEG", quality=90), encode(real, "WEBP"), encode(real, "PNG")
    heic_buffer = io.BytesIO()
    from_pillow(real).save(heic_buffer, format="HEIF")
    heic = heic_buffer.getvalue()
    corpus = {
        "strip 8000x1 png (102-byte class)": png(8000, 1),
        "strip 65000x1 png": png(65000, 1),
        "strip 1x65000 png": png(1, 65000),
        "bomb 7000x7000 png, zeros": png(7000, 7000),
        "bomb 30000x30000 png, header only": png(30000, 30000, rows=b""),
        "lying jpeg 7000x7000 (632-byte class)": jpeg_claiming(7000, 7000),
        "lying progressive jpeg 7000x7000": jpeg_claiming(7000, 7000, progressive=True),
        "lying jpeg 60000x60000": jpeg_claiming(60000, 60000),
        "lying png 5000x5000 with one row": png(5000, 5000, rows=b"\x00" * 5001),
        "empty": b"",
        "random bytes": np.random.default_rng(4).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "text": b"this is not a photo\n" * 50,
        "gif": encode(Image.new("RGB", (64, 64)), "GIF"),
        "bmp": encode(Image.new("RGB", (64, 64)), "BMP"),
        "jpeg header only": jpeg[:200],
    }
    for name, data in (("jpeg", jpeg), ("webp", webp), ("png", png_real), ("heic", heic)):
        for fraction in (0.1, 0.5, 0.9):
            corpus[f"truncated {name} at {fraction:.0%}"] = data[: int(len(data) * fraction)]
    return corpus


def test_a_photo_with_exif_goes_through_a_debug_logging_server(server: Server) -> None:
    # The fixture's teardown reads the whole DEBUG log for these markers.
    pixels = np.random.default_rng(5).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x010E], exif[0x010F], exif[0x0110] = EXIF_MARKERS[:3]  # ImageDescription, Make, Model
    exif[0x0132] = "2026:11:28 12:34:56"  # DateTime
    photo = encode(Image.fromarray(pixels), "JPEG", exif=exif.tobytes())
    response = httpx.post(
        f"{server.base_url}/v1/meals/recognize",
        files={"image": (f"{EXIF_MARKERS[3]}.jpg", photo, "image/jpeg")},
        headers=HEADERS,
        timeout=120,
    )
    assert response.status_code == 200, response.text


def test_hostile_images_are_refused_under_a_memory_ceiling(server: Server) -> None:
    url = f"{server.base_url}/v1/meals/recognize"
    valid = encode(Image.fromarray(np.full((480, 640, 3), 120, np.uint8)), "JPEG")
    for _ in range(3):  # warm: the model, the allocator, the multipart parser
        ok = httpx.post(url, files={"image": ("a.jpg", valid, "image/jpeg")}, headers=HEADERS, timeout=120)
        assert ok.status_code == 200, ok.text
    baseline_mb = peak_rss_mb(server.process.pid)
    answers = {}
    for name, data in hostile_corpus().items():
        response = httpx.post(url, files={"image": ("x", data, "image/jpeg")}, headers=HEADERS, timeout=120)
        answers[name] = response.status_code
        assert response.headers["content-type"] == "application/problem+json", name
        detail = response.json()["detail"]
        for internal in ("position", "DOS attack", "Errno", "Traceback"):  # no library internals
            assert internal not in detail, (name, detail)
    refused = {name: status for name, status in answers.items() if status not in (413, 415, 422)}
    assert not refused, refused  # no 200 (truncated data must not decode to grey), no 5xx
    growth_mb = peak_rss_mb(server.process.pid) - baseline_mb
    assert growth_mb < CORPUS_PEAK_RSS_GROWTH_MB, f"peak RSS grew {growth_mb:.0f} MB"
    after = httpx.post(url, files={"image": ("a.jpg", valid, "image/jpeg")}, headers=HEADERS, timeout=120)
    assert after.status_code == 200  # and the server still answers


def test_no_server_error_and_no_schema_violation_over_the_whole_spec(server: Server) -> None:
    """schemathesis with the key: every operation, generated requests, responses checked against the spec."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )
    from schemathesis.core.failures import FailureGroup
    from schemathesis.generation import GenerationMode

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", headers=HEADERS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures: list[str] = []
    cases = 0
    for operation, mode in itertools.product(operations, GenerationMode):
        # Bounded for `make test` (about a minute): schema-valid and schema-breaking cases for every
        # operation, fewer for the report routes (seconds each).
        examples = 2 if operation.path.startswith("/v1/reports") else 30

        # Derandomized: the same cases every run, so a red CI names a bug that reproduces. To explore
        # further, point schemathesis itself at a running server with more examples (random cases found the
        # region-folder time zone 500).
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: Any) -> None:
            nonlocal cases
            cases += 1
            try:
                case.call_and_validate(base_url=server.base_url, headers=HEADERS, checks=checks, timeout=150)
            except (AssertionError, FailureGroup) as failure:  # one per failed check, or a group of them
                failures.append(f"{case.method} {case.formatted_path}: {str(failure)[:400]}")

        with contextlib.suppress(Unsatisfiable):  # nothing to break in an operation without inputs
            call()
    assert cases > 200
    assert not failures, "\n".join(failures)


def test_slow_headers_are_cut_and_connections_capped(server: Server) -> None:
    slow = socket.create_connection(("127.0.0.1", server.port))
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    slow.settimeout(HEADER_READ_TIMEOUT_S + 20)
    started = time.monotonic()
    assert slow.recv(100) == b""  # closed by the server (it stayed open for 45 s and more before)
    assert time.monotonic() - started < HEADER_READ_TIMEOUT_S + 20
    slow.close()
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", server.port))
        extra.settimeout(10)
        assert extra.recv(200).startswith(b"HTTP/1.1 503")
        extra.close()
    finally:
        for connection in idle:
            connection.close()
    time.sleep(0.5)
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


def test_the_key_is_checked_before_a_large_body_and_a_slow_body_times_out(server: Server) -> None:
    keyless = socket.create_connection(("127.0.0.1", server.port))
    keyless.settimeout(10)
    keyless.sendall(
        b"POST /v1/meals/recognize HTTP/1.1\r\nHost: x\r\ncontent-type: multipart/form-data; boundary=b\r\n"
        b"content-length: 19000000\r\n\r\n"
    )
    answer = keyless.recv(400)  # before a byte of the 19 MB body was sent
    assert (
        answer.startswith(b"HTTP/1.1 401")
        and b'www-authenticate: apikey header="x-api-key"' in answer.lower()
    )
    keyless.close()
    slow = socket.create_connection(("127.0.0.1", server.port))
    slow.settimeout(BODY_READ_TIMEOUT_S + 20)
    slow.sendall(
        b"POST /v1/meals/impact HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        + f"x-api-key: {KEY}\r\ncontent-length: 1000\r\n\r\n".encode()
        + b'{"meal": '
    )
    assert slow.recv(400).startswith(b"HTTP/1.1 408")
    slow.close()


def run_serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mealimpact", "serve", "--host", "127.0.0.1", "--port", env.pop("PORT", "0")],
        cwd=REPO_ROOT,
        env={**os.environ, "MEALIMPACT_MODELS_DIR": str(Settings().models_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_start_up_failures_print_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        cases = {
            "no models": run_serve(tmp_path, MEALIMPACT_MODELS_DIR=str(tmp_path / "empty")),
            "plain-text key": run_serve(tmp_path, MEALIMPACT_API_KEYS="a-plain-secret"),
            "port in use": run_serve(tmp_path, PORT=str(busy.getsockname()[1])),
        }
    finally:
        busy.close()
    for name, result in cases.items():
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (name, result.stderr[-2000:])
        assert len(lines) == 1 and lines[0].startswith("cannot start: "), (name, lines)
        assert "Traceback" not in result.stdout + result.stderr
    assert "a-plain-secret" not in cases["plain-text key"].stderr  # the refusal never echoes the entry


def test_readiness_follows_a_remote_model_tier_that_dies(tmp_path: Path) -> None:
    models = Settings().models_dir
    if not all((models / m / "config.pbtxt").is_file() for m in Settings().required_models):
        pytest.skip("models not exported yet")
    tier = start_server(tmp_path, "tier", MEALIMPACT_MODELS_DIR=str(models))
    try:
        front = start_server(tmp_path, "front", MEALIMPACT_MODEL_BACKEND=f"v2://127.0.0.1:{tier.port}")
    except BaseException:
        stop_server(tier)
        raise
    try:
        assert httpx.get(f"{front.base_url}/v2/health/ready").json() == {"ready": True}
        stop_server(tier)
        deadline = time.monotonic() + 30
        while (readyz := httpx.get(f"{front.base_url}/readyz", timeout=10)).status_code == 200:
            assert time.monotonic() < deadline, "/readyz stayed 200 after the model tier died"
            time.sleep(0.5)
        assert readyz.status_code == 503 and "remote model tier" in readyz.json()["waiting_for"]
        assert httpx.get(f"{front.base_url}/v2/health/ready").json() == {"ready": False}
        assert httpx.get(f"{front.base_url}/healthz").status_code == 200  # alive, just not ready
    finally:
        stop_server(front)
        if tier.process.poll() is None:
            stop_server(tier)
