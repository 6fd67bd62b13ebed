"""The baselines a clinician would use, against which every model figure is reported (numpy only).

Forecast: persistence and linear extrapolation of the recent trend. Post-meal response:
persistence (flat at the baseline), the pre-meal trend extrapolated, a carbs-only regression and
the population-average response scaled by carbs (both fitted on training people only).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Linear extrapolation uses the least-squares slope of the readings in this window; extrapolated
# values are held inside the range CGM sensors report, as a clinician reading a trend arrow would.
TREND_FIT_MIN = 30
SENSOR_MIN_MG_DL = 40.0
SENSOR_MAX_MG_DL = 400.0


class BaselineNotFittedError(RuntimeError):
    """`predict` was called before `fit`."""


def persistence(last_mg_dl: npt.NDArray[np.float64], n_points: int) -> npt.NDArray[np.float64]:
    """(N, n_points): the last value held flat."""
    return np.repeat(np.asarray(last_mg_dl, np.float64)[:, None], n_points, axis=1)


def trend_slope_mg_dl_per_min(glucose_mg_dl: npt.ArrayLike, step_min: float) -> npt.NDArray[np.float64]:
    """(N,) least-squares slope over the last TREND_FIT_MIN of each row (N, T) ending now; NaN = gap.

    Rows with fewer than two readings in the window get slope 0 (no trend known).
    """
    k = int(TREND_FIT_MIN // step_min) + 1
    recent = np.asarray(glucose_mg_dl, np.float64)[:, -k:]  # (N, k)
    minutes = np.arange(-(k - 1), 1, dtype=np.float64) * step_min  # (k,)
    ok = np.isfinite(recent)
    n = ok.sum(axis=1)
    t = np.where(ok, minutes, 0.0)
    g = np.where(ok, recent, 0.0)
    mean_t = t.sum(1) / np.maximum(n, 1)
    mean_g = g.sum(1) / np.maximum(n, 1)
    cov = (np.where(ok, (minutes - mean_t[:, None]) * (recent - mean_g[:, None]), 0.0)).sum(1)
    var = (np.where(ok, (minutes - mean_t[:, None]) ** 2, 0.0)).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = cov / var
    return np.where((n >= 2) & (var > 0), slope, 0.0)


def linear_extrapolation(
    history_mg_dl: npt.NDArray[np.float64],
    step_min: float,
    minutes_ahead: npt.NDArray[np.float64],
    start_mg_dl: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """(N, M) the recent trend of `history_mg_dl` (N, T) continued to `minutes_ahead` (M,).

    start_mg_dl: (N,) where the line starts at minute 0, default the last reading of each row.
    """
    history = np.asarray(history_mg_dl, np.float64)
    if start_mg_dl is None:
        start_mg_dl = history[:, -1]
    slope = trend_slope_mg_dl_per_min(history, step_min)  # (N,)
    line = np.asarray(start_mg_dl)[:, None] + slope[:, None] * np.asarray(minutes_ahead, np.float64)[None, :]
    return np.clip(line, SENSOR_MIN_MG_DL, SENSOR_MAX_MG_DL)


class CarbsOnlyRegression:
    """Post-meal change from baseline at each minute = a(t) + b(t) * carbs_g, least squares per minute."""

    def fit(
        self, carbs_g: npt.NDArray[np.float64], change_mg_dl: npt.NDArray[np.float64]
    ) -> CarbsOnlyRegression:
        """carbs_g: (N,); change_mg_dl: (N, M) glucose minus baseline, NaN where not measured."""
        carbs = np.asarray(carbs_g, np.float64)
        change = np.asarray(change_mg_dl, np.float64)
        m = change.shape[1]
        self.intercept_mg_dl_ = np.zeros(m)
        self.slope_mg_dl_per_g_ = np.zeros(m)
        for j in range(m):
            ok = np.isfinite(change[:, j])
            if ok.sum() < 2 or np.ptp(carbs[ok]) == 0:
                self.intercept_mg_dl_[j] = float(np.nanmean(change[:, j])) if ok.any() else 0.0
                continue
            slope, intercept = np.polyfit(carbs[ok], change[ok, j], 1)
            self.slope_mg_dl_per_g_[j], self.intercept_mg_dl_[j] = slope, intercept
        return self

    def predict(
        self, carbs_g: npt.NDArray[np.float64], baseline_mg_dl: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """(N, M) predicted glucose curves."""
        if not hasattr(self, "slope_mg_dl_per_g_"):
            raise BaselineNotFittedError("CarbsOnlyRegression.predict called before fit")
        change = (
            self.intercept_mg_dl_[None, :]
            + np.asarray(carbs_g, np.float64)[:, None] * self.slope_mg_dl_per_g_
        )
        return np.asarray(baseline_mg_dl, np.float64)[:, None] + change


class PopulationAverageResponse:
    """The training people's average change per gram of carbohydrate, times this meal's carbs."""

    def fit(
        self, carbs_g: npt.NDArray[np.float64], change_mg_dl: npt.NDArray[np.float64]
    ) -> PopulationAverageResponse:
        """carbs_g: (N,); change_mg_dl: (N, M), NaN where not measured. A ratio of sums, so small meals
        (whose per-gram ratio is mostly noise) weigh little."""
        carbs = np.asarray(carbs_g, np.float64)
        change = np.asarray(change_mg_dl, np.float64)
        ok = np.isfinite(change)
        total_carbs = np.where(ok, carbs[:, None], 0.0).sum(0)  # (M,)
        total_change = np.where(ok, change, 0.0).sum(0)
        self.change_per_g_mg_dl_ = np.where(
            total_carbs > 0, total_change / np.maximum(total_carbs, 1e-9), 0.0
        )
        return self

    def predict(
        self, carbs_g: npt.NDArray[np.float64], baseline_mg_dl: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        if not hasattr(self, "change_per_g_mg_dl_"):
            raise BaselineNotFittedError("PopulationAverageResponse.predict called before fit")
        carbs = np.asarray(carbs_g, np.float64)
        return (
            np.asarray(baseline_mg_dl, np.float64)[:, None]
            + carbs[:, None] * self.change_per_g_mg_dl_[None, :]
        )


def fill_toward_now(history_mg_dl: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(N, T) with every gap filled by the next later reading (the last column must be a reading)."""
    filled = np.array(history_mg_dl, np.float64)
    for j in range(filled.shape[1] - 2, -1, -1):
        gap = ~np.isfinite(filled[:, j])
        filled[gap, j] = filled[gap, j + 1]
    return filled


