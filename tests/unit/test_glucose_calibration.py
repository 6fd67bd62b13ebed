"""Personal calibration: ridge toward identity, leave-one-out evidence, applied only when it helps."""

from __future__ import annotations

import numpy as np
import pytest

from glucose_model.calibration import MIN_MEALS_TO_APPLY, RiseAdjustment, calibrate, fit_adjustment

SHAPE = np.sin(np.linspace(0, np.pi, 37))  # (37,) a rise and fall over 3 h


def curves(peaks_mg_dl: list[float]) -> np.ndarray:
    return np.array(peaks_mg_dl)[:, None] * SHAPE[None, :]  # (M, 37)


def test_many_meals_recover_the_persons_scale_and_offset() -> None:
    predicted = curves(list(np.linspace(20, 80, 400)))
    adjustment = fit_adjustment(predicted, 1.5 * predicted + 10.0)
    assert adjustment.scale == pytest.approx(1.5, abs=0.05)  # 400 meals outweigh the prior
    assert adjustment.offset_mg_dl == pytest.approx(10.0, abs=2.0)


def test_few_meals_are_pulled_toward_identity() -> None:
    predicted = curves([40.0])
    adjustment = fit_adjustment(predicted, 2.0 * predicted)
    assert 1.0 < adjustment.scale < 2.0


def test_no_measurement_leaves_the_prediction_alone() -> None:
    predicted = curves([40.0, 50.0])
    assert fit_adjustment(predicted, np.full_like(predicted, np.nan)) == RiseAdjustment()


def test_a_person_who_responds_twice_as_much_gets_a_better_held_out_error() -> None:
    predicted = curves([30.0, 45.0, 60.0, 35.0, 50.0, 40.0] * 2)
    report = calibrate(predicted, 2.0 * predicted)
    assert report.applied
    assert report.loo_peak_rise_mae_after_mg_dl < report.loo_peak_rise_mae_before_mg_dl  # type: ignore[operator]
    assert report.adjustment.scale > 1.3


def test_a_person_the_model_already_fits_is_not_adjusted() -> None:
    predicted = curves([30.0, 45.0, 60.0, 35.0])
    report = calibrate(predicted, predicted.copy())
    assert not report.applied
    assert report.loo_peak_rise_mae_before_mg_dl == pytest.approx(0.0, abs=1e-9)


def test_too_few_meals_are_reported_but_not_applied() -> None:
    predicted = curves([30.0] * (MIN_MEALS_TO_APPLY - 1))
    report = calibrate(predicted, 3.0 * predicted)
    assert not report.applied and "at least" in report.reason
    assert report.n_meals == MIN_MEALS_TO_APPLY - 1
