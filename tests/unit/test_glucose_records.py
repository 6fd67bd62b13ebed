"""The canonical record types: validation, unit conversion and time handling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glucose_model.records import (
    MG_DL_PER_MMOL_L,
    DiabetesKind,
    GlucoseSeries,
    InsulinDose,
    Meal,
    RecordError,
    SleepPeriod,
    UnknownTimeZoneError,
    mg_dl_to_mmol_l,
    mmol_l_to_mg_dl,
    time_zone,
)

CET = timezone(timedelta(hours=1))


def test_spike_threshold_follows_the_consensus() -> None:
    assert DiabetesKind.NONE.spike_threshold_mg_dl == 140.0
    assert DiabetesKind.PREDIABETES.spike_threshold_mg_dl == 140.0
    assert DiabetesKind.TYPE2.spike_threshold_mg_dl == 180.0
    assert DiabetesKind.TYPE1.spike_threshold_mg_dl == 180.0


@given(st.floats(min_value=0.5, max_value=40.0))
def test_mmol_round_trip(glucose_mmol_l: float) -> None:
    back = mg_dl_to_mmol_l(mmol_l_to_mg_dl(glucose_mmol_l))
    assert float(back) == pytest.approx(glucose_mmol_l, rel=1e-12)
    assert float(mmol_l_to_mg_dl(glucose_mmol_l)) == pytest.approx(glucose_mmol_l * MG_DL_PER_MMOL_L)


def test_series_keeps_local_time_of_day_across_offsets() -> None:
    times = [
        datetime(2024, 3, 31, 1, 0, tzinfo=CET),
        datetime(2024, 3, 31, 3, 5, tzinfo=timezone(timedelta(hours=2))),  # after the DST change
    ]
    series = GlucoseSeries.from_datetimes(times, [100.0, 110.0], source="test")
    assert series.local_minute_of_day().tolist() == [60, 185]
    assert series.datetime_at(1) == times[1]
    assert series.datetime_at(1).utcoffset() == timedelta(hours=2)


def test_series_rejects_unsorted_and_naive_times() -> None:
    t0 = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(RecordError, match="increasing time order at reading 1"):
        GlucoseSeries.from_datetimes([t0, t0], [100.0, 101.0])
    with pytest.raises(RecordError, match="no UTC offset"):
        GlucoseSeries.from_datetimes([datetime(2024, 1, 1, 8, 0)], [100.0])


def test_between_selects_half_open_interval() -> None:
    t0 = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    times = [t0 + timedelta(minutes=5 * i) for i in range(10)]
    series = GlucoseSeries.from_datetimes(times, np.arange(10.0) + 100)
    part = series.between(times[2], times[5])
    assert part.glucose_mg_dl.tolist() == [102.0, 103.0, 104.0]


def test_events_validate_their_fields() -> None:
    t0 = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(RecordError, match="carbs_g"):
        Meal(time=t0, carbs_g=-1.0)
    with pytest.raises(RecordError, match="fat_g"):
        Meal(time=t0, carbs_g=10.0, fat_g=float("nan"))
    with pytest.raises(RecordError, match="insulin units"):
        InsulinDose(time=t0, units=-2.0)
    with pytest.raises(RecordError, match="before it starts"):
        SleepPeriod(start=t0, end=t0 - timedelta(hours=1))
    assert SleepPeriod(start=t0, end=t0 + timedelta(hours=7, minutes=30)).hours == 7.5
    assert Meal(time=t0, carbs_g=45.0).fiber_g is None  # unknown stays unknown, not zero


@pytest.mark.parametrize("name", ["Mars/Olympus", "America", "Etc", "x" * 300, "../etc/passwd", ""])
def test_every_bad_time_zone_name_is_one_named_error(name: str) -> None:
    # ZoneInfo reads names as paths: a region folder raised IsADirectoryError, a long name OSError.
    with pytest.raises(UnknownTimeZoneError, match="IANA"):
        time_zone(name)


def test_a_real_zone_is_returned() -> None:
    assert time_zone("Asia/Seoul").utcoffset(datetime(2026, 1, 1)) == timedelta(hours=9)
