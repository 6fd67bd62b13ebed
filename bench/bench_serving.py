"""HTTP serving speed against a plain torch server, in one run, on the repository's real photos.

Three servers run side by side on 127.0.0.1: the real one (`mealimpact serve`) with the micro-batcher on
and off, and the peer (`bench/torch_peer_server.py`: plain FastAPI, torch eager EfficientNet-Lite0, JPEG
draft decoding, one torch thread). This process is the load generator: raw HTTP/1.1 over keep-alive
connections with every request encoded once up front, so the client costs the two shared cores as little
as possible. Printed: the issue-16 table (goal against measured), the per-stage timings the real server
reports in its own `mealimpact_recognize_stage_seconds` histogram, and the load average (other work on the
machine skews every absolute number; the ratios come from the same run, the concurrency cells in
alternating rounds). Run with `make bench` or `python -m bench serving` (needs the exported models,
torch for the peer, and ../shared/data).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from bench.recognizer import recognizer_path
from mealimpact.inference import session_infer
from mealimpact.model_repository.sessions import open_session
from serving.metrics import RECOGNIZE_STAGES
from serving.runtime import session_options
from serving.settings import Settings
from vision.metadata import INPUT_NAME
from vision.recognition import Recognizer

REPO = Path(__file__).resolve().parents[1]
D1NAMO = REPO.parent / "shared" / "data" / "d1namo"
PHONE_PHOTO = D1NAMO / "full_resolution" / "001_007.jpg"  # 3264 x 1840 = 6.0 MP, as a phone sends it
SEQUENTIAL_REQUESTS = 48  # per sequential cell: each 1600-px photo once, or the phone photo 48 times
CONCURRENCY = 16
CELL_SECONDS = 8.0  # per concurrency cell...
ROUNDS = 3  # ...run in this many rounds, the three servers alternating, median taken
WARM_UP_REQUESTS = 4
BOUNDARY = "mealimpactbenchboundary"
_CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
_STAGE_LINE = re.compile(r'^mealimpact_recognize_stage_seconds_(sum|count)\{stage="(\w+)"\} (\S+)$')

# The issue's goals, to print beside what this run measured.
GOAL_P50_1600_MS = 20.0
GOAL_P50_PHONE_MS = 40.0
GOAL_PHOTOS_PER_S = 100.0
GOAL_RATIO = 4.0
GOAL_IMPACT_P50_MS = 10.0


@dataclass(frozen=True)
class Cell:
    """One load cell: what was sent and how long each answer took."""

    requests: int
    errors: int
    seconds: float
    latencies_s: tuple[float, ...]
    server_cpu_s: float = float("nan")  # CPU the server process spent meanwhile (user + system)

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request: what a request costs the machine, whatever else runs on it."""
        return self.server_cpu_s / self.requests * 1e3

    @property
    def p50_ms(self) -> float:
        return float(np.percentile(self.latencies_s, 50)) * 1e3

    def line(self, label: str) -> str:
        p95 = float(np.percentile(self.latencies_s, 95)) * 1e3
        return (
            f"{label}: {self.per_s:6.1f} req/s, p50 {self.p50_ms:6.1f} ms, p95 {p95:6.1f} ms "
            f"{self.cpu_ms:5.1f} ms server CPU each ({self.requests} requests, {self.errors} errors)"
        )


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def load_photos() -> list[bytes]:
    """The 1600-px D1NAMO meal photos (48 of them), as the app uploads them."""
    paths = sorted(D1NAMO.glob("*/food_pictures/*.jpg"))
    if not paths or not PHONE_PHOTO.exists():
        raise SystemExit(f"bench_serving needs the D1NAMO photos in {D1NAMO}")
    return [p.read_bytes() for p in paths]


