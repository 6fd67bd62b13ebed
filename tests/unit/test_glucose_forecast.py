"""Forecast inputs, metadata contract and every alert rule, with a stand-in inference function."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glucose_model.forecast import (
    CGM_STEPS,
    HISTORY_STEPS,
    HORIZONS_MIN,
    INPUT_CGM,
    INPUT_KIND,
    KIND_CODES,
    OUTPUT_GLUCOSE,
    QUANTILES,
    UNKNOWN_KIND_CODE,
    Alert,
    AlertKind,
    Forecaster,
    ForecastMetadataError,
    build_forecast_inputs,
    decide_alerts,
    recent_trend_mg_dl_per_min,
)
from glucose_model.records import DiabetesKind, GlucoseSeries, InsufficientCgmError
from glucose_model.resample import GRID_STEP_MIN, resample_to_grid
from mealimpact.model_repository.metadata import ForecastMetadata

START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def series(values: list[float] | np.ndarray, step_min: int = 5) -> GlucoseSeries:
    times = [START + timedelta(minutes=step_min * i) for i in range(len(values))]
    return GlucoseSeries.from_datetimes(times, np.asarray(values, np.float64))


def metadata() -> dict[str, str]:
    """A forecast model's metadata_props, written by the repository's one schema."""
    return ForecastMetadata(
        version="test",
        weights_sha256="0" * 64,
        horizons_min=list(HORIZONS_MIN),
        quantiles=list(QUANTILES),
        cgm_steps=CGM_STEPS,
        grid_step_min=GRID_STEP_MIN,
        inputs=[INPUT_CGM, INPUT_KIND],
        kind_codes={str(k.value): v for k, v in KIND_CODES.items()} | {"unknown": UNKNOWN_KIND_CODE},
        units={},
    ).to_props()


def constant_model(p50: list[float]) -> Forecaster:
    seen: list[dict[str, np.ndarray]] = []

    def infer(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(feed)
        b = feed[INPUT_CGM].shape[0]
        mid = np.array(p50, np.float32)[None, :, None]
        quantiles = np.concatenate([mid - 10, mid, mid + 10], axis=2)  # (1, K, Q)
        return {OUTPUT_GLUCOSE: np.repeat(quantiles, b, axis=0)}

    forecaster = Forecaster(metadata(), infer)
    forecaster.seen = seen  # type: ignore[attr-defined]
    return forecaster


def kinds(alerts: tuple[Alert, ...]) -> list[AlertKind]:
    return [a.kind for a in alerts]


# ---- alert rules ----------------------------------------------------------------------------


def test_no_alert_in_range_and_steady() -> None:
    assert decide_alerts(120.0, 0.2, HORIZONS_MIN, [121, 122, 123, 124]) == ()


def test_forecast_low_within_30_min_gives_lead_time() -> None:
    (alert,) = decide_alerts(80.0, -0.8, HORIZONS_MIN, [74, 66, 60, 56])
    assert alert.kind == AlertKind.LOW and alert.lead_time_min == 30 and alert.source == "forecast"
    assert "below 70 mg/dL" in alert.reason


def test_low_beyond_30_min_is_not_alerted() -> None:
    assert kinds(decide_alerts(90.0, -0.5, HORIZONS_MIN, [85, 80, 68, 60])) == []


def test_very_low_replaces_low() -> None:
    alerts = decide_alerts(70.0, -1.5, HORIZONS_MIN, [60, 50, 45, 40])
    assert kinds(alerts) == [AlertKind.VERY_LOW]
    assert alerts[0].lead_time_min == 30


def test_current_low_is_lead_time_zero_from_cgm() -> None:
    (alert,) = decide_alerts(65.0, 0.0, HORIZONS_MIN, [66, 68, 70, 72])
    assert alert.kind == AlertKind.LOW and alert.lead_time_min == 0 and alert.source == "cgm"


def test_high_and_very_high_look_the_whole_hour_ahead() -> None:
    assert kinds(decide_alerts(150.0, 1.0, HORIZONS_MIN, [160, 170, 178, 185])) == [AlertKind.HIGH]
    alerts = decide_alerts(200.0, 1.5, HORIZONS_MIN, [220, 240, 255, 270])
    assert kinds(alerts) == [AlertKind.VERY_HIGH] and alerts[0].lead_time_min == 45


def test_rising_fast_from_recent_cgm() -> None:
    alerts = decide_alerts(150.0, 2.5, HORIZONS_MIN, [160, 165, 170, 175])
    assert kinds(alerts) == [AlertKind.RISING_FAST] and alerts[0].lead_time_min == 0


def test_falling_fast_from_the_forecast() -> None:
    alerts = decide_alerts(160.0, -1.0, HORIZONS_MIN, [150, 110, 100, 95])  # -2.67/min from 15 to 30
    assert kinds(alerts) == [AlertKind.FALLING_FAST]
    assert alerts[0].lead_time_min == 15 and alerts[0].source == "forecast"


def test_exactly_two_per_minute_is_not_fast() -> None:
    assert kinds(decide_alerts(120.0, 2.0, HORIZONS_MIN, [150, 170, 171, 172])) == []


# ---- inputs and trend -----------------------------------------------------------------------


def test_trend_is_the_slope_of_the_last_15_min() -> None:
    g = 100 + 3.0 * np.arange(HISTORY_STEPS) * GRID_STEP_MIN / 5.0  # 3 mg/dL per 5 min
    assert recent_trend_mg_dl_per_min(g) == pytest.approx(0.6)
    gaps = np.full(HISTORY_STEPS, np.nan)
    gaps[-1] = 120.0
    assert recent_trend_mg_dl_per_min(gaps) is None


def test_inputs_are_the_raw_cgm_with_nan_gaps_origin_last() -> None:
    values = 100.0 + np.arange(60)
    grid = resample_to_grid(series(values))
    inputs = build_forecast_inputs(grid, np.array([46, 59]), DiabetesKind.TYPE1)
    cgm = inputs.cgm_mg_dl
    assert cgm.shape == (2, CGM_STEPS) and cgm.dtype == np.float32
    assert (
        inputs.diabetes_kind.shape == (2, 1)
        and (inputs.diabetes_kind == KIND_CODES[DiabetesKind.TYPE1]).all()
    )
    assert (build_forecast_inputs(grid, np.array([46])).diabetes_kind == UNKNOWN_KIND_CODE).all()
    assert cgm[0, -1] == 146.0 and cgm[1, -1] == 159.0  # nothing after the origin enters
    assert np.isnan(cgm[0, :-47]).all() and np.isfinite(cgm[0, -47:]).all()


def test_a_long_gap_stays_nan_and_is_never_bridged() -> None:
    times = [START + timedelta(minutes=5 * i) for i in range(20)]
    times += [START + timedelta(minutes=5 * 19 + 60 + 5 * i) for i in range(1, 21)]
    grid = resample_to_grid(GlucoseSeries.from_datetimes(times, np.full(40, 110.0)))
    row = build_forecast_inputs(grid, np.array([len(grid.series) - 1])).cgm_mg_dl[0]
    assert np.isnan(row).sum() == CGM_STEPS - 40  # the unsent hours and the 55-min hole
    assert np.isnan(row[-31:-20]).all()


# ---- the Forecaster -------------------------------------------------------------------------


def test_forecaster_returns_points_and_alerts_in_one_call() -> None:
    forecaster = constant_model([85, 68, 62, 58])
    result = forecaster.forecast(series(np.linspace(110, 90, 30)), kind=DiabetesKind.TYPE2)
    assert [p.horizon_min for p in result.points] == list(HORIZONS_MIN)
    assert result.points[1].low_mg_dl < result.points[1].glucose_mg_dl < result.points[1].high_mg_dl
    assert result.current_glucose_mg_dl == pytest.approx(90.0)
    assert kinds(result.alerts) == [AlertKind.LOW]
    assert len(forecaster.seen) == 1  # type: ignore[attr-defined]
    assert result.origin == START + timedelta(minutes=5 * 29)


def test_forecaster_refuses_a_sparse_last_hour() -> None:
    values = np.full(30, 120.0)
    times = [START + timedelta(minutes=5 * i) for i in range(25)] + [START + timedelta(minutes=5 * 29 + 90)]
    sparse = GlucoseSeries.from_datetimes(times, values[:26])
    with pytest.raises(InsufficientCgmError, match="last 60 minutes"):
        constant_model([120] * 4).forecast(sparse)


def test_forecaster_refuses_empty_cgm() -> None:
    with pytest.raises(InsufficientCgmError):
        constant_model([120] * 4).forecast(series([]))


def test_metadata_of_another_contract_is_refused_at_construction() -> None:
    md = metadata()
    md["horizons_min"] = json.dumps([30, 60])
    with pytest.raises(ForecastMetadataError, match="horizons_min"):
        Forecaster(md, lambda feed: feed)
    del md["horizons_min"]
    with pytest.raises(ForecastMetadataError, match="lacks"):
        Forecaster(md, lambda feed: feed)


# ---- properties -----------------------------------------------------------------------------

glucose_values = st.floats(40.0, 400.0)


@given(glucose_values, st.none() | st.floats(-5, 5), st.lists(glucose_values, min_size=4, max_size=4))
def test_alerts_are_consistent_with_their_thresholds(
    current: float, trend: float | None, p50: list[float]
) -> None:
    alerts = decide_alerts(current, trend, HORIZONS_MIN, p50)
    found = kinds(alerts)
    assert len(found) == len(set(found))
    assert not {AlertKind.LOW, AlertKind.VERY_LOW} <= set(found)
    assert not {AlertKind.HIGH, AlertKind.VERY_HIGH} <= set(found)
    for alert in alerts:
        assert alert.lead_time_min in (0, *HORIZONS_MIN) and alert.reason
    soon = [current, *(g for h, g in zip(HORIZONS_MIN, p50, strict=True) if h <= 30)]
    assert (AlertKind.VERY_LOW in found) == (min(soon) < 54)
    assert (AlertKind.LOW in found or AlertKind.VERY_LOW in found) == (min(soon) < 70)
    assert (AlertKind.HIGH in found or AlertKind.VERY_HIGH in found) == (max(current, *p50) > 180)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from([5, 15]), st.sampled_from([None, *DiabetesKind]))
def test_any_hour_of_regular_cgm_gives_ordered_points(
    data: st.DataObject, step_min: int, kind: DiabetesKind | None
) -> None:
    n = data.draw(st.integers(60 // step_min + 1, 180 // step_min + 1))
    values = data.draw(st.lists(glucose_values, min_size=n, max_size=n))
    result = constant_model([120, 121, 122, 123]).forecast(series(values, step_min), kind=kind)
    assert [p.horizon_min for p in result.points] == list(HORIZONS_MIN)
    assert all(p.low_mg_dl <= p.glucose_mg_dl <= p.high_mg_dl for p in result.points)
    assert result.current_glucose_mg_dl == pytest.approx(values[-1])
