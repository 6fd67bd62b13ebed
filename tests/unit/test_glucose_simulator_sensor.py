"""The CGM sensor model: error size like current sensors, reporting range, whole mg/dL."""

from __future__ import annotations

import numpy as np

from glucose_model.simulator.sensor import SENSOR_RANGE_MG_DL, cgm_readings


def test_mard_against_the_true_glucose_is_like_current_sensors() -> None:
    """MARD 6-12 % against the interstitial value for a day of 200 sensors (the lag adds ~1 point vs plasma).

    Current sensors report 8-10 % against plasma (Dexcom G6 9.0 %, Libre 2 9.2 %); against
    interstitial glucose, without the lag, the noise alone should give a little less.
    """
    rng = np.random.default_rng(0)
    truth = 120.0 + 50.0 * np.sin(np.linspace(0, 12, 288))[None, :] * np.ones((200, 1))
    readings = cgm_readings(truth, rng)
    mard = float(np.mean(np.abs(readings - truth) / truth))
    assert 0.06 <= mard <= 0.12


def test_noise_is_serially_correlated_like_real_sensor_error() -> None:
    """Breton & Kovatchev 2008: sensor errors are correlated over 5-min readings (lag-1 ~0.7)."""
    truth = np.full((300, 288), 150.0)
    error = cgm_readings(truth, np.random.default_rng(1)) - truth
    error -= error.mean(axis=1, keepdims=True)  # remove each sensor's calibration offset
    lag1 = np.mean(error[:, 1:] * error[:, :-1]) / np.mean(error * error)
    assert 0.4 < lag1 < 0.9


def test_readings_are_whole_and_within_what_sensors_report() -> None:
    truth = np.array([[10.0, 39.0, 100.0, 450.0, 700.0]])
    readings = cgm_readings(truth, np.random.default_rng(2))
    low, high = SENSOR_RANGE_MG_DL
    assert np.all((readings >= low) & (readings <= high))
    assert np.array_equal(readings, np.round(readings))
    assert readings[0, 0] == low and readings[0, -1] == high


def test_sensor_variety_spans_smooth_to_noisy_traces() -> None:
    """Each profile's short-term roughness (RMS of second differences) orders as its noise and
    smoothing say: filtered < smoothed < raw < noisy; all within the sensor range, whole mg/dL."""
    from glucose_model.simulator.sensor import SENSOR_VARIETY, varied_cgm_readings

    truth = np.tile(130.0 + 30.0 * np.sin(np.linspace(0, 6, 288)), (4 * len(SENSOR_VARIETY), 1))
    readings = varied_cgm_readings(truth, np.random.default_rng(3))
    rough = np.sqrt((np.diff(readings, 2, axis=1) ** 2).mean(axis=1))  # (P,)
    by_profile = {p.name: rough[i :: len(SENSOR_VARIETY)].mean() for i, p in enumerate(SENSOR_VARIETY)}
    assert by_profile["filtered"] < by_profile["smoothed"] < by_profile["raw"] < by_profile["noisy"]
    low, high = SENSOR_RANGE_MG_DL
    assert np.all((readings >= low) & (readings <= high)) and np.array_equal(readings, np.round(readings))
