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
