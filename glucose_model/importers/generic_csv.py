"""The documented generic CSV: what any other device or app can be converted to.

One header line, comma-separated, UTF-8. Columns (names exact, order free):

    time               required  ISO 8601: 2024-05-01T08:00:00+02:00 (or ...Z), or device-local
                                 2024-05-01T08:00:00 with the zone passed as `tz`
    glucose_mg_dl      one of    CGM glucose in mg/dL
    glucose_mmol_l     these     CGM glucose in mmol/L (converted at 18.016 mg/dL per mmol/L)
    carbs_g            optional  a meal of this many grams of carbohydrate starts at `time`
    steps              optional  steps taken in the `duration_min` starting at `time`
    heart_rate_bpm     optional  mean heart rate over the same interval
    duration_min       optional  length of the steps/heart-rate interval, default 5
    insulin_rapid_units optional rapid-acting (bolus) insulin injected at `time`
    insulin_basal_units optional long-acting insulin injected at `time`

Any column may be empty on a row (a row with only `carbs_g` is a meal without a reading), but
every row has every header column: a shorter row, or a last line cut inside a value, is a cut file.
Other columns are ignored and listed in the import report.
"""

from __future__ import annotations

import csv
from datetime import datetime, tzinfo

from glucose_model.importers.assembly import ExportContents
from glucose_model.importers.clock import parse_aware_iso, parse_local_iso
from glucose_model.importers.csv_rows import read_csv_rows
from glucose_model.importers.errors import EmptyFileError, MalformedFileError, UnitError
from glucose_model.records import (
    MG_DL_PER_MMOL_L,
    ActivitySample,
    InsulinDose,
    InsulinKind,
    Meal,
    RecordError,
)

KNOWN_COLUMNS = (
    "time",
    "glucose_mg_dl",
    "glucose_mmol_l",
    "carbs_g",
    "steps",
    "heart_rate_bpm",
    "duration_min",
    "insulin_rapid_units",
    "insulin_basal_units",
)
DEFAULT_ACTIVITY_DURATION_MIN = 5.0


def _time(text: str, tz: tzinfo | None) -> datetime:
    """A time with its offset, or a device-local one in `tz`; without either, a ValueError naming --tz."""
    try:
        return parse_aware_iso(text)
    except ValueError:
        if tz is None:
            raise ValueError(
                f"time {text.strip()!r} has no UTC offset; add one (+02:00, Z) or pass --tz "
                "(API: tz) with the zone the device was set to"
            ) from None
        return parse_local_iso(text, tz)


def read_generic_csv(
    text: str, source: str, tz: tzinfo | None = None, *, keep_partial: bool = False
) -> ExportContents:
    """Parse the generic CSV (see the module docstring)."""
    header = [h.strip() for h in next(csv.reader(text.splitlines()[:1]), [])]
    if "time" not in header:
        raise MalformedFileError(
            source, 1, "no 'time' column", "name the timestamp column 'time' (ISO 8601 with offset)"
        )
    if "glucose_mg_dl" in header:
        glucose_column, factor = "glucose_mg_dl", 1.0
    elif "glucose_mmol_l" in header:
        glucose_column, factor = "glucose_mmol_l", MG_DL_PER_MMOL_L
    else:
        raise UnitError(
            f"{source}, line 1: no 'glucose_mg_dl' or 'glucose_mmol_l' column; name the unit in the header"
        )
    unknown = [h for h in header if h not in KNOWN_COLUMNS]
    read_columns = {i for i, name in enumerate(header) if name in KNOWN_COLUMNS}
    table = read_csv_rows(text, source, 0, read_columns, keep_partial=keep_partial)
    if not table.rows and table.cut_line is None:
        raise EmptyFileError(f"{source}: a header without any rows; the file holds no readings")
    out = ExportContents(source, notes=[f"columns ignored: {', '.join(unknown)}"] if unknown else [])
    for line, cells in table.rows:
        row = dict(zip(header, cells, strict=False))

        def value(name: str, row: dict[str, str] = row) -> float | None:
            cell = (row.get(name) or "").strip()
            return float(cell) if cell else None

        try:
            if len(cells) > len(header):
                raise ValueError(f"more cells than the {len(header)} header columns")
            time = _time(row["time"], tz)
            glucose = value(glucose_column)
            if glucose is not None:
                out.add_reading(time, glucose * factor)
            carbs = value("carbs_g")
            if carbs is not None:
                out.meals.append(Meal(time, carbs, carbs_source="logged"))
            steps, heart_rate = value("steps"), value("heart_rate_bpm")
            if steps is not None or heart_rate is not None:
                duration = value("duration_min") or DEFAULT_ACTIVITY_DURATION_MIN
                out.activity.append(ActivitySample(time, duration, steps=steps, heart_rate_bpm=heart_rate))
            for column, kind in (
                ("insulin_rapid_units", InsulinKind.RAPID),
                ("insulin_basal_units", InsulinKind.BASAL),
            ):
                units = value(column)
                if units is not None:
                    out.insulin.append(InsulinDose(time, units, kind))
            if glucose is None and carbs is None and steps is None and heart_rate is None:
                out.other_rows += 1
        except (ValueError, RecordError) as err:
            raise MalformedFileError(source, line, str(err), "fix or delete this row") from err
    out.note_cut(table.cut_line)
    return out
