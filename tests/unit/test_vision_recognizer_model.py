"""The in-graph nutrition head: log-normal mixture quantiles and the food/non-food score."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
import torch

from vision.recognizer_model import (
    NutritionHead,
    RecognizerCalibration,
    RecognizerConfigError,
    feature_matrix,
)
from vision.taxonomy import FoodClass


def _food(name: str, role: str, carbs: float, kcal: float, portion_g: float, gsd: float) -> FoodClass:
    return FoodClass(
        name, "mixed_plates", role, None, carbs, 0.0, 0.0, 0.0, 0.0, kcal, portion_g, gsd, "test", ("x",)
    )


FOODS = (
    _food("rice", "food", 28.0, 130.0, 200.0, 1.5),
    _food("steak", "food", 0.0, 250.0, 200.0, 1.5),
    _food("cola", "drink", 10.0, 42.0, 330.0, 1.2),
    _food("plate", "setting", 16.0, 160.0, 350.0, 2.0),
)


def _head(**calibration: float) -> NutritionHead:
    return NutritionHead(FOODS, RecognizerCalibration(**calibration))  # type: ignore[arg-type]


def _run(head: NutritionHead, probabilities: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with torch.no_grad():
        food, carbs, kcal = head(torch.tensor(probabilities, dtype=torch.float32))
    return food.numpy(), carbs.numpy(), kcal.numpy()


def test_single_class_gives_the_log_normal_quantiles() -> None:
    _, carbs, _ = _run(_head(), [[1.0, 0.0, 0.0, 0.0]])
    median = 0.28 * 200.0
    z = NormalDist().inv_cdf(0.9)
    expected = [median * math.exp(-z * math.log(1.5)), median, median * math.exp(z * math.log(1.5))]
    np.testing.assert_allclose(carbs[0], expected, rtol=0.015)


def test_mixture_quantiles_match_sampling() -> None:
    probabilities = [0.5, 0.05, 0.15, 0.3]  # no quantile on a flat stretch of the CDF
    _, carbs, _ = _run(_head(extra_log_sd=0.2), [probabilities])
    rng = np.random.default_rng(0)
    medians = np.array([0.28 * 200, 0.0005 * 200, 0.10 * 330, 0.16 * 350])
    sds = np.sqrt(np.log([1.5, 1.5, 1.2, 2.0]) ** 2 + 0.2**2)
    component = rng.choice(4, size=400_000, p=probabilities)
    samples = medians[component] * np.exp(sds[component] * rng.standard_normal(component.size))
    np.testing.assert_allclose(carbs[0], np.quantile(samples, [0.1, 0.5, 0.9]), rtol=0.03)


def test_probabilities_are_renormalised_over_the_taxonomy() -> None:
    _, a, _ = _run(_head(), [[0.6, 0.0, 0.0, 0.2]])
    _, b, _ = _run(_head(), [[0.3, 0.0, 0.0, 0.1]])
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_portion_scale_scales_every_quantile() -> None:
    _, carbs1, kcal1 = _run(_head(), [[0.4, 0.2, 0.1, 0.3]])
    _, carbs2, kcal2 = _run(_head(portion_scale=2.0), [[0.4, 0.2, 0.1, 0.3]])
    np.testing.assert_allclose(carbs2, 2 * carbs1, rtol=0.02)
    np.testing.assert_allclose(kcal2, 2 * kcal1, rtol=0.02)


def test_quantiles_are_ordered_and_widen_with_extra_spread() -> None:
    _, narrow, _ = _run(_head(), [[0.4, 0.2, 0.1, 0.3]])
    _, wide, _ = _run(_head(extra_log_sd=0.5), [[0.4, 0.2, 0.1, 0.3]])
    assert narrow[0, 0] < narrow[0, 1] < narrow[0, 2]
    assert wide[0, 2] / wide[0, 0] > narrow[0, 2] / narrow[0, 0]


def test_food_probability_rises_with_edible_mass() -> None:
    head = _head(food_weights=(2.0, 1.0), food_bias=3.0)
    food, _, _ = _run(head, [[0.001, 0.0, 0.0, 0.0], [0.3, 0.0, 0.0, 0.0], [0.9, 0.0, 0.05, 0.0]])
    assert food[0] < food[1] < food[2]


def test_feature_matrix_groups_food_with_drink_and_settings_apart() -> None:
    matrix = feature_matrix(FOODS).numpy()
    np.testing.assert_array_equal(matrix, [[1, 0], [1, 0], [1, 0], [0, 1]])


def test_bad_calibration_is_refused() -> None:
    with pytest.raises(RecognizerConfigError, match="food_weights"):
        RecognizerCalibration(food_weights=(1.0, 2.0, 3.0))
    with pytest.raises(RecognizerConfigError, match="portion_scale"):
        RecognizerCalibration(portion_scale=0.0)
