"""The documented generic CSV: what any other device or app can be converted to.

One header line, comma-separated, UTF-8. Columns (names exact, order free):

    time               required  ISO 8601 with a UTC offset: 2024-05-01T08:00:00+02:00 (or ...Z)
    glucose_mg_dl      one of    CGM glucose in mg/dL
    glucose_mmol_l     these     CGM glucose in mmol/L (converted at 18.016 mg/dL per mmol/L)
    carbs_g            optional  a meal of this many grams of carbohydrate starts at `time`
    steps              optional  steps taken in the `duration_min` starting at `time`
    heart_rate_bpm     optional  mean heart rate over the same interval
    duration_min       optional  length of the steps/heart-rate interval, default 5
    insulin_rapid_units optional rapid-acting (bolus) insulin injected at `time`
    insulin_basal_units optional long-acting insulin injected at `time`

Any column may be empty on a row (a row with only `carbs_g` is a meal without a reading).
Other columns are ignored and listed in the import report.
"""

from __future__ import annotations

import csv

from glucose_model.importers.assembly import ExportContents
from glucose_model.importers.clock import parse_aware_iso
from glucose_model.importers.errors import MalformedFileError, UnitError
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


def read_generic_csv(text: str, source: str) -> ExportContents:
    """Parse the generic CSV (see the module docstring)."""
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
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
    out = ExportContents(source, notes=[f"columns ignored: {', '.join(unknown)}"] if unknown else [])
    for row in reader:
        line = reader.line_num

        def value(name: str, row: dict[str, str | None] = row) -> float | None:
            cell = (row.get(name) or "").strip()
            return float(cell) if cell else None

        try:
            if None in row:
                raise ValueError(f"more cells than the {len(header)} header columns")
            time = parse_aware_iso(row["time"] or "")
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
    return out
