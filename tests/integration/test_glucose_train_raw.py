"""`mealimpact train glucose` and `train glucose-personal` write the self-contained raw graph as their
version: one command gives a version that takes raw inputs, passes the repository's checks and is
served by the app; a personal model trains on top of a raw population one."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from shipped_app import impact_body, readings, wait_ready
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
from training.glucose_raw_export import INPUT_NAMES, POPULATION_INPUT_NAMES, raw_metadata, repository_file

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


def _train(argv: list[str], out: Path) -> None:
    """`mealimpact train ...` with every --data folder read as the 10 people above."""
    patch = pytest.MonkeyPatch()
    people = [_person(i) for i in range(10)]
    patch.setattr(glucose_model.cohorts, "load_cohort", lambda folder, layout="auto": people)
    try:
        assert main(["train", *argv, "--data", str(out / "cohort"), "--out", str(out)]) == 0
    finally:
        patch.undo()


def _train_personal(base: Path, out: Path) -> None:
    """`train glucose-personal` on `base` with the tiny settings: 2 folds, 1 epoch, 1 seed, no simulation."""
    _train(
        [
            "glucose-personal",
            "--base",
            str(base),
            "--simulated",
            "0",
            "--folds",
            "2",
            "--epochs",
            "1",
            "--seeds",
            "1",
        ],
        out,
    )


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped repository after `train glucose` (10 people, 1 + 1 epochs): version 4."""
    out = linked_copy(shipped_models_dir(), tmp_path_factory.mktemp("population") / "models")
    _train(["glucose", "--simulated", "0", "--epochs", "1", "--adapt-epochs", "1"], out)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped repository after `train glucose-personal` (tiny data: 10 people, 2 folds,
    1 epoch) on top of version 1."""
    out = linked_copy(shipped_models_dir(), tmp_path_factory.mktemp("trained") / "models")
    base = model_path(out / GLUCOSE_RESPONSE, 1)
    _train_personal(base, out)
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


def test_train_glucose_writes_a_raw_population_graph_that_is_served(population: Path) -> None:
    assert versions(population / GLUCOSE_RESPONSE) == [1, 2, 3, 4]
    model, session = load_model(population / GLUCOSE_RESPONSE)
    assert model.version == 4 and model.config.max_batch_size > 0  # one row per meal: batched
    assert [i.name for i in session.get_inputs()] == list(POPULATION_INPUT_NAMES)
    metadata = ResponseMetadata.from_props(model.metadata)
    assert metadata.person_fields is None and metadata.network is not None
    assert list(metadata.inputs) == list(POPULATION_INPUT_NAMES)
    body = impact_body()
    now = datetime.fromisoformat(body["meal"]["time"])
    body["history"] = [
        {
            "meal": {"time": (now - timedelta(days=d)).isoformat(), "carbs_g": 45},
            "cgm": {
                "unit": "mg/dL",
                "readings": readings(
                    [105.0] * 12 + [105.0 + 90.0 * np.sin(np.pi * min(k, 24) / 48) for k in range(37)],
                    now - timedelta(days=d) + timedelta(minutes=180),
                ),
            },
        }
        for d in (1, 2, 3, 4)
    ]
    with TestClient(create_app(Settings(models_dir=population))) as client:
        wait_ready(client)
        response = client.post("/v1/meals/impact", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == {"name": GLUCOSE_RESPONSE, "version": "4"}
    assert len(answer["explanation"]["contributions"]) == 6  # no "your past responses" factor
    assert answer["calibration"]["n_meals"] == 4  # the past meals calibrate the population curve


def test_a_personal_model_trains_on_a_raw_population_base(population: Path) -> None:
    base = model_path(population / GLUCOSE_RESPONSE, 4)
    _train_personal(base, population)
    model, session = load_model(population / GLUCOSE_RESPONSE)
    assert model.version == 5 and [i.name for i in session.get_inputs()] == list(INPUT_NAMES)
    metadata = ResponseMetadata.from_props(model.metadata)
    base_metadata = ResponseMetadata.from_props({p.key: p.value for p in onnx.load(str(base)).metadata_props})
    assert metadata.population_model is not None
    assert metadata.population_model["weights_sha256"] == base_metadata.weights_sha256
    assert metadata.network is not None and INPUT_FEATURES in metadata.network["inputs"]
