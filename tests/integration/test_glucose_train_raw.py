"""`mealimpact train glucose-personal` writes the self-contained raw graph as its version: one command
gives a version that takes raw inputs, passes the repository's checks and is served by the app."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from shipped_app import impact_body, wait_ready
from test_serving_startup import linked_copy, shipped_models_dir

import glucose_model.cohorts
from glucose_model.features import INPUT_FEATURES
from glucose_model.impact import ResponsePredictor
from glucose_model.records import DiabetesKind, GlucoseSeries, InsulinDose, Meal, Recording
from mealimpact.cli import main
from mealimpact.model_repository.layout import model_path, versions
from mealimpact.model_repository.loading import load_model
from mealimpact.model_repository.metadata import ResponseMetadata
from serving.main import create_app
from serving.settings import GLUCOSE_RESPONSE, Settings
from training.glucose_raw_export import INPUT_NAMES, raw_metadata, repository_file

TZ = timezone(timedelta(hours=8))


def _person(index: int) -> Recording:
    """Two days of 5-min CGM, three meals a day, each rising with its carbohydrate."""
    start = datetime(2025, 4, 1, 5, 0, tzinfo=TZ)
    minutes = np.arange(0, 42 * 60, 5)
    meals = [
        Meal(start + timedelta(hours=day * 24 + h), c + 3 * index)
        for day in (0, 1)
        for h, c in ((3, 40.0), (8, 80.0), (13, 25.0))
    ]
    glucose = np.full(minutes.shape, 105.0 + 4 * index)
    for meal in meals:
        t = minutes - (meal.time - start).total_seconds() / 60
        glucose += np.where(t > 0, meal.carbs_g * 0.9 * (t / 45) * np.exp(1 - t / 45), 0.0)
    series = GlucoseSeries.from_datetimes([start + timedelta(minutes=int(m)) for m in minutes], glucose)
    kind = (DiabetesKind.TYPE2, DiabetesKind.TYPE1)[index % 2]
    insulin = (InsulinDose(meals[0].time, 4.0),) if kind is DiabetesKind.TYPE1 else ()
    return Recording(f"p{index}", series, kind, meals=tuple(meals), insulin=insulin, cohort="cohort")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped repository after `train glucose-personal` (tiny data: 10 people, 2 folds,
    1 epoch) on top of version 1."""
    models_dir = shipped_models_dir()
    out = linked_copy(models_dir, tmp_path_factory.mktemp("trained") / "models")
    patch = pytest.MonkeyPatch()
    patch.setattr(
        glucose_model.cohorts, "load_cohort", lambda folder, layout="auto": [_person(i) for i in range(10)]
    )
    try:
        code = main(
            [
                "train",
                "glucose-personal",
                "--base",
                str(model_path(models_dir / GLUCOSE_RESPONSE, 1)),
                "--data",
                str(out / "cohort"),
                "--simulated",
                "0",
                "--folds",
                "2",
                "--epochs",
                "1",
                "--seeds",
                "1",
                "--out",
                str(out),
            ]
        )
    finally:
        patch.undo()
    assert code == 0
    return out


def test_the_version_written_takes_raw_inputs_and_is_the_only_one(trained: Path) -> None:
    assert versions(trained / GLUCOSE_RESPONSE) == [1, 2, 3, 4]  # one version added, raw; no intermediate
    model, session = load_model(trained / GLUCOSE_RESPONSE)  # config.pbtxt, graph and metadata agree
    assert model.version == 4
    assert [i.name for i in session.get_inputs()] == list(INPUT_NAMES)
    assert INPUT_FEATURES not in {i.name for i in session.get_inputs()}
    metadata = ResponseMetadata.from_props(model.metadata)
    assert metadata.network is not None and metadata.network["file"] is None  # the intermediate is not kept
    assert metadata.network["inputs"][INPUT_FEATURES]["shape"] == ["batch", 36]
    assert metadata.person_training_config is not None and metadata.person_training_config["epochs"] == 1
    assert metadata.reference_meal is not None and "raw" in metadata.reference_meal
    assert ResponsePredictor(model.metadata, lambda feed: {}).raw


def test_converting_a_kept_version_still_names_its_file() -> None:
    """`export response-raw --from 2 --version 3`'s metadata: version 3's, key for key."""
    folder = shipped_models_dir() / GLUCOSE_RESPONSE
    v2, v3 = (onnx.load(str(model_path(folder, v)), load_external_data=False) for v in (2, 3))
    props = raw_metadata(
        {p.key: p.value for p in v2.metadata_props}, repository_file(model_path(folder, 2)), 3
    )
    assert props == {p.key: p.value for p in v3.metadata_props}
    assert json.loads(props["network"])["file"] == "models/glucose_response/2/model.onnx"


def test_the_app_serves_the_trained_version(trained: Path) -> None:
    with TestClient(create_app(Settings(models_dir=trained))) as client:
        wait_ready(client)
        response = client.post("/v1/meals/impact", json=impact_body())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": GLUCOSE_RESPONSE, "version": "4"}
    assert len(body["curve"]) == 37 and all(np.isfinite(p["glucose_mg_dl"]) for p in body["curve"])