class DampedTrend:
    """Forecast baseline: the recent slope continued with damping phi per 5-min step (phi fitted).

    change(h) = slope * step_min * (phi + phi^2 + ... + phi^(h/step_min)); phi = 1 is the linear
    extrapolation, phi = 0 persistence. phi is the grid value with the least squared error on the
    training windows (weighted, e.g. so every cohort counts alike).
    """

    def __init__(self, step_min: float, phis: tuple[float, ...] = tuple(np.arange(0.0, 1.0, 0.02))) -> None:
        self.step_min = step_min
        self.phis = phis

    def _change(
        self, slope: npt.NDArray[np.float64], phi: float, horizons_min: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        steps = np.round(np.asarray(horizons_min) / self.step_min).astype(int)
        gain = np.array([self.step_min * sum(phi**i for i in range(1, k + 1)) for k in steps])
        return slope[:, None] * gain[None, :]

    def fit(
        self,
        history_mg_dl: npt.NDArray[np.float64],
        future_mg_dl: npt.NDArray[np.float64],
        horizons_min: npt.NDArray[np.float64],
        weight: npt.NDArray[np.float64] | None = None,
    ) -> DampedTrend:
        """history (N, T) ending now with NaN gaps; future (N, K) measured at horizons_min (K,)."""
        history = np.asarray(history_mg_dl, np.float64)
        slope = trend_slope_mg_dl_per_min(history, self.step_min)
        change = np.asarray(future_mg_dl, np.float64) - history[:, -1:]
        w = np.ones(history.shape[0]) if weight is None else np.asarray(weight, np.float64)
        errors = [
            float(w @ ((self._change(slope, p, horizons_min) - change) ** 2).mean(1)) for p in self.phis
        ]
        self.phi_ = float(self.phis[int(np.argmin(errors))])
        return self

    def predict(
        self, history_mg_dl: npt.NDArray[np.float64], horizons_min: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        if not hasattr(self, "phi_"):
            raise BaselineNotFittedError("DampedTrend.predict called before fit")
        history = np.asarray(history_mg_dl, np.float64)
        slope = trend_slope_mg_dl_per_min(history, self.step_min)
        line = history[:, -1:] + self._change(slope, self.phi_, horizons_min)
        return np.clip(line, SENSOR_MIN_MG_DL, SENSOR_MAX_MG_DL)


class RecentRidge:
    """Forecast baseline: ridge regression of future glucose on the last readings (gaps filled toward
    now), standardised inputs, one output per horizon; fitted on training people only."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(
        self, history_mg_dl: npt.NDArray[np.float64], future_mg_dl: npt.NDArray[np.float64]
    ) -> RecentRidge:
        x = fill_toward_now(np.asarray(history_mg_dl, np.float64))
        y = np.asarray(future_mg_dl, np.float64)
        self.mean_ = x.mean(0)
        self.std_ = x.std(0) + 1e-6
        z = (x - self.mean_) / self.std_
        self.intercept_ = y.mean(0)
        gram = z.T @ z + self.alpha * np.eye(z.shape[1])
        self.coef_ = np.linalg.solve(gram, z.T @ (y - self.intercept_))
        return self

    def predict(self, history_mg_dl: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if not hasattr(self, "coef_"):
            raise BaselineNotFittedError("RecentRidge.predict called before fit")
        z = (fill_toward_now(np.asarray(history_mg_dl, np.float64)) - self.mean_) / self.std_
        return np.clip(z @ self.coef_ + self.intercept_, SENSOR_MIN_MG_DL, SENSOR_MAX_MG_DL)
