"""The API returns what `mealimpact evaluate glucose` computes, for one real meal with history.

One unseen Shanghai T2DM person's meal with the 10 meals before it as history, sent to
/v1/meals/impact exactly as an app would (CGM readings, meal numbers, past meals with their CGM,
the profile with the medication the logs show), against the evaluation path
(`training.glucose_history_evaluation`) on the shipped model, and pinned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from glucose_model.cohorts import load_cohort
from glucose_model.impact import ResponsePredictor
from glucose_model.records import InsulinKind
from glucose_model.windows import meal_windows
from mealimpact.model_repository.loading import load_model
from serving.main import create_app
from serving.settings import REQUIRED_MODELS, Settings
from training.glucose_history_evaluation import PersonMeal, person_meals

REPO_ROOT = Path(__file__).resolve().parents[2]
PERSON = "shanghai-2004"  # held out of every training run of the shipped model
HISTORY = 10
# Pinned from the evaluation path on models/glucose_response version 2 (the person encoder's model).
PINNED_PEAK_RISE_MG_DL: float | None = 5.20  # 25.94 without the history


def _readings(series_times: np.ndarray, values: np.ndarray, offset_min: int) -> list[dict[str, Any]]:
    from datetime import datetime, timedelta, timezone

    tz = timezone(timedelta(minutes=offset_min))
    return [
        {"time": datetime.fromtimestamp(int(t), tz).isoformat(), "value": float(v)}
        for t, v in zip(series_times, values, strict=True)
    ]


def _meal(meal: PersonMeal) -> dict[str, Any]:
    m = meal.context.meal
    out: dict[str, Any] = {"time": m.time.isoformat(), "carbs_g": float(m.carbs_g)}
    for name in ("sugars_g", "fiber_g", "fat_g", "protein_g"):
        value = getattr(m, name)
        if value is not None:
            out[name] = float(value)
    return out


def request_body(meal: PersonMeal, history: list[PersonMeal], medication: list[str]) -> dict[str, Any]:
    """What an app sends for `meal`: the same numbers the evaluation's MealContext holds."""
    c = meal.context
    offset = int(c.meal.time.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    body: dict[str, Any] = {
        "meal": _meal(meal),
        "cgm": {
            "unit": "mg/dL",
            "readings": _readings(c.glucose.times_utc_s, c.glucose.glucose_mg_dl, offset),
        },
        "profile": {"diabetes": c.kind.value if c.kind else None, "medication": medication},
        "insulin": [
            {"time": d.time.isoformat(), "units": float(d.units), "kind": d.kind.value}
            for d in c.insulin
            if d.kind == InsulinKind.RAPID
        ],
        "recent_meals": [{"time": p.time.isoformat(), "carbs_g": float(p.carbs_g)} for p in c.previous_meals],
        "history": [],
    }
    for past in history:
        pre, after = past.past.context.glucose, past.past.measured
        times = np.concatenate([pre.times_utc_s, after.times_utc_s])
        values = np.concatenate([pre.glucose_mg_dl, after.glucose_mg_dl])
        body["history"].append(
            {"meal": _meal(past), "cgm": {"unit": "mg/dL", "readings": _readings(times, values, offset)}}
        )
    return body


def test_api_with_history_returns_the_evaluation_numbers(shared_data: Path) -> None:
    settings = Settings(models_dir=REPO_ROOT / "models")
    missing = [m for m in REQUIRED_MODELS if not (settings.models_dir / m / "config.pbtxt").is_file()]
    if missing:
        pytest.skip(f"models {missing} not exported yet")
    recordings = [r for r in load_cohort(shared_data / "shanghai", "shanghai") if r.person_id == PERSON]
    meals = [m for m in person_meals(recordings) if m.person == PERSON]
    assert len(meals) > HISTORY + 1
    target, history = meals[HISTORY], meals[:HISTORY]
    model, session = load_model(settings.models_dir / "glucose_response")
    outputs = [o.name for o in session.get_outputs()]

    def infer(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(outputs, session.run(outputs, feed), strict=True))

    predictor = ResponsePredictor(dict(model.metadata), infer)
    assert predictor.personal
    expected = predictor.impact(target.context, [m.past for m in history], target.person_fields)
    alone = predictor.impact(target.context, [], target.person_fields)
    assert abs(expected.peak.rise_mg_dl - alone.peak.rise_mg_dl) > 0.5  # the history does something

    medication = [
        n
        for n, f in zip(
            ("none", "oral", "basal_insulin", "rapid_insulin"),
            target.person_fields[-4:].tolist(),
            strict=True,
        )
        if f == 1.0 and n != "none"
    ]
    assert len(list(meal_windows(recordings[0]))) > 0
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/meals/impact", json=request_body(target, history, medication))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"]["version"] == str(model.version)
    # The API rounds mg/dL to whole numbers and probabilities to 3 decimals (serving/wording.py).
    assert answer["peak"]["rise_mg_dl"] == pytest.approx(expected.peak.rise_mg_dl, abs=0.51)
    assert answer["peak"]["minute"] == expected.peak.minute
    assert answer["spike"]["probability"] == pytest.approx(expected.spike.probability, abs=0.0015)
    contributions = {c["factor"]: c["peak_rise_mg_dl"] for c in answer["explanation"]["contributions"]}
    assert contributions["your past responses"] == pytest.approx(
        expected.explanation.contributions[-1].peak_rise_mg_dl, abs=0.51
    )
    if PINNED_PEAK_RISE_MG_DL is not None:
        assert expected.peak.rise_mg_dl == pytest.approx(PINNED_PEAK_RISE_MG_DL, abs=0.05)
