"""training.glucose_train.curve_mae: the error of the whole median curve, per meal then over meals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.glucose_train import curve_mae


def test_each_meal_counts_once_whatever_its_measured_minutes() -> None:
    measured = np.full((2, 37), np.nan)
    measured[0, :] = 10.0  # every minute measured, error 10 after minute 0
    measured[1, :3] = 0.0  # minutes 0-10 only, error 4 at 5 and 10
    predicted = np.zeros((2, 37))
    predicted[1, :] = 4.0
    predicted[0, 0] = 99.0  # minute 0 is the baseline: never scored
    assert curve_mae(predicted, measured) == pytest.approx((10.0 + 4.0) / 2)


def test_meals_without_a_measured_minute_are_not_scored() -> None:
    measured = np.full((2, 37), np.nan)
    measured[0, 1:] = 6.0
    assert curve_mae(np.zeros((2, 37)), measured) == pytest.approx(6.0)
    assert math.isnan(curve_mae(np.zeros((1, 37)), np.full((1, 37), np.nan)))
