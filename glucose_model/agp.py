"""The Ambulatory Glucose Profile (Battelino 2019): modal-day percentiles, daily profiles, targets.

The consensus summary numbers themselves come from `glucose_model.metrics`; this module adds the
time-of-day statistics the AGP graph and the daily panels draw, and the targets they are read against.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt

from glucose_model.metrics import CgmSummary, summarize_cgm, time_in_ranges_percent
from glucose_model.records import GlucoseSeries, InsufficientCgmError, Recording

# Consensus: 14 days of CGM give metrics that represent the next 3 months; shorter reports say so.
RECOMMENDED_DAYS = 14
# Consensus: at least 70 % of the possible readings over those days.
RECOMMENDED_SENSOR_WEAR_PERCENT = 70.0
# An AGP of less than a day has no modal day to speak of. A day is covered when its readings and the
# interval after the last one fill it: 288 five-minute readings are a full day.
MIN_REPORT_HOURS = 24.0

# The modal day: percentiles every 15 min over the readings within +-30 min of that time of day,
# pooled over all days (the smoothing keeps 15-min sensors, one reading per bin a day, readable).
MODAL_DAY_STEP_MIN = 15
MODAL_DAY_WINDOW_MIN = 60
MODAL_DAY_PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)
# Fewer pooled readings than this and the 5-95 % band would be two single readings: left blank.
MODAL_DAY_MIN_READINGS = 5

# Consensus targets for most adults with type 1 or type 2 diabetes (Battelino 2019, table 2).
TARGET_IN_RANGE_ABOVE_PERCENT = 70.0
TARGET_BELOW_70_UNDER_PERCENT = 4.0
TARGET_BELOW_54_UNDER_PERCENT = 1.0
TARGET_ABOVE_180_UNDER_PERCENT = 25.0
TARGET_ABOVE_250_UNDER_PERCENT = 5.0
TARGET_CV_AT_MOST_PERCENT = 36.0

MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class ModalDay:
    """Glucose percentiles by time of day, all days pooled.

    minute_of_day: (B,) int64, 0, 15, ..., 1425 (local time)
    percentiles_mg_dl: (P, B) float64, rows in MODAL_DAY_PERCENTILES order; NaN where too few readings
    readings: (B,) int64, how many readings were pooled at each time of day
    """

    minute_of_day: npt.NDArray[np.int64]
    percentiles_mg_dl: npt.NDArray[np.float64]
    readings: npt.NDArray[np.int64]

    def percentile(self, q: float) -> npt.NDArray[np.float64]:
        """(B,) the curve of percentile `q` (one of MODAL_DAY_PERCENTILES)."""
        return self.percentiles_mg_dl[MODAL_DAY_PERCENTILES.index(q)]


@dataclass(frozen=True)
class DailyProfile:
    """One local calendar day of readings.

    minute_of_day: (N,) float64 local minutes since midnight; glucose_mg_dl: (N,) float64, with NaN
    inserted where readings are further apart than two sampling intervals so a drawn line breaks there.
    """

    day: date
    minute_of_day: npt.NDArray[np.float64]
    glucose_mg_dl: npt.NDArray[np.float64]
    time_in_range_percent: float  # 70-180 mg/dL over this day's readings

    @property
    def readings(self) -> int:
        return int(np.isfinite(self.glucose_mg_dl).sum())


@dataclass(frozen=True)
class TargetCheck:
    """One consensus target and whether this record meets it."""

    metric: str  # a CgmSummary field name, or time_below_70_percent / time_above_180_percent (sums)
    target: str  # "> 70 %", "< 4 %", "<= 36 %"
    value_percent: float
    met: bool


@dataclass(frozen=True)
class ReportPeriod:
    """Which readings a report covers: the latest `days` before the last reading (the consensus
    period, 14 days by default), or the local calendar days `first_day` to `last_day` (inclusive;
    either open end reaches the record's)."""

    days: int = RECOMMENDED_DAYS
    first_day: date | None = None
    last_day: date | None = None

    def __post_init__(self) -> None:
        if self.days < 1:
            raise InsufficientCgmError(f"a report covers at least 1 day, asked for {self.days}")
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise InsufficientCgmError(
                f"the period ends ({self.last_day}) before it starts ({self.first_day})"
            )

    @property
    def by_dates(self) -> bool:
        return self.first_day is not None or self.last_day is not None


def select_period(
    series: GlucoseSeries, period: ReportPeriod, interval_min: float
) -> tuple[GlucoseSeries, float]:
    """The readings of `series` in `period`, and the period's length in days (what wear is counted over).

    Latest `days`: the readings after (last reading - days); the period is that long, or as long as
    the record (first to last reading plus one interval) when the record is shorter.
    Dates: the readings on those local calendar days; the period is every day asked for, within the
    record's first and last day when an end is open.
    """
    local_day = (series.times_utc_s + series.utc_offset_min.astype(np.int64) * 60) // 86400  # (N,)
    if period.by_dates:
        epoch = date(1970, 1, 1)
        first = (period.first_day - epoch).days if period.first_day else int(local_day.min())
        last = (period.last_day - epoch).days if period.last_day else int(local_day.max())
        keep = (local_day >= first) & (local_day <= last)
        chosen = _subset(series, keep)
        if len(chosen) == 0:
            raise InsufficientCgmError(
                f"no CGM readings from {epoch + timedelta(days=first)} to {epoch + timedelta(days=last)}; "
                f"the record runs from {epoch + timedelta(days=int(local_day.min()))} to "
                f"{epoch + timedelta(days=int(local_day.max()))}"
            )
        return chosen, float(last - first + 1)
    end = int(series.times_utc_s[-1])
    keep = series.times_utc_s > end - period.days * 86400
    chosen = _subset(series, keep)
    covered_s = float(chosen.times_utc_s[-1] - chosen.times_utc_s[0]) + interval_min * 60.0
    return chosen, min(float(period.days), covered_s / 86400.0)


def _subset(series: GlucoseSeries, keep: npt.NDArray[np.bool_]) -> GlucoseSeries:
    censored = None if series.censored is None else series.censored[keep]
    return GlucoseSeries(
        series.times_utc_s[keep],
        series.utc_offset_min[keep],
        series.glucose_mg_dl[keep],
        series.source,
        censored,
    )


@dataclass(frozen=True)
class AmbulatoryGlucoseProfile:
    summary: CgmSummary
    modal_day: ModalDay
    days: tuple[DailyProfile, ...]
    start: datetime  # first reading, local time
    end: datetime  # last reading, local time
    interval_min: float  # the sensor's sampling interval
    targets: tuple[TargetCheck, ...]
    # Readings beyond the sensor's range (LOW / HIGH), in the series as records.CENSORED_LOW/HIGH_MG_DL:
    # the report says how many, since their true values (and so the mean) are only bounded.
    censored_low_readings: int = 0
    censored_high_readings: int = 0
    # The whole record's span in days, of which the report covers summary.days_covered.
    record_days: float = 0.0
    period: ReportPeriod = ReportPeriod()

    @property
    def shorter_than_recommended(self) -> bool:
        return self.summary.days_covered < RECOMMENDED_DAYS

    @property
    def wear_below_recommended(self) -> bool:
        return self.summary.sensor_wear_percent < RECOMMENDED_SENSOR_WEAR_PERCENT


def compute_modal_day(series: GlucoseSeries) -> ModalDay:
    """Percentiles of the valid readings by local time of day (see MODAL_DAY_* for the pooling)."""
    valid = np.isfinite(series.glucose_mg_dl)
    minutes = series.local_minute_of_day()[valid].astype(np.int64)  # (N,)
    values = series.glucose_mg_dl[valid]  # (N,)
    centres = np.arange(0, MINUTES_PER_DAY, MODAL_DAY_STEP_MIN, dtype=np.int64)  # (B,)
    half = MODAL_DAY_WINDOW_MIN // 2
    out = np.full((len(MODAL_DAY_PERCENTILES), centres.shape[0]), np.nan)
    counts = np.zeros(centres.shape[0], np.int64)
    for b, centre in enumerate(centres):
        # Signed distance on the 24-h circle, so 23:50 pools with 00:10.
        distance = (minutes - centre + MINUTES_PER_DAY // 2) % MINUTES_PER_DAY - MINUTES_PER_DAY // 2
        pooled = values[(distance >= -half) & (distance < half)]
        counts[b] = pooled.shape[0]
        if pooled.shape[0] >= MODAL_DAY_MIN_READINGS:
            out[:, b] = np.percentile(pooled, MODAL_DAY_PERCENTILES)
    return ModalDay(centres, out, counts)


def split_days(series: GlucoseSeries, interval_min: float) -> tuple[DailyProfile, ...]:
    """The valid readings grouped by local calendar day, in order."""
    valid = np.isfinite(series.glucose_mg_dl)
    local_s = (series.times_utc_s + series.utc_offset_min.astype(np.int64) * 60)[valid]  # (N,)
    values = series.glucose_mg_dl[valid]
    day_index = local_s // 86400
    days = []
    for d in np.unique(day_index):
        keep = day_index == d
        seconds, glucose = local_s[keep], values[keep]
        minute = (seconds % 86400) / 60.0
        # Break the drawn line across gaps: a NaN point in the middle of each long interval.
        gap_after = np.flatnonzero(np.diff(seconds) > 2 * interval_min * 60)
        minute = np.insert(minute, gap_after + 1, minute[gap_after] + interval_min)
        glucose = np.insert(glucose, gap_after + 1, np.nan)
        tir = float(time_in_ranges_percent(values[keep])[2])
        days.append(DailyProfile(date(1970, 1, 1) + timedelta(days=int(d)), minute, glucose, tir))
    return tuple(days)


def check_targets(summary: CgmSummary) -> tuple[TargetCheck, ...]:
    """The consensus targets, each with this record's value and whether it is met."""
    below_70 = summary.time_below_54_percent + summary.time_54_69_percent
    above_180 = summary.time_181_250_percent + summary.time_above_250_percent
    rows = (
        (
            "time_in_range_70_180_percent",
            ">",
            TARGET_IN_RANGE_ABOVE_PERCENT,
            summary.time_in_range_70_180_percent,
        ),
        ("time_below_70_percent", "<", TARGET_BELOW_70_UNDER_PERCENT, below_70),
        ("time_below_54_percent", "<", TARGET_BELOW_54_UNDER_PERCENT, summary.time_below_54_percent),
        ("time_above_180_percent", "<", TARGET_ABOVE_180_UNDER_PERCENT, above_180),
        ("time_above_250_percent", "<", TARGET_ABOVE_250_UNDER_PERCENT, summary.time_above_250_percent),
        ("cv_percent", "<=", TARGET_CV_AT_MOST_PERCENT, summary.cv_percent),
    )
    checks = []
    for metric, op, limit, value in rows:
        met = {">": value > limit, "<": value < limit, "<=": value <= limit}[op]
        checks.append(TargetCheck(metric, f"{op} {limit:g} %", float(value), bool(met)))
    return tuple(checks)


def local_datetime(series: GlucoseSeries, index: int) -> datetime:
    """The aware local time of reading `index` (negative indexes count from the end)."""
    i = int(np.arange(len(series))[index])
    tz = timezone(timedelta(minutes=int(series.utc_offset_min[i])))
    return datetime.fromtimestamp(int(series.times_utc_s[i]), tz=UTC).astimezone(tz)


def build_profile(
    series: GlucoseSeries,
    interval_min: float | None = None,
    censored_low_readings: int | None = None,
    censored_high_readings: int | None = None,
    period: ReportPeriod | None = None,
) -> AmbulatoryGlucoseProfile:
    """Everything an AGP report shows about `series` over `period` (raw readings; NaN ignored).

    interval_min: the sampling interval for sensor wear; default the median interval between readings.
    censored_low_readings, censored_high_readings: how many readings in the period are a sensor LOW /
        HIGH; default counted from `series.censored` (0 when the series carries no flags).
    period: default the consensus period, the latest RECOMMENDED_DAYS days. `summary.days_covered` is
        the period's length and `summary.sensor_wear_percent` the share of it with readings.
    Raises InsufficientCgmError when the period's readings cover less than MIN_REPORT_HOURS.
    """
    period = period or ReportPeriod()
    valid = np.isfinite(series.glucose_mg_dl)
    everything = _subset(series, valid)
    if len(everything) == 0:
        raise InsufficientCgmError("an AGP report needs CGM readings; the record has none")
    if interval_min is None:
        interval_min = (
            float(np.median(np.diff(everything.times_utc_s))) / 60.0 if len(everything) > 1 else 5.0
        )
    kept, period_days = select_period(everything, period, interval_min)
    covered_h = (float(kept.times_utc_s[-1] - kept.times_utc_s[0]) / 60.0 + interval_min) / 60.0
    if len(kept) < 2 or covered_h < MIN_REPORT_HOURS - 1e-9:
        raise InsufficientCgmError(
            f"an AGP report needs at least {MIN_REPORT_HOURS:g} h of CGM readings, got {covered_h:.1f} h "
            f"({len(kept)} valid readings, one every {interval_min:g} min) in the period; send a longer "
            f"record ({RECOMMENDED_DAYS} days are recommended)"
        )
    summary = summarize_cgm(kept, interval_min)
    expected = period_days * MINUTES_PER_DAY / interval_min
    summary = dataclasses.replace(
        summary,
        days_covered=period_days,
        sensor_wear_percent=min(100.0, 100.0 * len(kept) / expected),
    )
    flags = kept.censored if kept.censored is not None else np.zeros(len(kept), np.int8)
    return AmbulatoryGlucoseProfile(
        summary=summary,
        modal_day=compute_modal_day(kept),
        days=split_days(kept, interval_min),
        start=local_datetime(kept, 0),
        end=local_datetime(kept, -1),
        interval_min=interval_min,
        targets=check_targets(summary),
        censored_low_readings=int((flags < 0).sum())
        if censored_low_readings is None
        else censored_low_readings,
        censored_high_readings=int((flags > 0).sum())
        if censored_high_readings is None
        else censored_high_readings,
        record_days=float(everything.times_utc_s[-1] - everything.times_utc_s[0]) / 86400.0,
        period=period,
    )


def build_recording_profile(
    recording: Recording, period: ReportPeriod | None = None
) -> AmbulatoryGlucoseProfile:
    """`build_profile` of a recording's CGM over `period` (default the latest 14 days)."""
    return build_profile(recording.glucose, period=period)
