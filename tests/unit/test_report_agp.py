"""AGP statistics on synthetic series: modal-day pooling, daily split, consensus targets, data sufficiency."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glucose_model.agp import (
    MODAL_DAY_PERCENTILES,
    RECOMMENDED_DAYS,
    ReportPeriod,
    build_profile,
    check_targets,
    compute_modal_day,
    split_days,
)
from glucose_model.metrics import summarize_cgm
from glucose_model.records import GlucoseSeries, InsufficientCgmError

START_UTC_S = 1_700_006_400  # 2023-11-15 00:00:00 UTC, a midnight


def series(
    values: np.ndarray, step_min: int = 5, offset_min: int = 0, start: int = START_UTC_S
) -> GlucoseSeries:
    n = values.shape[0]
    times = start + np.arange(n, dtype=np.int64) * step_min * 60
    return GlucoseSeries(times, np.full(n, offset_min, np.int16), values.astype(np.float64))


def daily_wave(days: int, step_min: int = 5) -> np.ndarray:
    """Glucose that depends only on the time of day: 100 at midnight, 200 at noon."""
    minutes = np.arange(days * 1440 // step_min) * step_min % 1440
    return 150.0 - 50.0 * np.cos(2 * np.pi * minutes / 1440)


def test_modal_day_of_a_repeating_day_is_that_day() -> None:
    modal = compute_modal_day(series(daily_wave(14)))
    noon = int(np.flatnonzero(modal.minute_of_day == 720)[0])
    midnight = int(np.flatnonzero(modal.minute_of_day == 0)[0])
    # +-30 min pooling of a smooth wave: the median sits within a few mg/dL of the wave itself.
    assert modal.percentile(50.0)[noon] == pytest.approx(200.0, abs=1.0)
    assert modal.percentile(50.0)[midnight] == pytest.approx(100.0, abs=1.0)
    assert modal.readings[noon] == 14 * 12  # 12 readings an hour, 14 days


def test_modal_day_pools_across_midnight() -> None:
    # Each day one reading at 23:45 and one at 00:10: the 00:00 bin (window -30..+30 min) holds both.
    times = [START_UTC_S + day * 86400 + shift_s for day in range(1, 8) for shift_s in (-15 * 60, 10 * 60)]
    s = GlucoseSeries(np.array(times, np.int64), np.zeros(14, np.int16), np.array([100.0, 120.0] * 7))
    modal = compute_modal_day(s)
    by_minute = dict(zip(modal.minute_of_day.tolist(), modal.readings.tolist(), strict=True))
    assert by_minute[0] == 14
    assert by_minute[1410] == 7  # 23:30 reaches 23:45 but not 00:10 (40 min away)
    assert modal.percentile(50.0)[0] == pytest.approx(110.0)
    assert np.isnan(modal.percentile(50.0)[modal.minute_of_day == 360]).all()


@settings(max_examples=12, deadline=None)
@given(st.lists(st.floats(40, 400), min_size=300, max_size=600), st.sampled_from([-300, 0, 60, 480]))
def test_modal_day_percentiles_are_ordered_and_match_numpy(values: list[float], offset_min: int) -> None:
    s = series(np.array(values), step_min=15, offset_min=offset_min)
    modal = compute_modal_day(s)
    filled = ~np.isnan(modal.percentiles_mg_dl[0])
    assert np.all(np.diff(modal.percentiles_mg_dl[:, filled], axis=0) >= -1e-9)
    # Independent computation of one bin: readings whose local clock time is within [-30, +30) of 06:00.
    local_min = ((s.times_utc_s + offset_min * 60) % 86400) // 60
    pooled = np.array(values)[(local_min >= 330) & (local_min < 390)]
    b = int(np.flatnonzero(modal.minute_of_day == 360)[0])
    assert modal.readings[b] == pooled.shape[0]
    if pooled.shape[0] >= 5:
        np.testing.assert_allclose(
            modal.percentiles_mg_dl[:, b], np.percentile(pooled, MODAL_DAY_PERCENTILES)
        )


def test_split_days_uses_local_calendar_and_breaks_lines_at_gaps() -> None:
    values = daily_wave(2)
    values[100:130] = np.nan  # a 2.5-h sensor gap on day one
    s = series(values, offset_min=120)  # UTC+2: the first local day starts at 02:00
    days = split_days(GlucoseSeries(s.times_utc_s, s.utc_offset_min, s.glucose_mg_dl), 5.0)
    assert [d.day for d in days] == [date(2023, 11, 15), date(2023, 11, 16), date(2023, 11, 17)]
    assert days[0].minute_of_day[0] == pytest.approx(120.0)
    assert sum(d.readings for d in days) == int(np.isfinite(values).sum())
    # NaN readings are not drawn; the 2.5-h gap they leave gets exactly one break in the line.
    assert np.isnan(days[0].glucose_mg_dl).sum() == 1
    assert np.isnan(days[1].glucose_mg_dl).sum() == 0


def test_targets_follow_the_consensus() -> None:
    summary = summarize_cgm(series(np.array([60.0] * 5 + [120.0] * 90 + [300.0] * 5)))
    checks = {c.metric: c for c in check_targets(summary)}
    assert checks["time_below_70_percent"].value_percent == pytest.approx(5.0)
    assert not checks["time_below_70_percent"].met  # goal < 4 %
    assert checks["time_below_54_percent"].met
    assert checks["time_above_250_percent"].value_percent == pytest.approx(5.0)
    assert not checks["time_above_250_percent"].met  # goal < 5 %, not <=
    assert checks["time_in_range_70_180_percent"].met
    assert checks["time_in_range_70_180_percent"].target == "> 70 %"


def test_profile_flags_short_records_and_refuses_less_than_a_day() -> None:
    short = build_profile(series(daily_wave(3)))
    assert short.shorter_than_recommended
    assert short.summary.days_covered < RECOMMENDED_DAYS
    assert not build_profile(series(daily_wave(15))).shorter_than_recommended
    with pytest.raises(InsufficientCgmError, match="at least 24 h"):
        build_profile(series(daily_wave(1)[:200]))


def test_profile_uses_the_metrics_module_numbers() -> None:
    s = series(daily_wave(5, step_min=15), step_min=15)
    profile = build_profile(s)
    # Everything but the period's length and the wear over it (the report's own) is the metrics module's.
    assert dataclasses.replace(
        profile.summary,
        days_covered=summarize_cgm(s).days_covered,
        sensor_wear_percent=summarize_cgm(s).sensor_wear_percent,
    ) == summarize_cgm(s)
    assert profile.summary.days_covered == pytest.approx(5.0)
    assert profile.interval_min == pytest.approx(15.0)
    assert profile.start.utcoffset() is not None


def test_a_full_day_of_five_minute_readings_is_a_day() -> None:
    day = build_profile(series(daily_wave(1)))  # 288 readings, 00:00 to 23:55
    assert day.summary.readings == 288 and day.summary.days_covered == pytest.approx(1.0)
    with pytest.raises(InsufficientCgmError, match=r"23\.9 h"):
        build_profile(series(daily_wave(1)[:-1]))


def test_the_report_covers_the_latest_14_days_unless_asked() -> None:
    # 30 days recorded, the first 16 with one reading an hour: the consensus period is the last 14.
    sparse = series(daily_wave(16, step_min=60), step_min=60)
    recent = series(daily_wave(14), start=START_UTC_S + 16 * 86400)
    both = GlucoseSeries(
        np.concatenate([sparse.times_utc_s, recent.times_utc_s]),
        np.zeros(len(sparse) + len(recent), np.int16),
        np.concatenate([sparse.glucose_mg_dl, recent.glucose_mg_dl]),
    )
    profile = build_profile(both, interval_min=5.0)
    assert profile.summary.days_covered == pytest.approx(14.0)
    assert profile.summary.sensor_wear_percent == pytest.approx(100.0, abs=0.1)
    assert profile.start.date() == date(2023, 12, 1) and profile.record_days == pytest.approx(30.0, abs=0.01)
    assert not profile.shorter_than_recommended and not profile.wear_below_recommended
    week = build_profile(both, interval_min=5.0, period=ReportPeriod(days=7))
    assert week.summary.days_covered == pytest.approx(7.0) and week.start.date() == date(2023, 12, 8)
    # Dates that reach into the sparse days: wear is counted over every day asked for.
    chosen = build_profile(
        both, interval_min=5.0, period=ReportPeriod(first_day=date(2023, 11, 24), last_day=date(2023, 12, 7))
    )
    assert chosen.summary.days_covered == pytest.approx(14.0)
    assert chosen.summary.sensor_wear_percent == pytest.approx(100 * (7 * 288 + 7 * 24) / (14 * 288), abs=0.1)
    assert chosen.wear_below_recommended
    with pytest.raises(InsufficientCgmError, match="no CGM readings from 2024-03-01"):
        build_profile(both, period=ReportPeriod(first_day=date(2024, 3, 1)))
