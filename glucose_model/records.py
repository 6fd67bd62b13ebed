"""The canonical in-memory form of a person's glucose record: a CGM series and typed events.

Every importer produces these, every model and report consumes them. Glucose is in mg/dL,
carbohydrate in grams, times are timezone-aware (`datetime` with tzinfo) for events and
UTC epoch seconds plus the local UTC offset for the series, so that a time of day is always
known even across a daylight-saving change.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

MG_DL_PER_MMOL_L = 18.016  # DESIGN.md: 1 mmol/L glucose = 18.016 mg/dL

# Readings outside this range are not physiological or beyond every sensor's reporting range;
# importers count them, never keep them silently.
GLUCOSE_MIN_MG_DL = 20.0
GLUCOSE_MAX_MG_DL = 600.0
# A sensor's LOW (below its 40 mg/dL floor) or HIGH (above its 400 mg/dL ceiling) is a real reading
# that is very low or very high, so it is kept, at the value Dexcom Share, Nightscout and the
# Weinstock / GlucoBench files code it with: just outside the range, so every metric counts a LOW
# below 54 and a HIGH above 250 mg/dL. `ImportReport.censored_low/high` says how many there were.
CENSORED_LOW_MG_DL = 39.0
CENSORED_HIGH_MG_DL = 401.0


class RecordError(ValueError):
    """A glucose record or event is inconsistent (the message says what and how to fix it)."""


class UnknownTimeZoneError(RecordError):
    """A time-zone name that is not an IANA zone (Europe/Zurich)."""


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone of that name; every way a name can fail is one named error.

    ZoneInfo reads the name as a file path: a region folder ("America") raises IsADirectoryError and
    a very long name OSError, besides its own ZoneInfoNotFoundError and ValueError.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise UnknownTimeZoneError(f"{name!r} is no IANA time zone; give one such as Europe/Zurich") from err


class InsufficientCgmError(RecordError):
    """Too few CGM readings (or too large a gap) in the window a computation needs."""


class DiabetesKind(enum.StrEnum):
    """Who the person is, as the models and the spike threshold need it."""

    NONE = "none"
    PREDIABETES = "prediabetes"
    TYPE2 = "type2"
    TYPE1 = "type1"

    @property
    def spike_threshold_mg_dl(self) -> float:
        # ADA post-meal target for diabetes; 140 mg/dL for people without diabetes (DESIGN.md).
        return 140.0 if self in (DiabetesKind.NONE, DiabetesKind.PREDIABETES) else 180.0


# The kinds in their one order (the model's kind_* inputs, the metadata's thresholds, simulated shares).
KIND_ORDER = (DiabetesKind.NONE, DiabetesKind.PREDIABETES, DiabetesKind.TYPE2, DiabetesKind.TYPE1)
# A kind as cohort files and --people write it: its value, or "healthy" for NONE.
KIND_NAMES = {"healthy": DiabetesKind.NONE, **{k.value: k for k in KIND_ORDER}}


def equal_kind_shares(people: int) -> tuple[tuple[DiabetesKind, int], ...]:
    """`people` split into the four kinds in equal shares, the first kinds of `KIND_ORDER` taking the rest."""
    return tuple((k, people // 4 + (1 if i < people % 4 else 0)) for i, k in enumerate(KIND_ORDER))


def mmol_l_to_mg_dl(glucose_mmol_l: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(glucose_mmol_l, dtype=np.float64) * MG_DL_PER_MMOL_L


def mg_dl_to_mmol_l(glucose_mg_dl: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(glucose_mg_dl, dtype=np.float64) / MG_DL_PER_MMOL_L


def require_aware(time: datetime, what: str) -> datetime:
    if time.tzinfo is None or time.utcoffset() is None:
        raise RecordError(
            f"{what} time {time.isoformat()} has no UTC offset; give it as ISO 8601 with an offset"
        )
    return time


@dataclass(frozen=True)
class GlucoseSeries:
    """CGM readings in time order.

    times_utc_s: (T,) int64 seconds since the Unix epoch, strictly increasing
    utc_offset_min: (T,) int16 local offset of each reading (minutes east of UTC)
    glucose_mg_dl: (T,) float64; NaN only on a resampled grid, where it marks a gap
    censored: (T,) int8 or None; -1 where the reading was the sensor's LOW, +1 its HIGH (the value is then
        CENSORED_LOW/HIGH_MG_DL, a bound, not a measurement), 0 a measured value. Set by the importers;
        None (nothing known to be censored) on series built otherwise, resampled ones included.
    """

    times_utc_s: npt.NDArray[np.int64]
    utc_offset_min: npt.NDArray[np.int16]
    glucose_mg_dl: npt.NDArray[np.float64]
    source: str = "unknown"
    censored: npt.NDArray[np.int8] | None = None

    def __post_init__(self) -> None:
        n = self.times_utc_s.shape[0]
        if (
            self.times_utc_s.ndim != 1
            or self.utc_offset_min.shape != (n,)
            or self.glucose_mg_dl.shape != (n,)
            or (self.censored is not None and self.censored.shape != (n,))
        ):
            raise RecordError(
                f"glucose series arrays must be 1-D and equal length, got times {self.times_utc_s.shape}, "
                f"offsets {self.utc_offset_min.shape}, values {self.glucose_mg_dl.shape}"
            )
        if n > 1 and np.any(np.diff(self.times_utc_s) <= 0):
            first = int(np.flatnonzero(np.diff(self.times_utc_s) <= 0)[0]) + 1
            raise RecordError(
                f"glucose readings are not in strictly increasing time order at reading {first}"
            )

    @classmethod
    def from_datetimes(
        cls, times: Sequence[datetime], glucose_mg_dl: npt.ArrayLike, source: str = "unknown"
    ) -> GlucoseSeries:
        """Build a series from aware datetimes (sorted by the caller)."""
        for t in times:
            require_aware(t, "glucose reading")
        times_utc_s = np.array([int(t.timestamp()) for t in times], dtype=np.int64)
        offsets = np.array(
            [int(t.utcoffset().total_seconds() // 60) for t in times],  # type: ignore[union-attr]
            dtype=np.int16,
        )
        return cls(times_utc_s, offsets, np.asarray(glucose_mg_dl, dtype=np.float64), source)

    def __len__(self) -> int:
        return int(self.times_utc_s.shape[0])

    def datetime_at(self, index: int) -> datetime:
        """The aware local datetime of reading `index`."""
        tz = timezone(timedelta(minutes=int(self.utc_offset_min[index])))
        return datetime.fromtimestamp(int(self.times_utc_s[index]), tz=UTC).astimezone(tz)

    def local_minute_of_day(self) -> npt.NDArray[np.int64]:
        """(T,) minutes since local midnight of each reading."""
        local_s = self.times_utc_s + self.utc_offset_min.astype(np.int64) * 60
        return (local_s % 86400) // 60

    def between(self, start: datetime, end: datetime) -> GlucoseSeries:
        """The readings with start <= time < end."""
        lo, hi = int(require_aware(start, "start").timestamp()), int(require_aware(end, "end").timestamp())
        keep = (self.times_utc_s >= lo) & (self.times_utc_s < hi)
        return GlucoseSeries(
            self.times_utc_s[keep],
            self.utc_offset_min[keep],
            self.glucose_mg_dl[keep],
            self.source,
            None if self.censored is None else self.censored[keep],
        )


@dataclass(frozen=True)
class Meal:
    """A meal or snack. Composition fields are None when unknown, never silently zero."""

    time: datetime
    carbs_g: float
    sugars_g: float | None = None
    fiber_g: float | None = None
    fat_g: float | None = None
    protein_g: float | None = None
    kcal: float | None = None
    glycemic_index: float | None = None  # 0-100, glucose = 100
    description: str | None = None
    # Where the carbohydrate came from ("logged", "photo", "usda-match"...) and how sure it is (0-1).
    carbs_source: str = "logged"
    carbs_confidence: float | None = None
    carbs_p10_g: float | None = None  # interval, when the carbohydrate is an estimate (photo)
    carbs_p90_g: float | None = None
    photo_path: str | None = None  # the meal photo, when the cohort has one (D1NAMO)

    def __post_init__(self) -> None:
        require_aware(self.time, "meal")
        for name in ("carbs_g", "sugars_g", "fiber_g", "fat_g", "protein_g", "kcal"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise RecordError(f"meal {name} must be a finite non-negative number, got {value}")


class InsulinKind(enum.StrEnum):
    RAPID = "rapid"  # bolus: rapid- or short-acting
    BASAL = "basal"  # long-acting


@dataclass(frozen=True)
class InsulinDose:
    time: datetime
    units: float
    kind: InsulinKind = InsulinKind.RAPID

    def __post_init__(self) -> None:
        require_aware(self.time, "insulin dose")
        if not (np.isfinite(self.units) and self.units >= 0):
            raise RecordError(f"insulin units must be a finite non-negative number, got {self.units}")


@dataclass(frozen=True)
class ActivitySample:
    """Activity over [time, time + duration_min): steps taken and/or mean heart rate."""

    time: datetime
    duration_min: float
    steps: float | None = None
    heart_rate_bpm: float | None = None

    def __post_init__(self) -> None:
        require_aware(self.time, "activity")
        if not self.duration_min > 0:
            raise RecordError(f"activity duration must be positive, got {self.duration_min} min")


@dataclass(frozen=True)
class SleepPeriod:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        require_aware(self.start, "sleep start")
        require_aware(self.end, "sleep end")
        if self.end <= self.start:
            raise RecordError(
                f"sleep ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})"
            )

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0


@dataclass(frozen=True)
class ImportReport:
    """What an importer saw and did: nothing is dropped without being counted here."""

    readings_read: int = 0
    readings_kept: int = 0
    out_of_range: int = 0  # below GLUCOSE_MIN_MG_DL, above GLUCOSE_MAX_MG_DL, or a sensor error code
    duplicates: int = 0  # same timestamp as a kept reading
    gaps: int = 0  # intervals between consecutive readings longer than 2 sampling periods
    other_rows: int = 0  # rows of other kinds (calibrations, notes...) not used for the series
    # Kept readings that were a sensor LOW / HIGH, in the series as CENSORED_LOW/HIGH_MG_DL.
    censored_low: int = 0
    censored_high: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recording:
    """One person's record: CGM plus everything known around it."""

    person_id: str
    glucose: GlucoseSeries
    kind: DiabetesKind | None = None
    meals: tuple[Meal, ...] = ()
    insulin: tuple[InsulinDose, ...] = ()
    activity: tuple[ActivitySample, ...] = ()
    sleep: tuple[SleepPeriod, ...] = ()
    cohort: str = "unknown"
    report: ImportReport = field(default_factory=ImportReport)
    # Capillary finger-stick readings, kept apart from the CGM series (they calibrate or check it).
    fingersticks: GlucoseSeries | None = None
    # Free-text notes of the record that no typed field holds (oral drugs in Shanghai...), by time.
    notes: tuple[tuple[datetime, str], ...] = ()
