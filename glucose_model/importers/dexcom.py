"""Dexcom Clarity CSV export: header rows of patient/device/alert metadata, then EGV and event rows.

Columns (Clarity 2019+): Index, Timestamp (YYYY-MM-DDThh:mm:ss), Event Type, Event Subtype, Patient Info,
Device Info, Source Device ID, Glucose Value (mg/dL) [or (mmol/L)], Insulin Value (u), Carb Value (grams),
Duration (hh:mm:ss), Glucose Rate of Change (...), Transmitter Time (Long Integer), Transmitter ID.
Glucose is "Low" below 40 mg/dL and "High" above 400: kept as censored readings (records.CENSORED_*);
a number outside 40-400 mg/dL is no reading (Clarity never writes one) and is counted out of range.
Timestamps are local device time without an offset: pass `tz` (default UTC, noted in the report).
A row with fewer cells than the header, or a last line cut inside a value, is a cut file.
"""

from __future__ import annotations

import csv
from datetime import tzinfo

from glucose_model.importers.assembly import ExportContents, reportable_range, unit_factor
from glucose_model.importers.clock import NO_OFFSET_NOTE, parse_local_iso
from glucose_model.importers.csv_rows import read_csv_rows
from glucose_model.importers.errors import EmptyFileError, MalformedFileError, UnitError
from glucose_model.records import InsulinDose, InsulinKind, Meal, RecordError

HEADER_MARKERS = ("Event Type", "Glucose Value")
# The sensor's words for a reading beyond its range, and whether each is the high end.
_MARKERS = {"low": False, "high": True}
# What a Dexcom sensor reports as a number (G6, G7, ONE): beyond it only Low/High.
REPORTABLE_MG_DL = (40.0, 400.0)


def _column(header: list[str], prefix: str) -> int | None:
    return next((i for i, name in enumerate(header) if name.strip().startswith(prefix)), None)


def read_dexcom(
    text: str, source: str, tz: tzinfo | None = None, *, keep_partial: bool = False
) -> ExportContents:
    """Parse a Clarity export's text (see the module docstring)."""
    header = next(csv.reader(text.splitlines()[:1]), None)
    if header is None or _column(header, "Event Type") is None:
        raise MalformedFileError(
            source, 1, "no Dexcom header with an 'Event Type' column", "export again from Clarity"
        )
    time_i, type_i, sub_i = (
        _column(header, "Timestamp"),
        _column(header, "Event Type"),
        _column(header, "Event Subtype"),
    )
    glucose_i = _column(header, "Glucose Value")
    if time_i is None or glucose_i is None or type_i is None:
        raise MalformedFileError(
            source, 1, "Timestamp or Glucose Value column missing", "export again from Clarity"
        )
    unit = header[glucose_i]
    factor = unit_factor(unit)
    if factor is None:
        raise UnitError(
            f"{source}, line 1: glucose column {unit!r} names no unit; expected (mg/dL) or (mmol/L)"
        )
    insulin_i, carbs_i = _column(header, "Insulin Value"), _column(header, "Carb Value")
    read_columns = {i for i in (time_i, glucose_i, insulin_i, carbs_i) if i is not None}
    table = read_csv_rows(text, source, 0, read_columns, keep_partial=keep_partial)
    if not table.rows and table.cut_line is None:
        raise EmptyFileError(
            f"{source}: a Dexcom Clarity header without any rows; export a date range with data"
        )
    out = ExportContents(
        source,
        notes=[] if tz else [NO_OFFSET_NOTE],
        reportable_mg_dl=reportable_range(*REPORTABLE_MG_DL, factor),
    )
    for line, row in table.rows:
        kind = row[type_i].strip()
        if not row[time_i].strip():
            out.other_rows += 1  # patient, device and alert-setting rows carry no time
            continue
        try:
            time = parse_local_iso(row[time_i], tz)
            value = row[glucose_i].strip()
            if kind == "EGV":
                if value.lower() in _MARKERS:
                    out.add_censored(time, high=_MARKERS[value.lower()])
                else:
                    out.add_reading(time, float(value) * factor)
            elif kind == "Calibration":
                out.fingerstick_times.append(time)
                out.fingerstick_mg_dl.append(float(value) * factor)
            elif kind == "Insulin" and insulin_i is not None and row[insulin_i].strip():
                subtype = row[sub_i].lower() if sub_i is not None else ""
                insulin_kind = InsulinKind.BASAL if "long" in subtype else InsulinKind.RAPID
                out.insulin.append(InsulinDose(time, float(row[insulin_i]), insulin_kind))
            elif kind == "Carbs" and carbs_i is not None and row[carbs_i].strip():
                out.meals.append(Meal(time, float(row[carbs_i]), carbs_source="logged"))
            else:
                out.other_rows += 1
        except (ValueError, RecordError) as err:
            raise MalformedFileError(source, line, str(err), "fix or delete this row") from err
    out.note_cut(table.cut_line)
    return out
