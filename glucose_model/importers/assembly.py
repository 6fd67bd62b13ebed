"""Readings as parsed from a file -> a sorted, de-duplicated `GlucoseSeries` and its `ImportReport`.

Every importer and cohort loader ends here, so duplicates, out-of-range values and gaps are
counted the same way everywhere.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from glucose_model.records import GLUCOSE_MAX_MG_DL, GLUCOSE_MIN_MG_DL, GlucoseSeries, ImportReport


def assemble_series(
    times_utc_s: npt.ArrayLike,
    utc_offset_min: npt.ArrayLike,
    glucose_mg_dl: npt.ArrayLike,
    source: str,
    *,
    markers_out_of_range: int = 0,
    other_rows: int = 0,
    notes: tuple[str, ...] = (),
) -> tuple[GlucoseSeries, ImportReport]:
    """Sort readings by time, drop and count out-of-range values and repeated timestamps.

    times_utc_s, utc_offset_min, glucose_mg_dl: (N,) readings in file order
    markers_out_of_range: LOW/HIGH markers the parser met (they have no number, so they never
        reach this function as readings, but they are reported with the out-of-range values)
    A repeated timestamp keeps its first reading in file order. A gap is an interval longer
    than twice the median interval between kept readings.
    """
    times = np.asarray(times_utc_s, dtype=np.int64)
    offsets = np.asarray(utc_offset_min, dtype=np.int16)
    values = np.asarray(glucose_mg_dl, dtype=np.float64)
    read = int(times.shape[0]) + markers_out_of_range
    in_range = np.isfinite(values) & (values >= GLUCOSE_MIN_MG_DL) & (values <= GLUCOSE_MAX_MG_DL)
    out_of_range = int((~in_range).sum()) + markers_out_of_range
    times, offsets, values = times[in_range], offsets[in_range], values[in_range]
    order = np.argsort(times, kind="stable")
    times, offsets, values = times[order], offsets[order], values[order]
    first_of_time = np.ones(times.shape[0], dtype=bool)
    first_of_time[1:] = np.diff(times) > 0
    duplicates = int((~first_of_time).sum())
    times, offsets, values = times[first_of_time], offsets[first_of_time], values[first_of_time]
    gaps = 0
    if times.shape[0] > 2:
        intervals = np.diff(times)
        gaps = int((intervals > 2 * np.median(intervals)).sum())
    series = GlucoseSeries(times, offsets, values, source)
    report = ImportReport(
        readings_read=read,
        readings_kept=int(times.shape[0]),
        out_of_range=out_of_range,
        duplicates=duplicates,
        gaps=gaps,
        other_rows=other_rows,
        notes=notes,
    )
    return series, report
