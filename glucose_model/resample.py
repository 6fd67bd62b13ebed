"""CGM series onto a regular 5-minute clock grid, with explicit gap handling.

Short gaps between readings are linearly interpolated; long gaps stay NaN and are never bridged.
This is the one definition of resampling used by windows, training, evaluation and serving.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from glucose_model.records import GlucoseSeries, RecordError

GRID_STEP_MIN = 5
# Two readings at most this far apart are joined by a straight line. 20 min covers 15-min
# sensors (Shanghai) and up to three missed 5-min readings; longer gaps are left as gaps because
# glucose can move by tens of mg/dL in that time and a straight line would invent a trace.
MAX_INTERPOLATED_GAP_MIN = 20


@dataclass(frozen=True)
class ResampledGlucose:
    """A series on the clock grid plus where its values came from.

    series: GlucoseSeries on the grid (times are multiples of step_min since the epoch, so
        :00, :05, :10 ... in every time zone with a whole-quarter-hour offset); NaN marks a gap
    measured: (T,) bool, a reading fell exactly on this grid time
    interpolated: (T,) bool, value interpolated across a short gap
    """

    series: GlucoseSeries
    measured: npt.NDArray[np.bool_]
    interpolated: npt.NDArray[np.bool_]
    step_min: int = GRID_STEP_MIN

    @property
    def valid(self) -> npt.NDArray[np.bool_]:
        """(T,) bool, the grid time has a value (measured or interpolated)."""
        return np.isfinite(self.series.glucose_mg_dl)

    @property
    def glucose_mg_dl(self) -> npt.NDArray[np.float64]:
        return self.series.glucose_mg_dl

    @property
    def times_utc_s(self) -> npt.NDArray[np.int64]:
        return self.series.times_utc_s

    def index_of(self, time_utc_s: int) -> int:
        """Index of the grid time nearest to `time_utc_s` (may lie outside 0..T-1)."""
        if len(self.series) == 0:
            raise RecordError("the resampled series is empty")
        step_s = self.step_min * 60
        start_s = int(self.series.times_utc_s[0])
        return (nearest_grid_time_s(time_utc_s, self.step_min) - start_s) // step_s


def nearest_grid_time_s(time_utc_s: int, step_min: int = GRID_STEP_MIN) -> int:
    """The clock-grid time (a multiple of step_min since the epoch) nearest `time_utc_s`; halves round up."""
    step_s = step_min * 60
    return int(np.floor(time_utc_s / step_s + 0.5)) * step_s


def resample_to_grid(
    series: GlucoseSeries,
    step_min: int = GRID_STEP_MIN,
    max_gap_min: float = MAX_INTERPOLATED_GAP_MIN,
) -> ResampledGlucose:
    """Put `series` on the clock grid from its first to its last reading.

    A grid time gets the reading at that exact second if there is one; otherwise, if the readings
    just before and just after are at most `max_gap_min` apart, the straight line between them;
    otherwise NaN. NaN readings in the input count as absent. A series already on the grid comes
    back unchanged.
    """
    if step_min <= 0:
        raise RecordError(f"grid step must be positive, got {step_min} min")
    keep = np.isfinite(series.glucose_mg_dl)
    times = series.times_utc_s[keep]
    values = series.glucose_mg_dl[keep]
    offsets = series.utc_offset_min[keep]
    step_s = step_min * 60
    if times.shape[0] == 0:
        empty = GlucoseSeries(
            np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.float64), series.source
        )
        return ResampledGlucose(empty, np.zeros(0, bool), np.zeros(0, bool), step_min)
    first = -(-int(times[0]) // step_s) * step_s  # ceil to the grid
    last = (int(times[-1]) // step_s) * step_s
    grid = np.arange(first, last + 1, step_s, dtype=np.int64)  # (G,)
    # Index of the last reading at or before each grid time, and of the first at or after.
    before = np.searchsorted(times, grid, side="right") - 1  # (G,)
    after = np.searchsorted(times, grid, side="left")  # (G,)
    exact = (after < times.shape[0]) & (times[np.minimum(after, times.shape[0] - 1)] == grid)
    glucose = np.full(grid.shape[0], np.nan)
    glucose[exact] = values[after[exact]]
    inside = ~exact & (before >= 0) & (after < times.shape[0])
    b, a = before[inside], after[inside]
    span_s = (times[a] - times[b]).astype(np.float64)
    short = span_s <= max_gap_min * 60
    weight = (grid[inside] - times[b]) / span_s
    interpolated_values = values[b] + weight * (values[a] - values[b])
    interpolated = np.zeros(grid.shape[0], bool)
    idx = np.flatnonzero(inside)[short]
    glucose[idx] = interpolated_values[short]
    interpolated[idx] = True
    # Each grid time carries the local offset of the reading at or before it.
    grid_offsets = offsets[np.maximum(before, 0)].astype(np.int16)
    resampled = GlucoseSeries(grid, grid_offsets, glucose, series.source)
    return ResampledGlucose(resampled, exact, interpolated, step_min)


def gap_lengths_min(series: GlucoseSeries, expected_interval_min: float) -> npt.NDArray[np.float64]:
    """(K,) lengths in minutes of the intervals between readings longer than 2 expected intervals.

    This is the definition of a "gap" that `ImportReport.gaps` counts.
    """
    if len(series) < 2:
        return np.zeros(0)
    intervals_min = np.diff(series.times_utc_s) / 60.0
    return intervals_min[intervals_min > 2 * expected_interval_min].astype(np.float64)


def typical_interval_min(series: GlucoseSeries) -> float:
    """The sensor's sampling interval: the median interval between readings, in minutes."""
    if len(series) < 2:
        raise RecordError("need at least two readings to know the sampling interval")
    return float(np.median(np.diff(series.times_utc_s))) / 60.0
