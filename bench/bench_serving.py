"""HTTP serving speed: requests/s and p50/p95/p99 latency of /v1/meals/recognize (real 1600-px D1NAMO photos)
at concurrency 1, 4 and 16 with and without the micro-batcher, and of /v1/meals/impact; the server runs
under uvicorn in a subprocess, this process is the load generator on 127.0.0.1. The ratio to beat: the
same photos through a plain loop of torch eager calls (decode, preprocess, forward) in this process.
Run with `python -m bench serving` (needs the exported models and ../shared/data).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from vision.metadata import MODEL_NAME

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "d1namo"
CONCURRENCY = (1, 4, 16)
REQUESTS_PER_CELL = 96  # bounded in count...
SECONDS_PER_CELL = 20.0  # ...and in time
WARM_UP_REQUESTS = 4


@dataclass(frozen=True)
class Cell:
    requests: int
    errors: int
    seconds: float
    latencies_s: tuple[float, ...]

    def line(self, label: str) -> str:
        p50, p95, p99 = (np.percentile(self.latencies_s, q) * 1e3 for q in (50, 95, 99))
        return (
            f"{label}: {self.requests / self.seconds:6.1f} req/s, p50 {p50:6.1f} ms, p95 {p95:6.1f} ms, "
            f"p99 {p99:6.1f} ms ({self.requests} requests, {self.errors} errors)"
        )


def load_photos() -> list[bytes]:
    paths = sorted(PHOTOS.glob("*/food_pictures/*.jpg"))[:24]
    if not paths:
        raise SystemExit(f"bench_serving needs the D1NAMO photos in {PHOTOS}")
    return [p.read_bytes() for p in paths]


def _impact_body() -> dict[str, object]:
    meal = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    readings = [
        {"time": (meal - timedelta(minutes=5 * (36 - k))).isoformat(), "value": 110.0 + (k % 5)}
        for k in range(36)
    ]
    return {
        "meal": {"time": meal.isoformat(), "carbs_g": 60, "fiber_g": 4},
        "cgm": {"unit": "mg/dL", "readings": readings},
        "activity": {"planned_walk_min": 10},
        "profile": {"diabetes": "type2"},
    }


def _start_server(batcher: bool) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "MEALIMPACT_BATCHER_ENABLED": "true" if batcher else "false",
        "MEALIMPACT_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mealimpact", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not become ready within 120 s")


async def _load(base_url: str, route: str, concurrency: int, photos: list[bytes]) -> Cell:
    import httpx

    body = _impact_body()
    latencies: list[float] = []
    errors = 0
    issued = 0

    async def one(client: httpx.AsyncClient, k: int) -> None:
        nonlocal errors
        started = time.perf_counter()
        if route == "recognize":
            files = {"image": ("meal.jpg", photos[k % len(photos)], "image/jpeg")}
            response = await client.post(f"{base_url}/v1/meals/recognize", files=files)
        else:
            response = await client.post(f"{base_url}/v1/meals/impact", json=body)
        latencies.append(time.perf_counter() - started)
        errors += response.status_code != 200

    async def worker(client: httpx.AsyncClient, stop_at: float) -> None:
        nonlocal issued
        while issued < REQUESTS_PER_CELL and time.perf_counter() < stop_at:
            issued += 1
            await one(client, issued)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for k in range(WARM_UP_REQUESTS):
            await one(client, k)
        latencies.clear()
        errors = 0
        started = time.perf_counter()
        stop_at = started + SECONDS_PER_CELL
        await asyncio.gather(*(worker(client, stop_at) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Cell(len(latencies), errors, seconds, tuple(latencies))


def _batch_rows_and_calls(base_url: str) -> tuple[float, float]:
    """Rows and calls of food_recognizer so far, from the server's own batch-size histogram."""
    import httpx

    totals = {"sum": 0.0, "count": 0.0}
    for line in httpx.get(f"{base_url}/metrics", timeout=30).text.splitlines():
        for kind in totals:
            if line.startswith(f'mealimpact_model_batch_size_{kind}{{model="{MODEL_NAME}"}}'):
                totals[kind] = float(line.rsplit(" ", 1)[1])
    return totals["sum"], totals["count"]


