"""Short-horizon glucose forecast (+15..+60 min) and the real-time alerts built on it.

Numpy only: serving imports this module. The model takes the raw CGM on the 5-min grid (NaN for
gaps) and computes every feature inside its graph (`glucose_model/forecast_network.py`), so
training, evaluation, serving and a phone feed it the same array built by `build_forecast_inputs`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

# The forecast needs a mostly covered last hour, as a meal does: features.py owns the number.
from glucose_model.features import MIN_VALID_LAST_HOUR
from glucose_model.metrics import (
    HIGH_ABOVE_MG_DL,
    LOW_BELOW_MG_DL,
    VERY_HIGH_ABOVE_MG_DL,
    VERY_LOW_BELOW_MG_DL,
)
from glucose_model.records import (
    ActivitySample,
    DiabetesKind,
    GlucoseSeries,
    InsufficientCgmError,
    InsulinDose,
    Meal,
)
from glucose_model.resample import GRID_STEP_MIN, ResampledGlucose, resample_to_grid
from mealimpact.inference import InferFn
from mealimpact.model_repository.metadata import ForecastMetadata, ModelMetadataError

HISTORY_STEPS = 36  # 3 h of CGM on the 5-min grid, ending at the forecast origin: what the trend uses
CGM_STEPS = 288  # 24 h: the model input; readings older than the request sent are NaN
HORIZONS_MIN = (15, 30, 45, 60)
QUANTILES = (0.1, 0.5, 0.9)
# The recent trend is the least-squares slope over this window of grid points.
TREND_WINDOW_MIN = 15
# Alert thresholds (Battelino 2019 ranges; the rate limit is the usual CGM "rapid change" arrow).
LOW_ALERT_WITHIN_MIN = 30
FAST_RATE_MG_DL_PER_MIN = 2.0

INPUT_CGM = "cgm_mg_dl"  # (B, CGM_STEPS) float32 mg/dL on the 5-min grid, origin last, NaN = no reading
INPUT_KIND = "diabetes_kind"  # (B, 1) float32 code from KIND_CODES, UNKNOWN_KIND_CODE when not given
KIND_CODES = {DiabetesKind.NONE: 0, DiabetesKind.PREDIABETES: 1, DiabetesKind.TYPE2: 2, DiabetesKind.TYPE1: 3}
UNKNOWN_KIND_CODE = -1
OUTPUT_GLUCOSE = "glucose_mg_dl"  # (B, len(HORIZONS_MIN), len(QUANTILES)) float32


class ForecastMetadataError(ValueError):
    """The forecast model's metadata does not match the contract this code was written for."""


@dataclass(frozen=True)
class ForecastInputs:
    """Model input for B forecast origins: the raw CGM, everything else is computed in the graph.

    cgm_mg_dl: (B, CGM_STEPS) float32, oldest first, the origin last (always a reading); NaN where
        there was no reading or the request sent none (a 3-h request leaves the first 21 h NaN).
    diabetes_kind: (B, 1) float32, KIND_CODES of the person's kind or UNKNOWN_KIND_CODE.
    """

    cgm_mg_dl: npt.NDArray[np.float32]
    diabetes_kind: npt.NDArray[np.float32]

    def as_feed(self) -> dict[str, np.ndarray]:
        return {INPUT_CGM: self.cgm_mg_dl, INPUT_KIND: self.diabetes_kind}


def kind_code(kind: DiabetesKind | None) -> float:
    return float(KIND_CODES.get(kind, UNKNOWN_KIND_CODE)) if kind is not None else float(UNKNOWN_KIND_CODE)


def _window_sums(
    per_slot: npt.NDArray[np.float64], anchors: npt.NDArray[np.int64], steps: int = HISTORY_STEPS
) -> npt.NDArray[np.float64]:
    """(B, steps) slices of a per-grid-slot array ending at each anchor (zeros before the start)."""
    padded = np.concatenate([np.zeros(steps - 1), per_slot])  # (G + steps - 1,)
    windows = np.lib.stride_tricks.sliding_window_view(padded, steps)  # (G, steps)
    return np.asarray(windows[anchors], dtype=np.float64)


def usable_origins(grid: ResampledGlucose) -> npt.NDArray[np.bool_]:
    """(G,) bool: grid points from which a forecast may be made (valid, last hour mostly covered)."""
    valid = grid.valid.astype(np.float64)
    last_hour = _window_sums(valid, np.arange(valid.shape[0]))[:, -12:].sum(axis=1)  # (G,)
    return grid.valid & (last_hour >= MIN_VALID_LAST_HOUR)


def build_forecast_inputs(
    grid: ResampledGlucose, anchors: npt.NDArray[np.int64], kind: DiabetesKind | None = None
) -> ForecastInputs:
    """The model input for forecasts made at grid indices `anchors` (B,) of one person's resampled CGM.

    Only readings at or before each origin enter its row; older than CGM_STEPS are dropped.
    """
    glucose = np.where(grid.valid, grid.glucose_mg_dl, np.nan).astype(np.float64)
    padded = np.concatenate([np.full(CGM_STEPS - 1, np.nan), glucose])  # (G + CGM_STEPS - 1,)
    windows = np.lib.stride_tricks.sliding_window_view(padded, CGM_STEPS)  # (G, CGM_STEPS)
    codes = np.full((anchors.shape[0], 1), kind_code(kind), np.float32)
    return ForecastInputs(np.ascontiguousarray(windows[anchors], dtype=np.float32), codes)


