"""Shared reading of the cohorts' files: the header check, aware readings to a series, the error."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np

from glucose_model.importers.assembly import assemble_series
from glucose_model.records import (
    GlucoseSeries,
    ImportReport,
    RecordError,
    mmol_l_to_mg_dl,
    require_aware,
)


class CohortError(RecordError):
    """A cohort folder is missing, or a file in it does not have the layout its loader expects."""


def require_columns(path: Path, header: Iterable[str] | None, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in (header or [])]
    if missing:
        raise CohortError(f"{path}: columns {missing} missing from the header; is this the original file?")


def offset_min(time: datetime) -> int:
    delta = require_aware(time, "reading").utcoffset()
    return 0 if delta is None else int(delta.total_seconds() // 60)


def series_from_pairs(
    readings: list[tuple[datetime, float]],
    source: str,
    mmol: bool = False,
    sensor_range: tuple[float, float] | None = None,
) -> tuple[GlucoseSeries, ImportReport]:
    """Readings (in mmol/L when `mmol`) to a series and its import report.

    sensor_range: (floor, ceiling) the sensor reports, in the file's unit; a reading at or beyond an end is
        the sensor's LOW / HIGH (a bound), kept as a censored reading (records.CENSORED_LOW/HIGH_MG_DL).
    """
    times = [int(t.timestamp()) for t, _ in readings]
    offsets = [offset_min(t) for t, _ in readings]
    values = np.array([v for _, v in readings], dtype=np.float64)
    censored = None
    if sensor_range is not None:
        floor, ceiling = sensor_range
        censored = np.where(values <= floor, -1, np.where(values >= ceiling, 1, 0)).astype(np.int8)
    return assemble_series(
        times, offsets, mmol_l_to_mg_dl(values) if mmol else values, source, censored=censored
    )
