"""The forecast recipe fitted on a few synthetic people, exported, and checked against torch through ORT;
the shipped model's behaviour on fixed traces."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from glucose_model.forecast import HORIZONS_MIN, OUTPUT_GLUCOSE, Forecaster, build_forecast_inputs
from glucose_model.forecast_network import ForecastNetworkConfig
from glucose_model.metrics import held_out_people
from glucose_model.records import DiabetesKind, GlucoseSeries, Meal, Recording
from glucose_model.resample import resample_to_grid
from mealimpact.inference import InferFn
from training.forecast_train import (
    ForecastTrainConfig,
    export_forecast,
    forecast_metadata,
    forecast_windows,
    person_key,
    predict_windows,
    train_forecast,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = REPO_ROOT / "models" / "glucose_forecast"
TZ = timezone(timedelta(hours=2))


def synthetic_recording(person: int, n: int = 600) -> Recording:
    rng = np.random.default_rng(person)
    start = 1_700_000_000 - 1_700_000_000 % 300
    times = start + np.arange(n, dtype=np.int64) * 300
    glucose = 130 + 35 * np.sin(np.arange(n) / 18 + person) + rng.normal(0, 2, n)
    series = GlucoseSeries(times, np.full(n, 120, np.int16), glucose, "synthetic")
    meals = tuple(Meal(datetime.fromtimestamp(int(times[i]), TZ), 40.0 + i % 30) for i in range(50, n, 90))
    return Recording(f"p{person}", series, DiabetesKind.TYPE2, meals, cohort="synthetic")


def ort_infer(session: ort.InferenceSession) -> InferFn:
    def infer(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {OUTPUT_GLUCOSE: session.run([OUTPUT_GLUCOSE], feed)[0]}

    return infer


def test_tiny_training_exports_a_model_that_matches_torch(tmp_path: Path) -> None:
    recordings = [synthetic_recording(p) for p in range(4)]
    config = ForecastTrainConfig(stride_steps=4, network=ForecastNetworkConfig(sensor_noise_mg_dl=(0.0, 3.0)))
    held_out = held_out_people(((r.cohort, person_key(r)) for r in recordings), 0.25, config.seed)
    windows = forecast_windows(recordings, config.stride_steps)
    assert len(held_out) == 1 and len(windows) > 100
    network = train_forecast(windows.subset(~np.isin(windows.person, held_out)), config, show_progress=False)
    metadata = forecast_metadata(network, config, "7", ["synthetic: 4 people"], held_out, {})
    path = export_forecast(network, metadata, tmp_path / "glucose_forecast", windows)

    assert path == tmp_path / "glucose_forecast" / "7" / "model.onnx"
    assert not list(path.parent.glob("*.data")), "weights must be inside the single ONNX file"
    assert (tmp_path / "glucose_forecast" / "config.pbtxt").read_text().count("TYPE_FP32") == 3
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    stored = dict(session.get_modelmeta().custom_metadata_map)
    assert json.loads(stored["held_out_people"]) == held_out
    assert len(json.loads(stored["weights_sha256"])) == 64 and json.loads(stored["kind"]) == "forecast"

    # The serving path (numpy inputs -> ORT -> Forecaster) gives torch's numbers.
    recording = recordings[0]
    forecaster = Forecaster(stored, ort_infer(session))
    result = forecaster.forecast(recording.glucose, recording.meals, kind=recording.kind)
    grid = resample_to_grid(recording.glucose)
    inputs = build_forecast_inputs(grid, np.array([len(grid.series) - 1]), recording.kind)
    with torch.no_grad():
        want = network(torch.from_numpy(inputs.cgm_mg_dl), torch.from_numpy(inputs.diabetes_kind)).numpy()[0]
    got = np.array([[p.low_mg_dl, p.glucose_mg_dl, p.high_mg_dl] for p in result.points])
    np.testing.assert_allclose(got, want, atol=1e-2)
    assert [p.horizon_min for p in result.points] == list(HORIZONS_MIN)
    # The fitted recipe beats persistence on these smooth sine traces (its trend is trustworthy).
    test = windows.subset(np.isin(windows.person, held_out))
    predicted = predict_windows(network, test)[..., 1]
    persistence = np.repeat(test.cgm[:, -1:], len(HORIZONS_MIN), axis=1)
    model_rmse = np.sqrt(np.mean((predicted - test.targets) ** 2))
    assert model_rmse < 0.8 * np.sqrt(np.mean((persistence - test.targets) ** 2))


def test_gaps_and_missing_history_go_through_the_graph(tmp_path: Path) -> None:
    """NaN gaps, a 3-h request and a 24-h one: finite, ordered quantiles, the same in ORT as in torch."""
    recordings = [synthetic_recording(p) for p in range(3)]
    config = ForecastTrainConfig(stride_steps=6, network=ForecastNetworkConfig(sensor_noise_mg_dl=(0.0,)))
    windows = forecast_windows(recordings, config.stride_steps)
    network = train_forecast(windows, config, show_progress=False)
    metadata = forecast_metadata(network, config, "3", ["synthetic: 3 people"], [], {})
    path = export_forecast(network, metadata, tmp_path / "glucose_forecast", windows)
    cgm = windows.cgm[:8].copy()
    cgm[0, :-36] = np.nan  # a 3-h request
    cgm[1, -20:-10] = np.nan  # a 50-min hole
    cgm[2, :-2] = np.nan  # only the last two readings
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    kind = np.array([[0.0], [1.0], [2.0], [3.0], [-1.0], [7.0], [0.0], [3.0]], np.float32)  # 7: unknown too
    got = session.run([OUTPUT_GLUCOSE], {"cgm_mg_dl": cgm, "diabetes_kind": kind})[0]
    with torch.no_grad():
        want = network(torch.from_numpy(cgm), torch.from_numpy(kind)).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=1e-2)
    assert (np.diff(got, axis=-1) >= 0).all()


def test_shipped_model_forecasts_a_steady_trace_as_steady() -> None:
    versions = sorted((p for p in SHIPPED.glob("*/model.onnx")), key=lambda p: int(p.parent.name))
    path = versions[-1] if versions else SHIPPED / "missing" / "model.onnx"
    if not path.is_file():
        pytest.skip(
            f"{path} not built; run `mealimpact train forecast` (see models/glucose_forecast/MODEL_CARD.md)"
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    forecaster = Forecaster(dict(session.get_modelmeta().custom_metadata_map), ort_infer(session))
    start = datetime(2024, 3, 1, 9, 0, tzinfo=TZ)
    times = [start + timedelta(minutes=5 * i) for i in range(36)]
    result = forecaster.forecast(
        GlucoseSeries.from_datetimes(times, np.full(36, 120.0)), kind=DiabetesKind.TYPE1
    )
    for point in result.points:
        assert 95 < point.glucose_mg_dl < 145
        assert point.low_mg_dl <= point.glucose_mg_dl <= point.high_mg_dl
    assert result.alerts == ()
