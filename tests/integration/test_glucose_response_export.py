"""A tiny response model trained for a few steps, exported to ONNX, checked against torch, and served."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import torch

from glucose_model.explanation import N_COALITIONS
from glucose_model.features import FEATURE_NAMES, MealContext
from glucose_model.impact import ResponsePredictor
from glucose_model.metrics import held_out_rows
from glucose_model.records import DiabetesKind, GlucoseSeries, InsulinDose, Meal, Recording
from glucose_model.response_network import NetworkConfig
from mealimpact.model_repository.layout import next_version
from training.glucose_export import MODEL_NAME, OUTPUT_NAMES, export_response, response_metadata
from training.glucose_train import TrainConfig, meal_examples, train_glucose

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TZ = timezone(timedelta(hours=8))
TINY = TrainConfig(pretrain_epochs=2, adapt_epochs=2, batch_size=16, network=NetworkConfig(4, 8, 16))


def person(index: int, kind: DiabetesKind, cohort: str) -> Recording:
    """One day of 5-min CGM with three meals whose rise is proportional to their carbohydrate."""
    start = datetime(2025, 4, 1, 5, 0, tzinfo=TZ) + timedelta(days=index)
    minutes = np.arange(0, 18 * 60, 5)
    meals = [Meal(start + timedelta(hours=h), c) for h, c in ((3, 40.0 + 5 * index), (8, 80.0), (13, 25.0))]
    glucose = np.full(minutes.shape, 110.0 + 5 * index)
    for meal in meals:
        t = minutes - (meal.time - start).total_seconds() / 60
        glucose += np.where(t > 0, meal.carbs_g * 0.9 * (t / 45) * np.exp(1 - t / 45), 0.0)
    series = GlucoseSeries.from_datetimes([start + timedelta(minutes=int(m)) for m in minutes], glucose)
    insulin = (InsulinDose(meals[0].time, 4.0),) if kind is DiabetesKind.TYPE1 else ()
    return Recording(f"p{index}", series, kind, meals=tuple(meals), insulin=insulin, cohort=cohort)


@pytest.fixture(scope="module")
def trained() -> tuple[object, ...]:
    torch.set_num_threads(1)
    simulated = [person(i, DiabetesKind.NONE, "simulated") for i in range(3)]
    real = [person(i, k, "cohort") for i, k in enumerate([DiabetesKind.TYPE2, DiabetesKind.TYPE1] * 3)]
    return train_glucose(simulated, real, TINY), real


def test_training_splits_by_person_and_reports_baselines(trained: tuple[object, ...]) -> None:
    result, real = trained
    examples = meal_examples(real)  # type: ignore[arg-type]
    assert len(examples) == 18
    held = held_out_rows(examples.person, TINY.held_out_fraction, TINY.seed)
    assert set(examples.person[held]).isdisjoint(set(examples.person[~held]))
    metrics = result.metrics["held_out"]["all"]  # type: ignore[attr-defined]
    assert {"model", "persistence", "carbs_only_regression", "population_average_by_carbs"} <= set(metrics)
    assert metrics["model"]["meals"] == float(len(result.test))  # type: ignore[attr-defined]


def test_export_matches_torch_and_carries_its_contract(trained: tuple[object, ...], tmp_path: Path) -> None:
    result, _ = trained
    model_dir = tmp_path / MODEL_NAME
    version = next_version(model_dir)
    metadata = response_metadata(
        result.network,
        TINY,
        version,
        {"simulated": "test"},
        result.held_out_people,
        result.metrics,  # type: ignore[attr-defined]
    )
    path = export_response(result.network, metadata, model_dir, check=result.test.inputs)  # type: ignore[attr-defined]
    assert path == model_dir / "1" / "model.onnx" and next_version(model_dir) == 2
    assert not list(path.parent.glob("*.data"))  # one file, no external weights
    model = onnx.load(str(path))
    assert model.opset_import[0].version >= 17
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["feature_names"]) == list(FEATURE_NAMES)
    assert json.loads(props["parameters"]) < 1_000_000
    assert "weights_sha256" in props and "reference_meal" in props
    assert 'platform: "onnxruntime_onnx"' in (model_dir / "config.pbtxt").read_text()

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 70):  # the dynamic batch: one meal, one full impact request
        feed = {k: np.repeat(v[:1], batch, axis=0) for k, v in result.test.inputs.as_feed().items()}  # type: ignore[attr-defined]
        got = session.run(list(OUTPUT_NAMES), feed)
        with torch.no_grad():
            want = result.network(*(torch.from_numpy(feed[k]) for k in feed))  # type: ignore[attr-defined]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w.numpy(), atol=1e-3)

    calls: list[int] = []

    def infer(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(next(iter(feed.values())).shape[0])
        return dict(zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), feed), strict=True))

    predictor = ResponsePredictor(props, infer)
    meal_time = datetime(2025, 5, 1, 12, 0, tzinfo=TZ)
    times = [meal_time - timedelta(minutes=5 * i) for i in range(36, -1, -1)]
    context = MealContext(
        Meal(meal_time, 60.0, carbs_p10_g=45.0, carbs_p90_g=80.0),
        GlucoseSeries.from_datetimes(times, np.full(len(times), 125.0)),
        DiabetesKind.TYPE2,
    )
    impact = predictor.impact(context)
    # 3 what-ifs; fibre and walk not given: 2 "as eaten" rows; the photo interval: 2 rows
    assert calls == [N_COALITIONS + 3 + 2 + 2]
    e = impact.explanation
    assert sum(c.peak_rise_mg_dl for c in e.contributions) == pytest.approx(
        e.predicted_peak_rise_mg_dl - e.reference_peak_rise_mg_dl, abs=1e-4
    )
    assert impact.model_version == "1"