def multipart_request(port: int, photo: bytes) -> bytes:
    """A whole POST /v1/meals/recognize with the photo as the `image` form field."""
    body = b"".join(
        (
            f"--{BOUNDARY}\r\n".encode(),
            b'Content-Disposition: form-data; name="image"; filename="meal.jpg"\r\n',
            b"Content-Type: image/jpeg\r\n\r\n",
            photo,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        )
    )
    head = (
        f"POST /v1/meals/recognize HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def impact_request(port: int) -> bytes:
    """A whole POST /v1/meals/impact: 3 h of CGM before a 60-g meal a minute ago (the explanation is
    always computed)."""
    meal = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    readings = [
        {"time": (meal - timedelta(minutes=5 * (36 - k))).isoformat(), "value": 110.0 + (k % 5)}
        for k in range(36)
    ]
    body = json.dumps(
        {
            "meal": {"time": meal.isoformat(), "carbs_g": 60, "fiber_g": 4},
            "cgm": {"unit": "mg/dL", "readings": readings},
            "activity": {"planned_walk_min": 10},
            "profile": {"diabetes": "type2"},
        }
    ).encode()
    head = (
        f"POST /v1/meals/impact HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
    """Send one request on a kept-alive connection, read its whole answer; True for 200."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    match = _CONTENT_LENGTH.search(head)
    if match is None:
        raise RuntimeError(f"answer without Content-Length: {head[:200]!r}")
    await reader.readexactly(int(match[1]))
    return head.startswith(b"HTTP/1.1 200")


async def _load(port: int, requests: Sequence[bytes], concurrency: int, count: int, seconds: float) -> Cell:
    """`concurrency` connections send `requests` round-robin until `count` are answered or `seconds` pass."""
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    for _ in range(max(1, WARM_UP_REQUESTS // concurrency)):
        await asyncio.gather(
            *(_exchange(r, w, requests[k % len(requests)]) for k, (r, w) in enumerate(connections))
        )
    latencies: list[float] = []
    errors = 0
    issued = 0
    started = time.perf_counter()
    stop_at = started + seconds

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors, issued
        while issued < count and time.perf_counter() < stop_at:
            request = requests[issued % len(requests)]
            issued += 1
            sent = time.perf_counter()
            ok = await _exchange(reader, writer, request)
            latencies.append(time.perf_counter() - sent)
            errors += not ok

    await asyncio.gather(*(worker(r, w) for r, w in connections))
    elapsed = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    return Cell(len(latencies), errors, elapsed, tuple(latencies))


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_cell(server: Server, requests: Sequence[bytes], concurrency: int, count: int, seconds: float) -> Cell:
    cpu_before_s = process_cpu_s(server.process.pid)
    cell = asyncio.run(_load(server.port, requests, concurrency, count, seconds))
    return replace(cell, server_cpu_s=process_cpu_s(server.process.pid) - cpu_before_s)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(name: str, module_args: list[str], env: dict[str, str]) -> Server:
    """`python -m <module_args> --port PORT` in the repository, with `env` added."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", *module_args, "--port", str(port)],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Server(name, process, port)


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} server exited with {server.process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{server.port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{server.name} server did not become ready within 180 s")


def stage_totals(port: int) -> dict[str, tuple[float, float]]:
    """(seconds, count) per stage so far, from the server's own histogram."""
    totals: dict[str, list[float]] = {stage: [0.0, 0.0] for stage in RECOGNIZE_STAGES}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text.splitlines():
        match = _STAGE_LINE.match(line)
        if match and match[2] in totals:
            totals[match[2]][0 if match[1] == "sum" else 1] = float(match[3])
    return {stage: (value[0], value[1]) for stage, value in totals.items()}


def stage_means_ms(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> list[float]:
    return [
        (after[s][0] - before[s][0]) / max(after[s][1] - before[s][1], 1.0) * 1e3 for s in RECOGNIZE_STAGES
    ]


def ort_per_image_ms(photos: list[bytes]) -> dict[int, float]:
    """CPU ms per photo of one in-process ONNX Runtime call (1 thread) by batch size: what a micro-batch
    can save per photo at best (CPU time, so other work on the machine does not inflate it)."""
    options = session_options(Settings(intra_op_threads=1))
    session = open_session(recognizer_path(), options=options)
    recognizer = Recognizer(session.get_modelmeta().custom_metadata_map, session_infer(session))
    images = np.stack([recognizer.preprocess(photo) for photo in photos[:8]])  # (8, crop, crop, 3)
    per_image: dict[int, list[float]] = {1: [], 2: [], 8: []}
    for _ in range(5):  # interleaved, the best of five: the least disturbed
        for batch, times in per_image.items():
            inputs = {INPUT_NAME: images[:batch]}
            session.run(None, inputs)
            started = time.process_time()
            for _ in range(16 // batch):
                session.run(None, inputs)
            times.append((time.process_time() - started) / 16 * 1e3)
    return {batch: min(times) for batch, times in per_image.items()}


def _verdict(measured: float, goal: float, at_most: bool) -> str:
    return "met" if (measured <= goal if at_most else measured >= goal) else "NOT met"


def main() -> None:
    photos = load_photos()
    phone = PHONE_PHOTO.read_bytes()
    serve = ["mealimpact", "serve", "--host", "127.0.0.1"]
    quiet = {"MEALIMPACT_LOG_LEVEL": "WARNING"}
    servers = {
        "on": start_server("batcher on", serve, {**quiet, "MEALIMPACT_BATCHER_ENABLED": "true"}),
        "off": start_server("batcher off", serve, {**quiet, "MEALIMPACT_BATCHER_ENABLED": "false"}),
        "peer": start_server("torch eager peer", ["bench.torch_peer_server"], {}),
    }
    try:
        for server in servers.values():
            wait_ready(server)
        results = _measure(servers, photos, phone)
    finally:
        for server in servers.values():
            server.stop()
    _report(results, ort_per_image_ms(photos))


@dataclass
class Results:
    sequential: dict[tuple[str, str], Cell]  # (server, "1600" | "phone" | "impact")
    concurrent: dict[str, list[Cell]]  # server -> one cell per round
    stages_ms: dict[str, list[float]]  # cell label -> mean ms per stage (real server, batcher off)


def _measure(servers: dict[str, Server], photos: list[bytes], phone: bytes) -> Results:
    sequential: dict[tuple[str, str], Cell] = {}
    stages: dict[str, list[float]] = {}
    for key in ("on", "off", "peer"):
        server = servers[key]
        for kind, payload in (("1600", photos), ("phone", [phone])):
            requests = [multipart_request(server.port, p) for p in payload]
            before = stage_totals(server.port) if key == "off" else {}
            cell = run_cell(server, requests, 1, SEQUENTIAL_REQUESTS, 60.0)
            sequential[key, kind] = cell
            if key == "off":
                stages[f"sequential, {kind}"] = stage_means_ms(before, stage_totals(server.port))
            print(f"[serving] {cell.line(f'{server.name:<17} sequential {kind:>5}')}", flush=True)
        if key != "peer":
            cell = run_cell(server, [impact_request(server.port)], 1, SEQUENTIAL_REQUESTS, 60.0)
            sequential[key, "impact"] = cell
            print(f"[serving] {cell.line(f'{server.name:<17} sequential impact')}", flush=True)
    concurrent: dict[str, list[Cell]] = {key: [] for key in servers}
    for round_index in range(ROUNDS):
        for key in ("peer", "off", "on"):
            server = servers[key]
            requests = [multipart_request(server.port, p) for p in photos]
            before = stage_totals(server.port) if key == "off" else {}
            cell = run_cell(server, requests, CONCURRENCY, 100_000, CELL_SECONDS)
            concurrent[key].append(cell)
            if key == "off":
                stages[f"c={CONCURRENCY} round {round_index + 1}"] = stage_means_ms(
                    before, stage_totals(server.port)
                )
            label = f"{server.name:<17} c={CONCURRENCY} round {round_index + 1}"
            print(f"[serving] {cell.line(label)}", flush=True)
    return Results(sequential, concurrent, stages)


def _report(results: Results, ort_ms: dict[int, float]) -> None:
    seq, conc = results.sequential, results.concurrent
    rate = {key: float(np.median([c.per_s for c in cells])) for key, cells in conc.items()}
    cpu_ms = {key: float(np.median([c.cpu_ms for c in cells])) for key, cells in conc.items()}
    ratios = [
        max(on.per_s, off.per_s) / peer.per_s
        for on, off, peer in zip(conc["on"], conc["off"], conc["peer"], strict=True)
    ]
    ratio = float(np.median(ratios))
    ratio_by = {
        key: float(np.median([c.per_s / peer.per_s for c, peer in zip(conc[key], conc["peer"], strict=True)]))
        for key in ("off", "on")
    }
    p50_1600, p50_phone = seq["on", "1600"].p50_ms, seq["on", "phone"].p50_ms
    p50_1600_off, p50_phone_off = seq["off", "1600"].p50_ms, seq["off", "phone"].p50_ms
    impact = seq["off", "impact"].p50_ms
    best_rate = max(rate["on"], rate["off"])
    rows = [
        (
            "`/v1/meals/recognize` p50, sequential, 1600-px photo",
            f"<= {GOAL_P50_1600_MS:.0f} ms",
            f"{p50_1600_off:.1f} ms (batcher on: {p50_1600:.1f})",
            f"{seq['peer', '1600'].p50_ms:.1f} ms",
            _verdict(p50_1600_off, GOAL_P50_1600_MS, True),
        ),
        (
            "same, 6-MP phone photo",
            f"<= {GOAL_P50_PHONE_MS:.0f} ms",
            f"{p50_phone_off:.1f} ms (batcher on: {p50_phone:.1f})",
            f"{seq['peer', 'phone'].p50_ms:.1f} ms",
            _verdict(p50_phone_off, GOAL_P50_PHONE_MS, True),
        ),
        (
            f"photos/s at concurrency {CONCURRENCY} (batcher on / off)",
            f">= {GOAL_PHOTOS_PER_S:.0f}",
            f"{rate['on']:.1f} / {rate['off']:.1f}",
            f"{rate['peer']:.1f}",
            _verdict(best_rate, GOAL_PHOTOS_PER_S, False),
        ),
        (
            f"ratio to the torch-eager server at concurrency {CONCURRENCY}",
            f">= {GOAL_RATIO:.0f}x",
            f"{ratio:.2f}x, the better of batcher on/off each round (rounds: "
            f"{', '.join(f'{r:.2f}' for r in ratios)}); batcher off alone {ratio_by['off']:.2f}x, "
            f"on alone {ratio_by['on']:.2f}x",
            "1x",
            _verdict(ratio, GOAL_RATIO, False),
        ),
        (
            f"server CPU per photo at concurrency {CONCURRENCY} (batcher on / off); peer / ours",
            "",
            f"{cpu_ms['on']:.1f} / {cpu_ms['off']:.1f} ms; {cpu_ms['peer'] / cpu_ms['off']:.2f}x",
            f"{cpu_ms['peer']:.1f} ms",
            "",
        ),
        (
            "`/v1/meals/impact` p50 with explanation",
            f"<= {GOAL_IMPACT_P50_MS:.0f} ms",
            f"{impact:.1f} ms",
            "",
            _verdict(impact, GOAL_IMPACT_P50_MS, True),
        ),
    ]
    print("\n| what | goal | measured | torch-eager peer | |\n| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        "\nWhere the time goes in the real server (batcher off), mean ms per photo per stage, from its "
        "mealimpact_recognize_stage_seconds histogram (wall time; model includes queue and batch wait):"
    )
    print("| cell | " + " | ".join(RECOGNIZE_STAGES) + " | sum |\n|" + " --- |" * (len(RECOGNIZE_STAGES) + 2))
    for label, means in results.stages_ms.items():
        print(f"| {label} | " + " | ".join(f"{m:.2f}" for m in means) + f" | {sum(means):.2f} |")
    per_batch = ", ".join(f"{ms:.2f} at batch {batch}" for batch, ms in ort_ms.items())
    print(f"\nONNX Runtime in-process, 1 thread, CPU ms per photo: {per_batch}")
    # Other work on the machine skews every number above; say how busy it was.
    print(f"{os.cpu_count()} CPUs, load average over 1/5/15 min: {os.getloadavg()}")


if __name__ == "__main__":
    main()
