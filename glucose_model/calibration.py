"""Personal calibration: a per-person scale and offset of the predicted rise, fitted on past meals.

The app sends the person's past meals with their measured curves on each request; nothing is stored.
The fit is ridge-regularised toward identity (as if PRIOR_MEALS extra meals had matched the model
exactly), so a few meals move it only a little; it is used only when leave-one-out over the
person's own past meals says it helps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from glucose_model.metrics import measured_peak_rise

# Strength of the pull toward scale 1, offset 0, in meals. Strong on purpose: one person's meal
# responses are noisy (carbs logged as free text, 15-min sensors), and on Shanghai people weaker
# priors (1-6 meals) made later meals worse (MODEL_CARD.md, "Personal calibration").
PRIOR_MEALS = 12.0
MIN_MEALS_TO_APPLY = 3  # fewer past meals: report, but do not adjust
SCALE_LIMITS = (0.25, 4.0)


@dataclass(frozen=True)
class RiseAdjustment:
    """measured rise ~= scale * predicted rise + offset_mg_dl."""

    scale: float = 1.0
    offset_mg_dl: float = 0.0

    def apply(self, rise_mg_dl: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return self.scale * rise_mg_dl + self.offset_mg_dl


@dataclass(frozen=True)
class CalibrationReport:
    """What the past meals said, and whether the adjustment is used."""

    n_meals: int
    adjustment: RiseAdjustment
    applied: bool
    reason: str
    # Leave-one-out over the past meals: each meal predicted from an adjustment fitted on the others.
    loo_peak_rise_mae_before_mg_dl: float | None
    loo_peak_rise_mae_after_mg_dl: float | None


def fit_adjustment(
    predicted_rise_mg_dl: npt.NDArray[np.float64], measured_rise_mg_dl: npt.NDArray[np.float64]
) -> RiseAdjustment:
    """Ridge fit of (M, T) measured on predicted curves (NaN = no measurement), toward identity."""
    valid = np.isfinite(measured_rise_mg_dl) & np.isfinite(predicted_rise_mg_dl)
    x, y = predicted_rise_mg_dl[valid], measured_rise_mg_dl[valid]
    if x.size == 0:
        return RiseAdjustment()
    points_per_meal = x.size / max(predicted_rise_mg_dl.shape[0], 1)
    w = PRIOR_MEALS * points_per_meal  # pseudo-points at identity
    m2 = float(np.mean(x * x)) + 1.0  # puts the scale penalty in the same units as the offset's
    # Normal equations of sum (y - a x - b)^2 + w (m2 (a - 1)^2 + b^2).
    lhs = np.array([[np.sum(x * x) + w * m2, np.sum(x)], [np.sum(x), x.size + w]])
    rhs = np.array([np.sum(x * y) + w * m2, np.sum(y)])
    scale, offset = np.linalg.solve(lhs, rhs)
    return RiseAdjustment(float(np.clip(scale, *SCALE_LIMITS)), float(offset))


def calibrate(
    predicted_rise_mg_dl: npt.NDArray[np.float64], measured_rise_mg_dl: npt.NDArray[np.float64]
) -> CalibrationReport:
    """Fit on all (M, 37) past meals, and measure by leave-one-out whether it helps this person."""
    n = predicted_rise_mg_dl.shape[0]
    adjustment = fit_adjustment(predicted_rise_mg_dl, measured_rise_mg_dl)
    if n < 2:
        return CalibrationReport(n, adjustment, False, "needs at least 2 past meals to test", None, None)
    measured_peak = measured_peak_rise(measured_rise_mg_dl)
    before, after = [], []
    for j in range(n):
        others = np.arange(n) != j
        held_out = fit_adjustment(predicted_rise_mg_dl[others], measured_rise_mg_dl[others])
        before.append(abs(float(measured_peak_rise(predicted_rise_mg_dl[j : j + 1])[0]) - measured_peak[j]))
        adjusted = held_out.apply(predicted_rise_mg_dl[j : j + 1])
        after.append(abs(float(measured_peak_rise(adjusted)[0]) - measured_peak[j]))
    mae_before, mae_after = float(np.mean(before)), float(np.mean(after))
    if n < MIN_MEALS_TO_APPLY:
        applied, reason = False, f"needs at least {MIN_MEALS_TO_APPLY} past meals to adjust"
    elif mae_after >= mae_before:
        applied, reason = False, "did not improve this person's held-out meals"
    else:
        applied, reason = True, "improved this person's held-out meals"
    return CalibrationReport(n, adjustment, applied, reason, mae_before, mae_after)