def _torch_eager_loop(photos: list[bytes], threads: int | None) -> Cell:
    """The same model, decode and preprocessing as the server, as a plain loop of torch eager calls
    (torch's default thread count, or `threads`: on a busy machine fewer threads can be faster)."""
    import onnxruntime as ort
    import torch

    from serving.settings import Settings
    from vision.efficientnet_lite import load_pretrained
    from vision.metadata import parse_metadata
    from vision.recognition import preprocess_photo
    from vision.recognizer_model import FoodRecognizer, RecognizerCalibration
    from vision.taxonomy import load_food_classes

    model_dir = Settings().models_dir / MODEL_NAME
    latest = max((p for p in model_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    session = ort.InferenceSession(str(latest / "model.onnx"), providers=["CPUExecutionProvider"])
    metadata = parse_metadata(session.get_modelmeta().custom_metadata_map)
    fields: dict[str, Any] = (
        metadata.training_data.get("calibration", {}) if isinstance(metadata.training_data, dict) else {}
    )
    calibration_args: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    calibration = RecognizerCalibration(**calibration_args)
    model = FoodRecognizer(load_pretrained(), load_food_classes(), metadata.preprocess, calibration).eval()
    if threads is not None:
        torch.set_num_threads(threads)
    latencies = []

    def one(k: int) -> None:
        image = torch.from_numpy(
            np.array(preprocess_photo(photos[k % len(photos)], metadata.preprocess)[None])
        )
        with torch.inference_mode():
            model(image)

    for k in range(WARM_UP_REQUESTS):
        one(k)
    started = time.perf_counter()
    for k in range(REQUESTS_PER_CELL):
        t0 = time.perf_counter()
        one(k)
        latencies.append(time.perf_counter() - t0)
        if time.perf_counter() - started > SECONDS_PER_CELL:
            break
    return Cell(len(latencies), 0, time.perf_counter() - started, tuple(latencies))


def preprocess_cpu_ms(photos: list[bytes]) -> float:
    """Median CPU milliseconds to decode and preprocess one photo, as the server does before the batcher."""
    import onnxruntime as ort

    from serving.settings import Settings
    from vision.metadata import parse_metadata
    from vision.recognition import preprocess_photo

    model_dir = Settings().models_dir / MODEL_NAME
    latest = max((p for p in model_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    session = ort.InferenceSession(str(latest / "model.onnx"), providers=["CPUExecutionProvider"])
    spec = parse_metadata(session.get_modelmeta().custom_metadata_map).preprocess
    times = []
    for photo in photos:
        started = time.process_time()
        preprocess_photo(photo, spec)
        times.append(time.process_time() - started)
    return float(np.median(times)) * 1e3


def _ort_per_image_by_batch(photos: list[bytes], threads: int) -> dict[int, float]:
    """Seconds per image of one in-process ONNX Runtime call at batch 1 and at the batcher's batch of 8:
    what a micro-batch can save at best (if the per-image cost does not fall, batching only adds waiting)."""
    import onnxruntime as ort

    from serving.settings import Settings
    from vision.metadata import INPUT_NAME, parse_metadata
    from vision.recognition import preprocess_photo

    model_dir = Settings().models_dir / MODEL_NAME
    latest = max((p for p in model_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(latest / "model.onnx"), options, providers=["CPUExecutionProvider"])
    spec = parse_metadata(session.get_modelmeta().custom_metadata_map).preprocess
    images = np.stack([preprocess_photo(photo, spec) for photo in photos[:8]])  # (8, crop, crop, 3)
    per_image: dict[int, float] = {}
    for batch in (1, 8):
        inputs = {INPUT_NAME: images[:batch]}
        session.run(None, inputs)
        times = []
        for _ in range(max(3, 24 // batch)):
            started = time.perf_counter()
            session.run(None, inputs)
            times.append(time.perf_counter() - started)
        per_image[batch] = float(np.median(times)) / batch
    return per_image


def main() -> None:
    photos = load_photos()
    results: dict[str, Cell] = {}
    for batcher in (False, True):
        process, base_url = _start_server(batcher)
        try:
            for concurrency in CONCURRENCY:
                label = f"recognize c={concurrency:<2} batcher={'on ' if batcher else 'off'}"
                rows_before, calls_before = _batch_rows_and_calls(base_url)
                results[label] = asyncio.run(_load(base_url, "recognize", concurrency, photos))
                rows, calls = _batch_rows_and_calls(base_url)
                # Is a batch formed? Mean photos per model call in this cell (warm-up requests included).
                per_call = (rows - rows_before) / max(calls - calls_before, 1.0)
                print(f"[serving] {results[label].line(label)}, {per_call:.2f} photos/model call", flush=True)
            if not batcher:
                for concurrency in (1, 4):
                    label = f"impact    c={concurrency:<2}"
                    results[label] = asyncio.run(_load(base_url, "impact", concurrency, photos))
                    print(f"[serving] {results[label].line(label)}", flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(
        f"[serving] decode + preprocess: {preprocess_cpu_ms(photos):.1f} ms of CPU per photo "
        f"(median of {len(photos)})",
        flush=True,
    )
    for ort_threads in (1, 2):
        cost = _ort_per_image_by_batch(photos, ort_threads)
        print(
            f"[serving] ONNX Runtime in-process, {ort_threads} thread(s): {cost[1] * 1e3:.1f} ms/image at batch 1, "
            f"{cost[8] * 1e3:.1f} ms/image at batch 8 (batch 8 / batch 1: {cost[8] / cost[1]:.2f}x per image)",
            flush=True,
        )
    eager_rate = 0.0
    for threads in (None, 1):
        eager = _torch_eager_loop(photos, threads)
        label = (
            f"torch eager loop, {threads or 'default'} thread(s) (decode + preprocess + forward, in-process)"
        )
        print(f"[serving] {eager.line(label)}", flush=True)
        eager_rate = max(eager_rate, eager.requests / eager.seconds)  # the faster loop is the one to beat
    best_label, best = max(
        results.items(), key=lambda kv: kv[1].requests / kv[1].seconds if "recognize" in kv[0] else 0
    )
    ratio = (best.requests / best.seconds) / eager_rate
    print(
        f"[serving] best HTTP recognize ({best_label.strip()}) / faster torch eager loop: {ratio:.2f}x throughput"
    )
    # Other work on the machine skews every number above; say how busy it was.
    print(f"[serving] {os.cpu_count()} CPUs, load average over 1/5/15 min: {os.getloadavg()}")


if __name__ == "__main__":
    main()
