"""The forecast's honest tests: people it never saw, and cohorts it never saw (leave-one-cohort-out),
beside persistence, linear extrapolation, a damped trend and a ridge on the last 3 h fitted on the
same training data in the same run; errors, Clarke zones, band coverage and alert quality.

`training/glucose_evaluate.py` calls this for `mealimpact evaluate glucose`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from glucose_model.baselines import trend_slope_mg_dl_per_min
from glucose_model.clarke import zone_percentages
from glucose_model.forecast import HISTORY_STEPS, HORIZONS_MIN, LOW_ALERT_WITHIN_MIN
from glucose_model.forecast_network import ForecastNetwork
from glucose_model.metrics import HIGH_ABOVE_MG_DL, LOW_BELOW_MG_DL
from glucose_model.records import Recording
from glucose_model.resample import GRID_STEP_MIN
from training.forecast_train import (
    ForecastTrainConfig,
    WindowSet,
    baseline_forecasts,
    fit_from_copies,
    forecast_windows,
    predict_windows,
    training_copies,
)

logger = logging.getLogger(__name__)

EVAL_MINUTES = (30, 60)
# The real cohorts a forecast is judged on, one per population and sensor. D1NAMO's CGM is the
# Dubosson cohort's (same people, same sensor), so D1NAMO is not a cohort of its own here.
FORECAST_COHORTS = ("shanghai_t1dm", "shanghai_t2dm", "weinstock", "dubosson", "colas")
BASELINES = ("persistence", "linear", "damped_trend", "ridge_3h")
ALERTS = {
    "low": (LOW_BELOW_MG_DL, True),  # below 70 within 30 min
    "high": (HIGH_ABOVE_MG_DL, False),  # above 180 within 30 min
}
ALERT_WITHIN_MIN = LOW_ALERT_WITHIN_MIN  # both alerts look this far ahead in this table
BAND_TARGET = (0.75, 0.85)  # 10-90 % band coverage every cohort should reach


def point_scores(predicted: npt.NDArray[np.float64], targets: npt.NDArray[np.float32]) -> dict[str, object]:
    """RMSE, MAE (mg/dL) and Clarke zones (%) at EVAL_MINUTES of (N, K) forecasts."""
    scores: dict[str, object] = {}
    for minute in EVAL_MINUTES:
        k = HORIZONS_MIN.index(minute)
        error = predicted[:, k] - targets[:, k]
        scores[f"rmse_{minute}min_mg_dl"] = float(np.sqrt(np.mean(error**2)))
        scores[f"mae_{minute}min_mg_dl"] = float(np.mean(np.abs(error)))
        zones = zone_percentages(targets[:, k], predicted[:, k])
        scores[f"clarke_{minute}min_percent"] = zones
        scores[f"clarke_ab_{minute}min_percent"] = float(zones["A"] + zones["B"])
    return scores


def alert_scores(
    current_mg_dl: npt.NDArray[np.float64],
    predicted: npt.NDArray[np.float64],
    targets: npt.NDArray[np.float32],
    threshold_mg_dl: float,
    below: bool,
) -> dict[str, float | int | None]:
    """Precision, recall and lead time of "crosses `threshold` within ALERT_WITHIN_MIN" warnings.

    Judged on origins not already past the threshold (an alert there is the CGM's own, not a
    forecast's). An event: a measured value past the threshold at a horizon within the window.
    Lead time: the minutes from the alert to the first measured value past it, over hits.
    """
    ahead = [k for k, h in enumerate(HORIZONS_MIN) if h <= ALERT_WITHIN_MIN]
    horizons = np.array(HORIZONS_MIN, np.float64)[ahead]

    def past(x: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        return x < threshold_mg_dl if below else x > threshold_mg_dl

    eligible = ~past(current_mg_dl)
    measured = past(targets[eligible][:, ahead].astype(np.float64))  # (n, A)
    warned = past(predicted[eligible][:, ahead]).any(axis=1)  # (n,)
    event = measured.any(axis=1)
    hits = warned & event
    first = np.where(measured.any(axis=1), horizons[np.argmax(measured, axis=1)], np.nan)
    return {
        "origins": int(eligible.sum()),
        "events": int(event.sum()),
        "alerts": int(warned.sum()),
        "precision": float(hits.sum() / warned.sum()) if warned.any() else None,
        "recall": float(hits.sum() / event.sum()) if event.any() else None,
        "lead_time_min": float(np.nanmean(first[hits])) if hits.any() else None,
    }


def cgm_trend_forecast(cgm: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """(N, K): what a CGM's own trend arrow implies, the last 15 min's slope from the last reading.

    The "CGM alone" alert (a receiver's predictive alert) is this crossing the threshold."""
    recent = cgm[:, -4:].astype(np.float64)  # (N, 4) the last 15 min
    # The shared slope reads the last TREND_FIT_MIN (30 min); NaN before the last 15 min leaves those out.
    padded = np.concatenate([np.full((recent.shape[0], HISTORY_STEPS), np.nan), recent], axis=1)
    slope = trend_slope_mg_dl_per_min(padded, GRID_STEP_MIN)
    return recent[:, -1:] + slope[:, None] * np.array(HORIZONS_MIN, np.float64)[None, :]


@dataclass
class ForecastComparison:
    """One test set: its windows, the model's quantiles (N, K, Q) and every baseline's (N, K)."""

    test: WindowSet
    quantiles: npt.NDArray[np.float32]
    baselines: dict[str, npt.NDArray[np.float64]]


def compare(network: torch.nn.Module, train: WindowSet, test: WindowSet) -> ForecastComparison:
    """The model's forecasts of `test` beside the baselines fitted on `train`."""
    return ForecastComparison(test, predict_windows(network, test), baseline_forecasts(train, test))


def comparison_figures(comparison: ForecastComparison) -> dict[str, object]:
    """Scores of the model and the baselines, band coverage, alerts, and where the model loses."""
    test, q = comparison.test, comparison.quantiles
    median = q[..., q.shape[-1] // 2].astype(np.float64)
    out: dict[str, object] = {
        "windows": len(test),
        "people": len(set(test.person.tolist())),
        "model": point_scores(median, test.targets),
    }
    for name, values in comparison.baselines.items():
        out[name] = point_scores(values, test.targets)
    model = out["model"]
    assert isinstance(model, dict)
    for name in comparison.baselines:
        other = out[name]
        assert isinstance(other, dict)
        for minute in EVAL_MINUTES:
            key = f"rmse_{minute}min_mg_dl"
            out[f"skill_vs_{name}_{minute}min"] = 1.0 - float(model[key]) / float(other[key])
    inside = (test.targets >= q[..., 0]) & (test.targets <= q[..., -1])
    out["band_10_90_coverage_by_horizon"] = {
        str(h): float(inside[:, k].mean()) for k, h in enumerate(HORIZONS_MIN)
    }
    current = test.cgm[:, -1].astype(np.float64)
    trend = cgm_trend_forecast(test.cgm)
    out["alerts"] = {
        name: {
            "model": alert_scores(current, median, test.targets, threshold, below),
            # The band's near edge (p10 for lows, p90 for highs): an alert that trades precision for recall.
            "model_band": alert_scores(
                current, q[..., 0 if below else -1].astype(np.float64), test.targets, threshold, below
            ),
            "persistence": alert_scores(
                current, comparison.baselines["persistence"], test.targets, threshold, below
            ),
            "cgm_trend": alert_scores(current, trend, test.targets, threshold, below),
        }
        for name, (threshold, below) in ALERTS.items()
    }
    out["model_does_not_beat"] = losses(out)
    return out


def losses(figures: dict[str, object]) -> list[str]:
    """Every (error, baseline) where the model's RMSE or MAE is not below the baseline's, in words."""
    model = figures["model"]
    assert isinstance(model, dict)
    lost = []
    for name in BASELINES:
        other = figures.get(name)
        if not isinstance(other, dict):
            continue
        for minute in EVAL_MINUTES:
            for metric in (f"rmse_{minute}min_mg_dl", f"mae_{minute}min_mg_dl"):
                if model[metric] >= other[metric]:
                    lost.append(f"{metric}: model {model[metric]:.2f} vs {name} {other[metric]:.2f}")
    return lost


def cohort_windows(recordings: Sequence[Recording], stride_steps: int) -> dict[str, WindowSet]:
    """Forecast windows of each FORECAST_COHORTS cohort present in `recordings`."""
    out = {}
    for cohort in FORECAST_COHORTS:
        mine = [r for r in recordings if r.cohort == cohort]
        windows = forecast_windows(mine, stride_steps)
        if len(windows):
            out[cohort] = windows
    return out


def leave_one_cohort_out(
    windows: dict[str, WindowSet], config: ForecastTrainConfig
) -> dict[str, dict[str, object]]:
    """For every cohort X: the model's recipe and the fitted baselines trained on all other cohorts,
    then scored on every person of X. The honest test of a new sensor or population."""
    if len(windows) < 2:
        return {}
    everyone = WindowSet.concatenate(list(windows.values()))
    shell = ForecastNetwork(config.network)
    torch.set_num_threads(1)
    copies = training_copies(shell, everyone, config)  # the features once; each fold drops a cohort
    out = {}
    for cohort, test in windows.items():
        network = fit_from_copies(
            ForecastNetwork(config.network), copies.subset(copies.cohort != cohort), config
        )
        train = everyone.subset(everyone.cohort != cohort)
        out[cohort] = comparison_figures(compare(network, train, test))
        logger.info("leave-one-cohort-out: %s done", cohort)
    return out


def band_verdicts(figures: dict[str, dict[str, object]]) -> list[str]:
    """Cohorts whose 10-90 % band coverage at any horizon falls outside BAND_TARGET, in words."""
    lines = []
    for cohort, scores in figures.items():
        coverage = scores["band_10_90_coverage_by_horizon"]
        assert isinstance(coverage, dict)
        off = {h: v for h, v in coverage.items() if not BAND_TARGET[0] <= v <= BAND_TARGET[1]}
        if off:
            lines.append(f"{cohort}: " + ", ".join(f"+{h} min {v:.2f}" for h, v in off.items()))
    return lines


__all__ = [
    "BASELINES",
    "FORECAST_COHORTS",
    "HISTORY_STEPS",
    "ForecastComparison",
    "alert_scores",
    "band_verdicts",
    "cohort_windows",
    "compare",
    "comparison_figures",
    "leave_one_cohort_out",
    "point_scores",
]
