"""What the integration tests of the app share: the shipped models' settings, readiness, real photos,
and a valid impact request (one definition, imported by each test module)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
PHOTOS = REPO_ROOT / ".." / "shared" / "data" / "d1namo"


def shipped_settings(**overrides: Any) -> Settings:
    """Settings on the shipped model repository; skips the test where the models are not exported."""
    settings = Settings(**overrides)
    missing = [
        m for m in settings.required_models if not (settings.models_dir / m / "config.pbtxt").is_file()
    ]
    if missing:
        pytest.skip(f"models {missing} not exported into {settings.models_dir} yet")
    return settings


def wait_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "models never finished their warm-up"
        time.sleep(0.05)


def photo_paths() -> list[Path]:
    if not PHOTOS.is_dir():
        pytest.skip(f"D1NAMO photos not found at {PHOTOS} (see ../shared/README.md)")
    return sorted(PHOTOS.glob("*/food_pictures/*.jpg"))


def readings(values_mg_dl: list[float], end: datetime, step_min: int = 5) -> list[dict[str, Any]]:
    start = end - timedelta(minutes=step_min * (len(values_mg_dl) - 1))
    return [
        {"time": (start + timedelta(minutes=step_min * k)).isoformat(), "value": v}
        for k, v in enumerate(values_mg_dl)
    ]


def impact_body(unit: str = "mg/dL", scale: float = 1.0) -> dict[str, Any]:
    meal_time = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    trace = [(110.0 + 3 * np.sin(k / 5)) / scale for k in range(36)]
    return {
        "meal": {"time": meal_time.isoformat(), "carbs_g": 60, "fiber_g": 4, "fat_g": 12, "protein_g": 20},
        "cgm": {"unit": unit, "readings": readings(trace, meal_time - timedelta(minutes=4))},
        "activity": {"steps": 600, "heart_rate": 75, "planned_walk_min": 10},
        "profile": {"diabetes": "type2"},
        "sleep_hours": 7,
    }
