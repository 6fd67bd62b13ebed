"""The clinician's baselines: persistence, trend extrapolation, carbs-only and population average."""

from __future__ import annotations

import numpy as np
import pytest

from glucose_model.baselines import (
    SENSOR_MAX_MG_DL,
    BaselineNotFittedError,
    CarbsOnlyRegression,
    PopulationAverageResponse,
    linear_extrapolation,
    persistence,
    trend_slope_mg_dl_per_min,
)


def test_persistence_holds_the_last_value() -> None:
    got = persistence(np.array([100.0, 150.0]), 3)
    assert got.tolist() == [[100.0] * 3, [150.0] * 3]


def test_trend_slope_is_exact_on_a_line_and_ignores_gaps() -> None:
    history = 100.0 + 1.5 * np.arange(-35, 1) * 5.0  # rising 1.5 mg/dL/min on a 5-min grid
    history[-3] = np.nan
    assert trend_slope_mg_dl_per_min(history[None, :], 5.0)[0] == pytest.approx(1.5)


def test_trend_slope_is_zero_without_two_readings() -> None:
    history = np.full((1, 10), np.nan)
    history[0, -1] = 120.0
    assert trend_slope_mg_dl_per_min(history, 5.0)[0] == 0.0


def test_linear_extrapolation_continues_the_line_and_stays_in_sensor_range() -> None:
    history = np.stack([100.0 + 1.0 * np.arange(-6, 1) * 5.0, 300.0 + 4.0 * np.arange(-6, 1) * 5.0])
    got = linear_extrapolation(history, 5.0, np.array([15.0, 60.0]))
    assert got[0].tolist() == pytest.approx([115.0, 160.0])
    assert got[1, 1] == SENSOR_MAX_MG_DL


def test_carbs_regression_recovers_a_linear_response() -> None:
    carbs = np.array([10.0, 30.0, 60.0, 90.0])
    change = np.stack([5.0 + 0.5 * carbs, 2.0 + 1.0 * carbs], axis=1)  # (N, 2)
    model = CarbsOnlyRegression().fit(carbs, change)
    assert model.slope_mg_dl_per_g_ == pytest.approx([0.5, 1.0])
    assert model.predict(np.array([40.0]), np.array([100.0]))[0] == pytest.approx([125.0, 142.0])


def test_population_average_is_a_ratio_of_sums_and_skips_gaps() -> None:
    carbs = np.array([20.0, 60.0])
    change = np.array([[10.0, np.nan], [50.0, 30.0]])
    model = PopulationAverageResponse().fit(carbs, change)
    assert model.change_per_g_mg_dl_ == pytest.approx([60.0 / 80.0, 30.0 / 60.0])
    assert model.predict(np.array([0.0]), np.array([90.0]))[0] == pytest.approx([90.0, 90.0])


@pytest.mark.parametrize("model", [CarbsOnlyRegression(), PopulationAverageResponse()])
def test_unfitted_baselines_refuse_to_predict(model: CarbsOnlyRegression | PopulationAverageResponse) -> None:
    with pytest.raises(BaselineNotFittedError):
        model.predict(np.array([50.0]), np.array([100.0]))


def test_damped_trend_fits_phi_between_persistence_and_the_line() -> None:
    from glucose_model.baselines import DampedTrend

    minutes = np.array([15.0, 30.0])
    history = 100 + np.arange(36, dtype=np.float64)[None, :].repeat(50, 0)  # +1 mg/dL per 5 min
    on_the_line = history[:, -1:] + minutes[None, :] / 5.0
    fitted = DampedTrend(5.0).fit(history, on_the_line, minutes)
    assert fitted.phi_ > 0.9  # the trend carried on: little damping
    flat = DampedTrend(5.0).fit(history, np.repeat(history[:, -1:], 2, axis=1), minutes)
    assert flat.phi_ == 0.0  # it stopped: persistence
    np.testing.assert_allclose(flat.predict(history, minutes), history[:, -1:].repeat(2, 1))
    with pytest.raises(BaselineNotFittedError):
        DampedTrend(5.0).predict(history, minutes)


def test_recent_ridge_fills_gaps_toward_now_and_learns_a_linear_rule() -> None:
    from glucose_model.baselines import RecentRidge, fill_toward_now

    gappy = np.array([[np.nan, 100.0, np.nan, np.nan, 110.0]])
    np.testing.assert_array_equal(fill_toward_now(gappy), [[100.0, 100.0, 110.0, 110.0, 110.0]])
    rng = np.random.default_rng(0)
    history = 150 + rng.normal(0, 15, (400, 6))
    future = 2 * history[:, -1:] - history[:, -2:-1]  # one step of the last difference
    model = RecentRidge(alpha=1e-3).fit(history, future)
    assert np.abs(model.predict(history) - future).max() < 1.0
    with pytest.raises(BaselineNotFittedError):
        RecentRidge().predict(history)
