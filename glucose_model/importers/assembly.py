"""Readings as parsed from a file -> a sorted, de-duplicated `GlucoseSeries` and its `ImportReport`.

Every importer and cohort loader ends here, so duplicates, out-of-range values and gaps are
counted the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from glucose_model.records import (
    CENSORED_HIGH_MG_DL,
    CENSORED_LOW_MG_DL,
    GLUCOSE_MAX_MG_DL,
    GLUCOSE_MIN_MG_DL,
    MG_DL_PER_MMOL_L,
    ActivitySample,
    DiabetesKind,
    GlucoseSeries,
    ImportReport,
    InsulinDose,
    Meal,
    RecordError,
    Recording,
    SleepPeriod,
)


def assemble_series(
    times_utc_s: npt.ArrayLike,
    utc_offset_min: npt.ArrayLike,
    glucose_mg_dl: npt.ArrayLike,
    source: str,
    *,
    censored: npt.ArrayLike | None = None,
    markers_out_of_range: int = 0,
    other_rows: int = 0,
    notes: tuple[str, ...] = (),
    reportable_mg_dl: tuple[float, float] = (GLUCOSE_MIN_MG_DL, GLUCOSE_MAX_MG_DL),
) -> tuple[GlucoseSeries, ImportReport]:
    """Sort readings by time, drop and count out-of-range values and repeated timestamps.

    times_utc_s, utc_offset_min, glucose_mg_dl: (N,) readings in file order
    censored: (N,) int8, -1 where the reading was a sensor LOW, +1 a HIGH, 0 a measured value (default
        all 0); a censored reading's value is CENSORED_LOW/HIGH_MG_DL and it is kept and counted
    markers_out_of_range: sensor error codes the parser met (they carry no glucose, so they never
        reach this function as readings, but they are reported with the out-of-range values)
    reportable_mg_dl: the device's reportable range; a measured value outside it is no reading
        (a sensor reports beyond it only as LOW/HIGH), so it is dropped and counted as out of range
    A repeated timestamp keeps its first reading in file order. A gap is an interval longer
    than twice the median interval between kept readings.
    """
    times = np.asarray(times_utc_s, dtype=np.int64)
    offsets = np.asarray(utc_offset_min, dtype=np.int16)
    values = np.asarray(glucose_mg_dl, dtype=np.float64)
    flags = np.zeros(times.shape[0], np.int8) if censored is None else np.asarray(censored, np.int8)
    if flags.shape != times.shape:
        raise RecordError(f"censored flags {flags.shape} do not match the readings {times.shape}")
    # A censored reading holds its code value whatever the caller put there, so all sources agree.
    values = np.where(flags < 0, CENSORED_LOW_MG_DL, np.where(flags > 0, CENSORED_HIGH_MG_DL, values))
    read = int(times.shape[0]) + markers_out_of_range
    low, high = reportable_mg_dl
    in_range = (flags != 0) | (np.isfinite(values) & (values >= low) & (values <= high))
    out_of_range = int((~in_range).sum()) + markers_out_of_range
    times, offsets, values, flags = times[in_range], offsets[in_range], values[in_range], flags[in_range]
    order = np.argsort(times, kind="stable")
    times, offsets, values, flags = times[order], offsets[order], values[order], flags[order]
    first_of_time = np.ones(times.shape[0], dtype=bool)
    first_of_time[1:] = np.diff(times) > 0
    duplicates = int((~first_of_time).sum())
    times, offsets = times[first_of_time], offsets[first_of_time]
    values, flags = values[first_of_time], flags[first_of_time]
    gaps = 0
    if times.shape[0] > 2:
        intervals = np.diff(times)
        gaps = int((intervals > 2 * np.median(intervals)).sum())
    series = GlucoseSeries(times, offsets, values, source, flags)
    report = ImportReport(
        readings_read=read,
        readings_kept=int(times.shape[0]),
        out_of_range=out_of_range,
        duplicates=duplicates,
        gaps=gaps,
        other_rows=other_rows,
        censored_low=int((flags < 0).sum()),
        censored_high=int((flags > 0).sum()),
        notes=notes,
    )
    return series, report


def unit_factor(column_header: str) -> float | None:
    """mg/dL per value of a glucose column whose header names its unit ("Glucose Value (mmol/L)");
    None when the header names neither mmol/L nor mg/dL."""
    if "mmol/L" in column_header:
        return MG_DL_PER_MMOL_L
    if "mg/dL" in column_header:
        return 1.0
    return None


def reportable_range(low_mg_dl: float, high_mg_dl: float, factor: float) -> tuple[float, float]:
    """A sensor's reportable range for values written in a unit `factor` mg/dL each.

    mmol/L exports round to 0.1 (40 mg/dL is written 2.2 = 39.6 mg/dL), so the range widens by
    half that step, never by more.
    """
    slack = 0.05 * factor if factor != 1.0 else 0.0
    return (low_mg_dl - slack, high_mg_dl + slack)


@dataclass
class ExportContents:
    """What a parser collects from one export, in file order, before it becomes a `Recording`."""

    source: str
    times_utc_s: list[int] = field(default_factory=list)
    offsets_min: list[int] = field(default_factory=list)
    glucose_mg_dl: list[float] = field(default_factory=list)
    censored: list[int] = field(default_factory=list)  # -1 LOW, +1 HIGH, 0 measured, per reading
    fingerstick_times: list[datetime] = field(default_factory=list)
    fingerstick_mg_dl: list[float] = field(default_factory=list)
    markers_out_of_range: int = 0  # sensor error codes without a glucose value
    other_rows: int = 0
    # The device's reportable range (its values outside it are not readings); wide for unknown devices.
    reportable_mg_dl: tuple[float, float] = (GLUCOSE_MIN_MG_DL, GLUCOSE_MAX_MG_DL)
    notes: list[str] = field(default_factory=list)
    meals: list[Meal] = field(default_factory=list)
    insulin: list[InsulinDose] = field(default_factory=list)
    activity: list[ActivitySample] = field(default_factory=list)
    sleep: list[SleepPeriod] = field(default_factory=list)

    def note_cut(self, line: int | None) -> None:
        """Say that a partial file was read up to `line` (kept on request: --keep-partial)."""
        if line is not None:
            self.notes.append(
                f"the file is cut at line {line}: kept the {len(self.times_utc_s)} readings before it "
                "(--keep-partial); the rest of the export is missing"
            )

    def add_reading(self, time: datetime, glucose_mg_dl: float) -> None:
        self._add(time, glucose_mg_dl, 0)

    def add_censored(self, time: datetime, high: bool) -> None:
        """A sensor HIGH (`high`) or LOW: kept at CENSORED_HIGH/LOW_MG_DL, counted in the report."""
        self._add(time, CENSORED_HIGH_MG_DL if high else CENSORED_LOW_MG_DL, 1 if high else -1)

    def _add(self, time: datetime, glucose_mg_dl: float, censored: int) -> None:
        delta = time.utcoffset()
        if delta is None:
            raise RecordError(f"reading time {time.isoformat()} has no UTC offset")
        self.times_utc_s.append(int(time.timestamp()))
        self.offsets_min.append(int(delta.total_seconds() // 60))
        self.glucose_mg_dl.append(glucose_mg_dl)
        self.censored.append(censored)

    def to_recording(self, person_id: str = "imported", kind: DiabetesKind | None = None) -> Recording:
        series, report = assemble_series(
            self.times_utc_s,
            self.offsets_min,
            self.glucose_mg_dl,
            self.source,
            censored=self.censored,
            markers_out_of_range=self.markers_out_of_range,
            other_rows=self.other_rows,
            notes=tuple(self.notes),
            reportable_mg_dl=self.reportable_mg_dl,
        )
        fingersticks = None
        if self.fingerstick_times:
            fingersticks, _ = assemble_series(
                [int(t.timestamp()) for t in self.fingerstick_times],
                [int(t.utcoffset().total_seconds() // 60) for t in self.fingerstick_times],  # type: ignore[union-attr]
                self.fingerstick_mg_dl,
                f"{self.source}:fingerstick",
            )
        return Recording(
            person_id=person_id,
            glucose=series,
            kind=kind,
            meals=tuple(sorted(self.meals, key=lambda m: m.time)),
            insulin=tuple(sorted(self.insulin, key=lambda d: d.time)),
            activity=tuple(sorted(self.activity, key=lambda a: a.time)),
            sleep=tuple(sorted(self.sleep, key=lambda s: s.start)),
            cohort="import",
            report=report,
            fingersticks=fingersticks,
        )


def _concatenated(
    series: list[GlucoseSeries],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int16], npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """(N,) times, offsets, values and censored flags of several series, one after the other."""
    return (
        np.concatenate([np.zeros(0, np.int64), *(s.times_utc_s for s in series)]),
        np.concatenate([np.zeros(0, np.int16), *(s.utc_offset_min for s in series)]),
        np.concatenate([np.zeros(0, np.float64), *(s.glucose_mg_dl for s in series)]),
        np.concatenate(
            [np.zeros(0, np.int8)]
            + [np.zeros(len(s), np.int8) if s.censored is None else s.censored for s in series]
        ),
    )


def merge_recordings(
    parts: Sequence[Recording], person_id: str, kind: DiabetesKind | None, cohort: str
) -> Recording:
    """One person's recordings read from several exports (a Dexcom CSV and an Apple Health zip...) as one.

    The series are merged in time order through `assemble_series`, so a timestamp in two exports
    keeps the reading of the earlier part and counts the other as a duplicate; events are
    concatenated and sorted. The report sums the parts' counts (read, out of range, duplicates,
    other rows), counts the cross-export duplicates too, and recounts gaps on the merged series;
    each part's notes are kept, prefixed with its source.
    """
    if not parts:
        raise RecordError(f"person {person_id}: no recordings to merge")
    times, offsets, values, flags = _concatenated([p.glucose for p in parts])
    reports = [p.report for p in parts]
    series, merged = assemble_series(
        times, offsets, values, "+".join(p.glucose.source for p in parts), censored=flags
    )
    report = ImportReport(
        readings_read=sum(r.readings_read for r in reports),
        readings_kept=merged.readings_kept,
        out_of_range=sum(r.out_of_range for r in reports),
        duplicates=sum(r.duplicates for r in reports) + merged.duplicates,
        gaps=merged.gaps,
        other_rows=sum(r.other_rows for r in reports),
        censored_low=merged.censored_low,
        censored_high=merged.censored_high,
        notes=tuple(f"{p.glucose.source}: {note}" for p in parts for note in p.report.notes),
    )
    sticks = [p.fingersticks for p in parts if p.fingersticks is not None]
    fingersticks = None
    if sticks:
        s_times, s_offsets, s_values, _ = _concatenated(sticks)
        fingersticks, _ = assemble_series(s_times, s_offsets, s_values, "+".join(s.source for s in sticks))
    return Recording(
        person_id=person_id,
        glucose=series,
        kind=kind,
        meals=tuple(sorted((m for p in parts for m in p.meals), key=lambda m: m.time)),
        insulin=tuple(sorted((d for p in parts for d in p.insulin), key=lambda d: d.time)),
        activity=tuple(sorted((a for p in parts for a in p.activity), key=lambda a: a.time)),
        sleep=tuple(sorted((s for p in parts for s in p.sleep), key=lambda s: s.start)),
        cohort=cohort,
        report=report,
        fingersticks=fingersticks,
        notes=tuple(sorted((n for p in parts for n in p.notes), key=lambda n: n[0])),
    )
