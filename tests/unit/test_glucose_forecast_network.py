"""The forecast graph's own feature code: nan-safe, a flat trace forecast flat, slopes in mg/dL/min."""

from __future__ import annotations

import numpy as np
import torch

from glucose_model.forecast import CGM_STEPS, HORIZONS_MIN, QUANTILES
from glucose_model.forecast_network import FEATURES, SCALE_FEATURES, ForecastFeatures, ForecastNetwork


def trace(values: np.ndarray) -> torch.Tensor:
    row = np.full(CGM_STEPS, np.nan, np.float32)
    row[-len(values) :] = values
    return torch.from_numpy(row[None, :])


def test_a_flat_trace_has_all_change_features_zero_and_is_forecast_flat() -> None:
    network = ForecastNetwork()
    with torch.no_grad():
        network.change.weight.normal_()  # any fitted weights
        features, _ = network.features(trace(np.full(36, 97.0)))
        out = network(trace(np.full(36, 97.0)), torch.tensor([[2.0]]))
    assert features.shape == (1, len(FEATURES)) and torch.all(features == 0)
    assert out.shape == (1, len(HORIZONS_MIN), len(QUANTILES))
    torch.testing.assert_close(out[0, :, 1], torch.full((len(HORIZONS_MIN),), 97.0))


def test_slopes_noise_and_gaps() -> None:
    ramp = 100.0 + 2.0 * np.arange(36, dtype=np.float32)  # +2 mg/dL per 5 min = 0.4 mg/dL/min
    ramp[10:15] = np.nan  # a gap older than the last hour
    features, scale = ForecastFeatures()(trace(ramp))
    named = dict(zip(FEATURES, features[0].tolist(), strict=True))
    scales = dict(zip(SCALE_FEATURES, scale[0].tolist(), strict=True))
    assert abs(named["slope_15min"] - 0.4) < 1e-4 and abs(named["slope_30min"] - 0.4) < 1e-4
    assert abs(named["acceleration"]) < 1e-4
    assert scales["noise_1h"] < 1e-4  # a straight line has no second differences
    assert np.isfinite(features.numpy()).all() and np.isfinite(scale.numpy()).all()
    assert named["relative_0min"] == 0.0 and abs(named["relative_-5min"] + 2.0) < 1e-4


def test_only_the_last_reading_still_gives_finite_features() -> None:
    features, scale = ForecastFeatures()(trace(np.array([140.0], np.float32)))
    assert np.isfinite(features.numpy()).all() and np.isfinite(scale.numpy()).all()
    assert torch.all(features == 0)
