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
