"""CGM summary metrics (Battelino 2019 international consensus), per-meal response metrics, and the
held-out split of people that every training and evaluation scores them on.

Thresholds are named here once; reports and model metadata take them from this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from glucose_model.records import GlucoseSeries, InsufficientCgmError, RecordError
from glucose_model.resample import GRID_STEP_MIN

# Battelino et al. 2019, Diabetes Care 42:1593: the five ranges, in mg/dL.
VERY_LOW_BELOW_MG_DL = 54.0
LOW_BELOW_MG_DL = 70.0
HIGH_ABOVE_MG_DL = 180.0
VERY_HIGH_ABOVE_MG_DL = 250.0
# Glucose management indicator (Bergenstal 2018): GMI % = 3.31 + 0.02392 * mean glucose in mg/dL.
GMI_INTERCEPT_PERCENT = 3.31
GMI_SLOPE_PERCENT_PER_MG_DL = 0.02392

# Per-meal response conventions (see `meal_response`).
BASELINE_WINDOW_MIN = 30
IAUC_WINDOW_MIN = 120
PEAK_WINDOW_MIN = 180
ROUNDING_TOLERANCE_MG_DL = 1e-6

Real = TypeVar("Real", np.float32, np.float64)


@dataclass(frozen=True)
class CgmSummary:
    """Consensus metrics of one CGM record; percentages of valid readings unless said otherwise."""

    readings: int  # valid (finite) readings used
    mean_mg_dl: float
    sd_mg_dl: float  # population SD (ddof=0) of the valid readings
    cv_percent: float  # 100 * SD / mean; the consensus target is <= 36 %
    gmi_percent: float
    time_below_54_percent: float  # glucose < 54
    time_54_69_percent: float  # 54 <= glucose < 70
    time_in_range_70_180_percent: float  # 70 <= glucose <= 180
    time_181_250_percent: float  # 180 < glucose <= 250
    time_above_250_percent: float  # glucose > 250
    sensor_wear_percent: float  # valid readings / readings expected over first..last reading
    days_covered: float  # (last - first reading) in days


def glucose_management_indicator(mean_glucose_mg_dl: float) -> float:
    """GMI in % (an HbA1c-like number) from the mean CGM glucose."""
    return GMI_INTERCEPT_PERCENT + GMI_SLOPE_PERCENT_PER_MG_DL * mean_glucose_mg_dl


def time_in_ranges_percent(glucose_mg_dl: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(5,) percent of the finite readings in <54, 54-69, 70-180, 181-250, >250 mg/dL; sums to 100.

    The bands are half-open on real numbers (54 <= g < 70, 180 < g <= 250...) so that
    non-integer readings (mmol/L converted) fall in exactly one band.
    """
    g = glucose_mg_dl[np.isfinite(glucose_mg_dl)]
    if g.shape[0] == 0:
        raise InsufficientCgmError("no valid glucose readings to compute time in ranges")
    counts = np.array(
        [
            np.sum(g < VERY_LOW_BELOW_MG_DL),
            np.sum((g >= VERY_LOW_BELOW_MG_DL) & (g < LOW_BELOW_MG_DL)),
            np.sum((g >= LOW_BELOW_MG_DL) & (g <= HIGH_ABOVE_MG_DL)),
            np.sum((g > HIGH_ABOVE_MG_DL) & (g <= VERY_HIGH_ABOVE_MG_DL)),
            np.sum(g > VERY_HIGH_ABOVE_MG_DL),
        ],
        dtype=np.float64,
    )
    return 100.0 * counts / g.shape[0]


def summarize_cgm(series: GlucoseSeries, interval_min: float | None = None) -> CgmSummary:
    """Consensus metrics of `series` (raw readings or a resampled grid with NaN gaps).

    interval_min: the sensor's sampling interval for the wear percentage; default the median
    interval between consecutive readings (5 for Dexcom/Libre 3, 15 for Libre 1/2 historic data).
    """
    g = series.glucose_mg_dl
    valid = np.isfinite(g)
    n_valid = int(valid.sum())
    if n_valid == 0:
        raise InsufficientCgmError("no valid glucose readings; send at least one CGM reading")
    values = g[valid]
    mean = float(values.mean())
    sd = float(values.std())
    times = series.times_utc_s[valid]
    span_s = float(times[-1] - times[0])
    if interval_min is None:
        interval_min = float(np.median(np.diff(times))) / 60.0 if n_valid > 1 else 5.0
    if interval_min <= 0:
        raise RecordError(f"sampling interval must be positive, got {interval_min} min")
    expected = span_s / (interval_min * 60.0) + 1.0
    wear = min(100.0, 100.0 * n_valid / expected)
    tir = time_in_ranges_percent(values)
    return CgmSummary(
        readings=n_valid,
        mean_mg_dl=mean,
        sd_mg_dl=sd,
        cv_percent=100.0 * sd / mean,
        gmi_percent=glucose_management_indicator(mean),
        time_below_54_percent=float(tir[0]),
        time_54_69_percent=float(tir[1]),
        time_in_range_70_180_percent=float(tir[2]),
        time_181_250_percent=float(tir[3]),
        time_above_250_percent=float(tir[4]),
        sensor_wear_percent=wear,
        days_covered=span_s / 86400.0,
    )


