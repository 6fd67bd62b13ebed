"""Consensus CGM metrics and per-meal response metrics: invariants checked with hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glucose_model.metrics import (
    glucose_management_indicator,
    held_out_people,
    held_out_rows,
    meal_response,
    measured_peak_rise,
    peak_rise,
    positive_incremental_auc,
    summarize_cgm,
    time_in_ranges_percent,
)
from glucose_model.records import GlucoseSeries, InsufficientCgmError

glucose_lists = st.lists(st.floats(20, 600), min_size=1, max_size=300)
MINUTES = np.arange(-180, 181, 5, dtype=np.float64)


def series(values: np.ndarray, step_min: int = 5) -> GlucoseSeries:
    times = 1_700_000_100 + np.arange(values.shape[0], dtype=np.int64) * step_min * 60
    return GlucoseSeries(times, np.zeros(values.shape[0], np.int16), values.astype(np.float64))


@given(glucose_lists)
def test_time_in_ranges_sum_to_100(values: list[float]) -> None:
    assert time_in_ranges_percent(np.array(values)).sum() == pytest.approx(100.0)


def test_time_in_ranges_band_edges() -> None:
    tir = time_in_ranges_percent(np.array([53.9, 54, 69.9, 70, 180, 180.1, 250, 250.1]))
    np.testing.assert_allclose(tir, 100 * np.array([1, 2, 2, 2, 1]) / 8)


@given(st.floats(40, 400), st.floats(0.1, 100))
def test_gmi_is_monotone_in_mean(mean: float, delta: float) -> None:
    assert glucose_management_indicator(mean + delta) > glucose_management_indicator(mean)
    assert glucose_management_indicator(154.0) == pytest.approx(3.31 + 0.02392 * 154)


def test_summary_numbers_and_wear() -> None:
    values = np.array([100.0, 200.0, np.nan, 100.0, 200.0])
    s = summarize_cgm(series(values))
    assert s.readings == 4 and s.mean_mg_dl == 150 and s.sd_mg_dl == 50
    assert s.cv_percent == pytest.approx(100 / 3)
    assert s.time_in_range_70_180_percent == 50 and s.time_181_250_percent == 50
    assert s.sensor_wear_percent == pytest.approx(80.0)
    assert s.days_covered == pytest.approx(20 / 1440)


def test_summary_of_nothing_raises() -> None:
    with pytest.raises(InsufficientCgmError):
        summarize_cgm(series(np.array([np.nan, np.nan])))


@given(st.lists(st.floats(40, 400), min_size=73, max_size=73))
def test_iauc_is_non_negative(values: list[float]) -> None:
    r = meal_response(MINUTES, np.array(values))
    assert r.iauc_2h_mg_dl_min >= 0


@given(st.floats(40, 400))
def test_flat_curve_has_zero_iauc_and_rise(level: float) -> None:
    r = meal_response(MINUTES, np.full(73, level))
    assert r.iauc_2h_mg_dl_min == 0 and r.peak_rise_mg_dl == pytest.approx(0)


@given(st.lists(st.floats(40, 400), min_size=73, max_size=73), st.floats(-30, 100))
def test_constant_offset_moves_peak_not_rise_or_iauc(values: list[float], offset: float) -> None:
    a = meal_response(MINUTES, np.array(values))
    b = meal_response(MINUTES, np.array(values) + offset)
    assert b.peak_mg_dl == pytest.approx(a.peak_mg_dl + offset)
    assert b.peak_rise_mg_dl == pytest.approx(a.peak_rise_mg_dl, abs=1e-6)
    assert b.iauc_2h_mg_dl_min == pytest.approx(a.iauc_2h_mg_dl_min, rel=1e-6, abs=1e-6)


def test_response_of_a_triangle() -> None:
    # Baseline 100, rises to 160 at 60 min, back to 100 at 120: iAUC = 0.5 * 120 * 60.
    g = np.full(73, 100.0)
    post = (MINUTES >= 0) & (MINUTES <= 120)
    g[post] = 100 + 60 * (1 - np.abs(MINUTES[post] - 60) / 60)
    r = meal_response(MINUTES, g)
    assert (r.baseline_mg_dl, r.peak_mg_dl, r.time_to_peak_min) == (100, 160, 60)
    assert r.iauc_2h_mg_dl_min == pytest.approx(3600)


def test_crossing_counts_only_the_triangle_above() -> None:
    # From +10 to -10 over 10 min: 0.5 * 10 * 5 above the baseline.
    assert positive_incremental_auc(np.array([0.0, 10.0]), np.array([110.0, 90.0]), 100.0) == pytest.approx(
        25
    )


def test_gap_in_first_two_hours_raises() -> None:
    g = np.full(73, 120.0)
    g[(MINUTES == 60)] = np.nan
    with pytest.raises(InsufficientCgmError, match="gap"):
        meal_response(MINUTES, g)
    g = np.full(73, 120.0)
    g[MINUTES <= 0] = np.nan
    with pytest.raises(InsufficientCgmError, match="baseline"):
        meal_response(MINUTES, g)


def test_held_out_people_takes_a_share_of_each_cohort_and_never_a_cohort_of_one() -> None:
    pairs = [("a", f"p{i}") for i in range(10)] + [("b", "q0"), ("b", "q1"), ("c", "alone")]
    held = held_out_people(pairs, 0.2, seed=3)
    assert sum(p.startswith("p") for p in held) == 2
    assert sum(p.startswith("q") for p in held) == 1  # at least one of a cohort of two
    assert "alone" not in held_out_people(pairs, 0.9, seed=3)
    assert held_out_people(pairs, 0.0, seed=3) == []
    assert held == held_out_people(reversed(pairs), 0.2, seed=3)  # order of the pairs does not matter


def test_held_out_rows_marks_every_row_of_a_held_out_person() -> None:
    people = np.asarray(["a/x", "a/y", "a/x", "a/z", "b/u", "b/v", "b/u"], np.str_)
    rows = held_out_rows(people, 0.34, seed=0)
    held = set(people[rows])
    assert held == set(
        held_out_people((("a", "a/x"), ("a", "a/y"), ("a", "a/z"), ("b", "b/u"), ("b", "b/v")), 0.34, 0)
    )
    assert all(rows[i] == (p in held) for i, p in enumerate(people))
    assert (
        len({p for p in held if p.startswith("a/")}) == 1
        and len({p for p in held if p.startswith("b/")}) == 1
    )


def test_peak_rise_is_after_minute_zero_and_measured_peak_ignores_gaps() -> None:
    rise = np.array([[50.0, 10.0, 30.0, 20.0], [0.0, -5.0, -2.0, -9.0]])
    peak, minute = peak_rise(rise)
    assert peak.tolist() == [30.0, -2.0] and minute.tolist() == [10, 10]
    measured = np.array([[0.0, np.nan, 12.0, np.nan], [0.0, np.nan, np.nan, np.nan]], np.float32)
    got = measured_peak_rise(measured)
    assert got.dtype == np.float32 and got[0] == 12.0 and got[1] == -np.inf


def test_curve_rmse_is_over_the_meals_measured_at_that_minute() -> None:
    from glucose_model.metrics import curve_rmse_key, curve_rmse_mg_dl

    predicted = np.zeros((3, 37))
    measured = np.full((3, 37), np.nan)
    measured[0, 6], measured[1, 6] = 3.0, -4.0  # minute 30; the third meal is not measured then
    assert curve_rmse_mg_dl(predicted, measured, 30) == np.sqrt((9 + 16) / 2)
    assert curve_rmse_key(60) == "curve_rmse_60min_mg_dl"
