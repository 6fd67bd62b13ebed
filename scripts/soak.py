"""Soak test: start `mealimpact serve` on a free loopback port and hold it under a steady mix of requests.

Prints, per interval (a minute by default): requests, errors (non-2xx or no answer), p50/p99 latency and
the server's resident memory, then checks that /metrics counted every request. Bounded by --minutes;
never leaves 127.0.0.1. Usage: `make soak` or `python scripts/soak.py --minutes 2 --concurrency 8`.
Exit 1 when any request failed or RSS grew more than --max-rss-growth-mb from the first interval.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Interval:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def readings(end: datetime, count: int = 36) -> list[dict[str, Any]]:
    return [
        {
            "time": (end - timedelta(minutes=5 * (count - 1 - k))).isoformat(),
            "value": 110.0 + 8 * np.sin(k / 4),
        }
        for k in range(count)
    ]


def photo() -> bytes:
    pixels = np.random.default_rng(1).integers(0, 255, (720, 960, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


async def one_request(client: httpx.AsyncClient, image: bytes) -> httpx.Response:
    """One request of the mix: 40 % impact, 30 % recognize, 20 % forecast, 10 % health."""
    now = datetime.now(UTC).replace(microsecond=0)
    pick = random.random()
    if pick < 0.4:
        meal_time = now - timedelta(minutes=1)
        body = {
            "meal": {"time": meal_time.isoformat(), "carbs_g": random.uniform(10, 120)},
            "cgm": {"unit": "mg/dL", "readings": readings(meal_time - timedelta(minutes=4))},
            "profile": {"diabetes": random.choice(["none", "prediabetes", "type2", "type1"])},
        }
        return await client.post("/v1/meals/impact", json=body)
    if pick < 0.7:
        return await client.post("/v1/meals/recognize", files={"image": ("meal.jpg", image, "image/jpeg")})
    if pick < 0.9:
        return await client.post(
            "/v1/glucose/forecast", json={"cgm": {"unit": "mg/dL", "readings": readings(now)}}
        )
    return await client.get("/healthz")


@dataclass
class Totals:
    requests: int = 0
    errors: int = 0
    answered_v1: int = 0  # /v1 requests that got any HTTP answer: what /metrics must have counted
    rss_mb: list[float] = field(default_factory=list)


async def load(base_url: str, pid: int, minutes: float, concurrency: int, interval_s: float) -> Totals:
    image = photo()
    stop_at = time.monotonic() + minutes * 60
    current = Interval()
    totals = Totals()

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                response = await one_request(client, image)
                failed = response.status_code >= 300
                totals.answered_v1 += response.request.url.path.startswith("/v1/")
            except httpx.HTTPError:
                failed = True
            current.latencies_ms.append((time.perf_counter() - started) * 1000)
            current.errors += failed
            totals.requests += 1
            totals.errors += failed

    async def report() -> None:
        nonlocal current
        print(
            f"{'minute':>7} {'requests':>9} {'errors':>7} {'p50_ms':>8} {'p99_ms':>8} {'rss_mb':>8}",
            flush=True,
        )
        elapsed = 0.0
        while time.monotonic() < stop_at:
            await asyncio.sleep(min(interval_s, max(0.0, stop_at - time.monotonic())))
            elapsed += interval_s
            done, current = current, Interval()
            rss = rss_mb(pid)
            totals.rss_mb.append(rss)
            p50, p99 = (
                np.percentile(done.latencies_ms, [50, 99]) if done.latencies_ms else (float("nan"),) * 2
            )
            print(
                f"{elapsed / 60:7.1f} {len(done.latencies_ms):9d} {done.errors:7d} {p50:8.1f} {p99:8.1f} {rss:8.1f}",
                flush=True,
            )

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        reporter = asyncio.create_task(report())
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        await reporter
    return totals


def counted_requests(base_url: str) -> int:
    """The /v1 requests /metrics counted."""
    total = 0.0
    for line in httpx.get(f"{base_url}/metrics", timeout=10).text.splitlines():
        if line.startswith("mealimpact_requests_total{") and 'route="/v1/' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="how long to hold the load (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument(
        "--interval-s", type=float, default=60.0, help="seconds per printed line (default 60)"
    )
    parser.add_argument("--max-rss-growth-mb", type=float, default=100.0, help="fail above this RSS growth")
    args = parser.parse_args()
    port = free_port()
    environment = {**os.environ, "MEALIMPACT_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mealimpact", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                print(
                    f"soak: the server exited: {server.stderr.read() if server.stderr else ''}",
                    file=sys.stderr,
                )
                return 1
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                print("soak: the server never became ready", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print(f"soak: {base_url}, {args.minutes:g} min at concurrency {args.concurrency}", flush=True)
        totals = asyncio.run(load(base_url, server.pid, args.minutes, args.concurrency, args.interval_s))
        counted = counted_requests(base_url)
    finally:
        server.terminate()
        server.wait(timeout=30)
    rss = totals.rss_mb or [float("nan")]
    growth = rss[-1] - rss[0]
    exact = counted == totals.answered_v1
    print(f"total: {totals.requests} requests, {totals.errors} errors")
    print(
        f"/metrics counted {counted} /v1 requests of {totals.answered_v1} answered ({'exact' if exact else 'MISMATCH'})"
    )
    print(f"rss: {rss[0]:.1f} -> {rss[-1]:.1f} MB ({growth:+.1f} MB)")
    return 0 if totals.errors == 0 and exact and growth <= args.max_rss_growth_mb else 1


if __name__ == "__main__":
    sys.exit(main())