def forecast_targets(grid: ResampledGlucose, anchors: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """(B, len(HORIZONS_MIN)) measured glucose at each horizon after each origin; NaN where none."""
    steps_ahead = np.array(HORIZONS_MIN) // GRID_STEP_MIN
    idx = anchors[:, None] + steps_ahead[None, :]  # (B, K)
    n = len(grid.series)
    values = grid.glucose_mg_dl[np.minimum(idx, n - 1)]
    return np.where(idx < n, values, np.nan)


def recent_trend_mg_dl_per_min(window_glucose: npt.ArrayLike) -> float | None:
    """Least-squares slope over the last TREND_WINDOW_MIN of one row (NaN = gap); None with < 2 points."""
    k = TREND_WINDOW_MIN // GRID_STEP_MIN + 1
    minutes = np.arange(-(k - 1), 1) * GRID_STEP_MIN
    recent = np.asarray(window_glucose, np.float64)[-k:]
    ok = np.isfinite(recent)
    if ok.sum() < 2:
        return None
    return float(np.polyfit(minutes[ok].astype(np.float64), recent[ok], 1)[0])


class AlertKind(enum.StrEnum):
    VERY_LOW = "very_low"  # below 54 mg/dL
    LOW = "low"  # below 70 mg/dL
    HIGH = "high"  # above 180 mg/dL
    VERY_HIGH = "very_high"  # above 250 mg/dL
    RISING_FAST = "rising_fast"  # faster than 2 mg/dL/min
    FALLING_FAST = "falling_fast"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    reason: str  # plain words, shown to the person
    lead_time_min: float  # 0 = now; otherwise how long before it is forecast to happen
    source: str  # "cgm" (the readings already show it) or "forecast"


@dataclass(frozen=True)
class ForecastPoint:
    horizon_min: int
    glucose_mg_dl: float  # median (p50)
    low_mg_dl: float  # p10
    high_mg_dl: float  # p90


@dataclass(frozen=True)
class ForecastResult:
    origin: datetime  # the grid time the forecast starts from (at or just before the last reading)
    current_glucose_mg_dl: float
    trend_mg_dl_per_min: float | None  # recent CGM slope; None when too few recent readings
    points: tuple[ForecastPoint, ...]
    alerts: tuple[Alert, ...]
    model_version: str


def _level_alert(
    current: float,
    horizons: Sequence[int],
    p50: Sequence[float],
    within_min: int,
    below: bool,
    threshold: float,
) -> tuple[float, float] | None:
    """(lead_time_min, glucose) of the first crossing of `threshold` now or within `within_min`."""
    crossed = (lambda g: g < threshold) if below else (lambda g: g > threshold)
    if crossed(current):
        return 0.0, current
    for h, g in zip(horizons, p50, strict=True):
        if h <= within_min and crossed(g):
            return float(h), float(g)
    return None


def decide_alerts(
    current_glucose_mg_dl: float,
    trend_mg_dl_per_min: float | None,
    horizons_min: Sequence[int],
    p50_mg_dl: Sequence[float],
) -> tuple[Alert, ...]:
    """The alerts for one forecast; at most one per direction (the most severe) plus rate alerts.

    Lows look LOW_ALERT_WITHIN_MIN ahead, highs the whole forecast; rate alerts come from the
    recent CGM slope (lead time 0) or, failing that, from the forecast's steepest 15-min step.
    """
    alerts: list[Alert] = []
    now = "is {g:.0f} mg/dL now"
    soon = "is forecast to be {g:.0f} mg/dL in about {h:.0f} minutes"
    for below, levels in (
        (True, ((AlertKind.VERY_LOW, VERY_LOW_BELOW_MG_DL), (AlertKind.LOW, LOW_BELOW_MG_DL))),
        (False, ((AlertKind.VERY_HIGH, VERY_HIGH_ABOVE_MG_DL), (AlertKind.HIGH, HIGH_ABOVE_MG_DL))),
    ):
        within = LOW_ALERT_WITHIN_MIN if below else max(horizons_min)
        for kind, threshold in levels:
            hit = _level_alert(current_glucose_mg_dl, horizons_min, p50_mg_dl, within, below, threshold)
            if hit is None:
                continue
            lead, g = hit
            side = "below" if below else "above"
            text = (now if lead == 0 else soon).format(g=g, h=lead)
            alerts.append(
                Alert(
                    kind,
                    f"Glucose {text}, {side} {threshold:.0f} mg/dL.",
                    lead,
                    "cgm" if lead == 0 else "forecast",
                )
            )
            break
    rate_alert = _rate_alert(current_glucose_mg_dl, trend_mg_dl_per_min, horizons_min, p50_mg_dl)
    if rate_alert is not None:
        alerts.append(rate_alert)
    return tuple(alerts)


def _rate_alert(
    current: float, trend: float | None, horizons: Sequence[int], p50: Sequence[float]
) -> Alert | None:
    if trend is not None and abs(trend) > FAST_RATE_MG_DL_PER_MIN:
        kind = AlertKind.RISING_FAST if trend > 0 else AlertKind.FALLING_FAST
        word = "rising" if trend > 0 else "falling"
        return Alert(kind, f"Glucose is {word} {abs(trend):.1f} mg/dL per minute now.", 0.0, "cgm")
    previous_g, previous_h = current, 0
    for h, g in zip(horizons, p50, strict=True):
        rate = (g - previous_g) / (h - previous_h)
        if abs(rate) > FAST_RATE_MG_DL_PER_MIN:
            kind = AlertKind.RISING_FAST if rate > 0 else AlertKind.FALLING_FAST
            word = "rise" if rate > 0 else "fall"
            return Alert(
                kind,
                f"Glucose is forecast to {word} {abs(rate):.1f} mg/dL per minute "
                f"between {previous_h} and {h} minutes from now.",
                float(previous_h),
                "forecast",
            )
        previous_g, previous_h = g, h
    return None


def contract_metadata() -> dict[str, object]:
    """The input/output contract this code needs, as the exporter writes it into the metadata."""
    return {
        "horizons_min": list(HORIZONS_MIN),
        "quantiles": list(QUANTILES),
        "cgm_steps": CGM_STEPS,
        "grid_step_min": GRID_STEP_MIN,
        "inputs": [INPUT_CGM, INPUT_KIND],
        "kind_codes": {str(k.value): v for k, v in KIND_CODES.items()} | {"unknown": UNKNOWN_KIND_CODE},
    }


def check_metadata(metadata: Mapping[str, str]) -> ForecastMetadata:
    """The metadata read by the repository's one schema (`ForecastMetadata`); ForecastMetadataError
    unless the model was exported for this input/output contract."""
    try:
        schema = ForecastMetadata.from_props(metadata)
    except ModelMetadataError as error:
        raise ForecastMetadataError(f"{error} (training/forecast_train.py)") from error
    for key, want in contract_metadata().items():
        got = getattr(schema, key)
        if got != want:
            raise ForecastMetadataError(
                f"forecast model metadata '{key}' is {got!r}, this code needs {want!r}; "
                "use a model exported by the same mealimpact version"
            )
    return schema


class Forecaster:
    """Forecast and alerts for one person's CGM, over any inference backend (ORT, remote V2)."""

    def __init__(self, metadata: Mapping[str, str], infer: InferFn) -> None:
        self.metadata = check_metadata(metadata)
        self.version = self.metadata.version
        self._infer = infer

    def predict(self, inputs: ForecastInputs) -> npt.NDArray[np.float32]:
        """(B, len(HORIZONS_MIN), len(QUANTILES)) glucose in mg/dL, one batched model call."""
        out = self._infer(inputs.as_feed())[OUTPUT_GLUCOSE]
        return np.asarray(out, dtype=np.float32)

    def forecast(
        self,
        glucose: GlucoseSeries,
        meals: Sequence[Meal] = (),
        insulin: Sequence[InsulinDose] = (),
        activity: Sequence[ActivitySample] = (),
        kind: DiabetesKind | None = None,
    ) -> ForecastResult:
        """Forecast from the last CGM reading. Raises InsufficientCgmError when the last hour is too sparse.

        Up to the last 24 h of `glucose` are used, and the person's kind (how far the recent trend is
        carried forward differs with and without diabetes). Meals, insulin and activity are accepted
        for the API's sake; the current model does not use them (two of the five real cohorts log
        none; see models/glucose_forecast/MODEL_CARD.md).
        """
        grid = resample_to_grid(glucose)
        if len(grid.series) == 0 or not usable_origins(grid)[-1]:
            raise InsufficientCgmError(
                f"a forecast needs CGM readings covering at least {MIN_VALID_LAST_HOUR * GRID_STEP_MIN} "
                "of the last 60 minutes, up to the latest reading; send the last 2-3 hours of CGM"
            )
        anchor = np.array([len(grid.series) - 1], dtype=np.int64)
        inputs = build_forecast_inputs(grid, anchor, kind)
        quantiles = self.predict(inputs)[0].astype(np.float64)  # (K, Q)
        current = float(grid.glucose_mg_dl[anchor[0]])
        trend = recent_trend_mg_dl_per_min(inputs.cgm_mg_dl[0])
        lo, mid, hi = (QUANTILES.index(q) for q in (0.1, 0.5, 0.9))
        points = tuple(
            ForecastPoint(h, float(quantiles[k, mid]), float(quantiles[k, lo]), float(quantiles[k, hi]))
            for k, h in enumerate(HORIZONS_MIN)
        )
        alerts = decide_alerts(current, trend, HORIZONS_MIN, [p.glucose_mg_dl for p in points])
        return ForecastResult(
            origin=grid.series.datetime_at(int(anchor[0])),
            current_glucose_mg_dl=current,
            trend_mg_dl_per_min=trend,
            points=points,
            alerts=alerts,
            model_version=self.version,
        )