@dataclass(frozen=True)
class MealResponse:
    """How glucose answered one meal."""

    baseline_mg_dl: float
    peak_mg_dl: float
    peak_rise_mg_dl: float  # peak - baseline; negative when glucose only fell
    time_to_peak_min: float
    iauc_2h_mg_dl_min: float  # incremental AUC above baseline over 0..120 min, positive part only


def positive_incremental_auc(
    minutes: npt.NDArray[np.float64], glucose_mg_dl: npt.NDArray[np.float64], baseline_mg_dl: float
) -> float:
    """Area (mg/dL*min) between the piecewise-linear curve and the baseline, where it lies above.

    Where a segment crosses the baseline only the triangle above counts (Wolever & Jenkins 1986,
    the convention of Brouns et al. 2005 for glycaemic index testing); area below the baseline is
    ignored, never subtracted.
    """
    curve = np.asarray(glucose_mg_dl, np.float64).reshape(1, -1)  # (1, T)
    return float(positive_incremental_aucs(minutes, curve, np.array([baseline_mg_dl]))[0])


def positive_incremental_aucs(
    minutes: npt.NDArray[np.float64],
    glucose_mg_dl: npt.NDArray[np.float64],
    baseline_mg_dl: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """`positive_incremental_auc` of many curves at once: (T,) minutes, (B, T) curves, (B,) baselines -> (B,)."""
    d = np.asarray(glucose_mg_dl, np.float64) - np.asarray(baseline_mg_dl, np.float64).reshape(
        -1, 1
    )  # (B, T)
    # A baseline that is a mean of equal readings can differ from them by float rounding;
    # differences far below any sensor's resolution count as none, so a flat curve gives 0.
    d[np.abs(d) < ROUNDING_TOLERANCE_MG_DL] = 0.0
    t = np.asarray(minutes, np.float64)
    if d.shape[1] < 2:
        return np.zeros(d.shape[0])
    d0, d1, dt = d[:, :-1], d[:, 1:], np.diff(t)  # (B, T-1), (B, T-1), (T-1,)
    both = (d0 >= 0) & (d1 >= 0)
    area = np.where(both, 0.5 * (d0 + d1) * dt, 0.0)
    # One end above, one below: the triangle from the crossing point to the end above.
    crossing = (d0 >= 0) != (d1 >= 0)
    above = np.where(d0 >= 0, d0, d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        triangle = 0.5 * above * dt * above / (np.abs(d0) + np.abs(d1))
    area = area + np.where(crossing, triangle, 0.0)
    return np.asarray(np.maximum(area, 0.0).sum(axis=1), np.float64)


def meal_response(minutes: npt.ArrayLike, glucose_mg_dl: npt.ArrayLike) -> MealResponse:
    """Response metrics of one meal from glucose at `minutes` relative to the meal start.

    minutes: (T,) increasing, e.g. -180..180 step 5 from `windows.MealWindow`; glucose: (T,), NaN = gap.
    baseline: the mean of the valid readings in the 30 min up to and including the meal start
        (-30 <= minute <= 0), which is steadier against sensor noise than the single reading at 0.
    peak, time to peak: the highest valid reading in 0 < minute <= 180.
    iAUC: the positive incremental area over 0..120 min (`positive_incremental_auc`); it needs a
        valid value at every point of 0..120 (short gaps interpolated by `resample_to_grid` are fine).
    Raises InsufficientCgmError when any of these has no data.
    """
    t = np.asarray(minutes, dtype=np.float64)
    g = np.asarray(glucose_mg_dl, dtype=np.float64)
    if t.shape != g.shape or t.ndim != 1:
        raise RecordError(f"minutes and glucose must be 1-D of equal length, got {t.shape} and {g.shape}")
    valid = np.isfinite(g)
    pre = valid & (t >= -BASELINE_WINDOW_MIN) & (t <= 0)
    if not pre.any():
        raise InsufficientCgmError(
            f"no CGM reading in the {BASELINE_WINDOW_MIN} min before the meal; a baseline needs one"
        )
    baseline = float(g[pre].mean())
    post = valid & (t > 0) & (t <= PEAK_WINDOW_MIN)
    if not post.any():
        raise InsufficientCgmError(f"no CGM reading in the {PEAK_WINDOW_MIN} min after the meal")
    post_idx = np.flatnonzero(post)
    peak_i = int(post_idx[np.argmax(g[post_idx])])
    in_auc = (t >= 0) & (t <= IAUC_WINDOW_MIN)
    if not (np.any(t == 0) and np.any(t == IAUC_WINDOW_MIN)) or not valid[in_auc].all():
        raise InsufficientCgmError(
            f"the 2-h iAUC needs glucose at every grid point from 0 to {IAUC_WINDOW_MIN} min; "
            "this meal has a gap there"
        )
    iauc = positive_incremental_auc(t[in_auc], g[in_auc], baseline)
    return MealResponse(
        baseline_mg_dl=baseline,
        peak_mg_dl=float(g[peak_i]),
        peak_rise_mg_dl=float(g[peak_i]) - baseline,
        time_to_peak_min=float(t[peak_i]),
        iauc_2h_mg_dl_min=iauc,
    )


def peak_rise(rise_mg_dl: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """(B,) highest rise after minute 0 of (B, 37) 5-min curves and (B,) its minute (as `meal_response`).

    For predicted curves (no NaN); a measured curve goes through `measured_peak_rise`.
    """
    i = np.argmax(rise_mg_dl[:, 1:], axis=1) + 1
    return rise_mg_dl[np.arange(rise_mg_dl.shape[0]), i], (i * GRID_STEP_MIN).astype(np.int64)


def measured_peak_rise(measured_rise_mg_dl: npt.NDArray[Real]) -> npt.NDArray[Real]:
    """(N,) highest measured rise after minute 0 of (N, 37) curves, NaN = not measured (-inf if none)."""
    finite = np.where(np.isfinite(measured_rise_mg_dl), measured_rise_mg_dl, -np.inf)
    return np.asarray(finite[:, 1:].max(axis=1), dtype=measured_rise_mg_dl.dtype)


def curve_rmse_key(minute: int) -> str:
    """The one name of the response curve's RMSE at `minute` after the meal (training metrics, EVALUATION.md).

    The metrics inside the shipped response models (versions 1 and 2) and the federated replies of the
    previous release call it `rmse_{minute}_min_mg_dl`; nothing reads those by name but the wire check.
    """
    return f"curve_rmse_{minute}min_mg_dl"


def curve_rmse_mg_dl(
    predicted_rise_mg_dl: npt.NDArray[np.float64], measured_rise_mg_dl: npt.NDArray[np.float64], minute: int
) -> float:
    """RMSE of (M, 37) predicted against measured 5-min rise curves at `minute`, over the meals measured then."""
    j = minute // GRID_STEP_MIN
    ok = np.isfinite(measured_rise_mg_dl[:, j])
    return float(np.sqrt(np.mean((predicted_rise_mg_dl[ok, j] - measured_rise_mg_dl[ok, j]) ** 2)))


def held_out_people(cohort_people: Iterable[tuple[str, str]], fraction: float, seed: int) -> list[str]:
    """The people held out of training: `fraction` of each cohort's people, drawn by `seed`.

    `cohort_people` gives (cohort, person) pairs, repeats allowed. Cohorts are drawn in sorted order
    from one generator; a cohort of two or more gives at least one person when `fraction` > 0, a
    cohort's only person is never held out. The one split of the response and forecast trainings.
    """
    by_cohort: dict[str, set[str]] = {}
    for cohort, person in cohort_people:
        by_cohort.setdefault(cohort, set()).add(person)
    rng = np.random.default_rng(seed)
    held: list[str] = []
    for cohort in sorted(by_cohort):
        people = sorted(by_cohort[cohort])
        n = round(fraction * len(people)) if len(people) >= 2 else 0
        n = max(n, 1) if len(people) >= 2 and fraction > 0 else n
        held.extend(str(p) for p in rng.permutation(people)[:n])
    return sorted(held)


def held_out_rows(people: npt.NDArray[np.str_], fraction: float, seed: int) -> npt.NDArray[np.bool_]:
    """(N,) True for the rows of held-out people, `people` being "cohort/person" (`held_out_people`)."""
    held = held_out_people(((str(p).split("/")[0], str(p)) for p in people), fraction, seed)
    return np.isin(people, held)
