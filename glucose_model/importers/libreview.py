"""LibreView CSV export (FreeStyle Libre 1/2/3): one or two title lines, then the header and records.

Header: Device, Serial Number, Device Timestamp, Record Type, Historic Glucose mg/dL (or mmol/L),
Scan Glucose mg/dL, ..., Rapid-Acting Insulin (units), ..., Carbohydrates (grams), ...,
Long-Acting Insulin Value (units), Notes, Strip Glucose mg/dL, ...
Record Type 0 = historic (every 15 min; 5 min for Libre 3), 1 = scan: both go into the CGM series;
2 = strip (finger stick) kept apart; LO / HI (beyond the sensor's range) are kept as censored readings; 4 = insulin, 5 = food: events; every other type is counted in
`other_rows`. Timestamps are local time in the account's date format (`MM-DD-YYYY hh:mm AM`
in the US, `DD-MM-YYYY HH:MM` elsewhere) without an offset: pass `tz` (default UTC, noted).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, tzinfo

from glucose_model.importers.assembly import ExportContents
from glucose_model.importers.clock import NO_OFFSET_NOTE
from glucose_model.importers.errors import MalformedFileError, UnitError
from glucose_model.records import MG_DL_PER_MMOL_L, InsulinDose, InsulinKind, Meal, RecordError

HEADER_MARKERS = ("Device Timestamp", "Record Type")
# Tried in order; the first that reads every timestamp of the file wins (US 12-hour first, then
# day-first, as every non-US LibreView locale writes it).
TIME_FORMATS = (
    "%m-%d-%Y %I:%M %p",
    "%m/%d/%Y %I:%M %p",
    "%d-%m-%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M",
    "%Y-%m-%d %H:%M",
    "%m-%d-%Y %H:%M",
    "%m/%d/%Y %H:%M",
)
# LibreView's words for a reading beyond the sensor's range, and whether each is the high end.
_MARKERS = {"lo": False, "low": False, "hi": True, "high": True}


def _find(header: list[str], *prefixes: str) -> int | None:
    for prefix in prefixes:
        for i, name in enumerate(header):
            if name.strip().startswith(prefix):
                return i
    return None


def _time_format(stamps: list[str], source: str) -> str:
    for fmt in TIME_FORMATS:
        try:
            for stamp in stamps:
                datetime.strptime(stamp.strip(), fmt)
        except ValueError:
            continue
        return fmt
    raise MalformedFileError(
        source,
        3,
        f"timestamps like {stamps[0]!r} match no LibreView date format",
        "export with the default locale",
    )


def read_libreview(text: str, source: str, tz: tzinfo | None = None) -> ExportContents:
    """Parse a LibreView export's text (see the module docstring)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines[:5]) if all(m in line for m in HEADER_MARKERS)), None)
    if start is None:
        raise MalformedFileError(
            source,
            1,
            "no header with 'Device Timestamp' and 'Record Type' in the first lines",
            "export again from LibreView",
        )
    reader = csv.reader(lines[start:])
    header = next(reader)
    time_i, type_i = _find(header, "Device Timestamp"), _find(header, "Record Type")
    historic_i, scan_i = _find(header, "Historic Glucose"), _find(header, "Scan Glucose")
    if time_i is None or type_i is None or historic_i is None:
        raise MalformedFileError(
            source, start + 1, "Historic Glucose column missing", "export again from LibreView"
        )
    unit = header[historic_i]
    if "mmol/L" in unit:
        factor = MG_DL_PER_MMOL_L
    elif "mg/dL" in unit:
        factor = 1.0
    else:
        raise UnitError(
            f"{source}, line {start + 1}: column {unit!r} names no unit; expected mg/dL or mmol/L"
        )
    strip_i = _find(header, "Strip Glucose")
    rapid_i = _find(header, "Rapid-Acting Insulin (units)", "Rapid-Acting Insulin")
    long_i = _find(header, "Long-Acting Insulin Value", "Long-Acting Insulin (units)")
    carbs_i = _find(header, "Carbohydrates (grams)")
    rows = [(start + reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    for line, row in rows:
        if len(row) <= max(time_i, type_i, historic_i):
            raise MalformedFileError(
                source, line, f"{len(row)} columns, header has {len(header)}", "the file is cut"
            )
    stamps = [row[time_i] for _, row in rows]
    fmt = _time_format(stamps, source) if stamps else TIME_FORMATS[0]
    out = ExportContents(source, notes=[] if tz else [NO_OFFSET_NOTE])
    zone = tz or UTC

    def cell(row: list[str], i: int | None) -> str:
        return row[i].strip() if i is not None and i < len(row) else ""

    for line, row in rows:
        try:
            time = datetime.strptime(row[time_i].strip(), fmt).replace(tzinfo=zone)
            record_type = row[type_i].strip()
            value = cell(row, historic_i) if record_type == "0" else cell(row, scan_i)
            if record_type in ("0", "1"):
                if value.lower() in _MARKERS:
                    out.add_censored(time, high=_MARKERS[value.lower()])
                elif value:
                    out.add_reading(time, float(value) * factor)
                else:
                    raise ValueError(f"record type {record_type} without a glucose value")
            elif record_type == "2" and cell(row, strip_i):
                out.fingerstick_times.append(time)
                out.fingerstick_mg_dl.append(float(cell(row, strip_i)) * factor)
            elif record_type == "4" and (cell(row, rapid_i) or cell(row, long_i)):
                if cell(row, rapid_i):
                    out.insulin.append(InsulinDose(time, float(cell(row, rapid_i)), InsulinKind.RAPID))
                if cell(row, long_i):
                    out.insulin.append(InsulinDose(time, float(cell(row, long_i)), InsulinKind.BASAL))
            elif record_type == "5" and cell(row, carbs_i):
                out.meals.append(Meal(time, float(cell(row, carbs_i)), carbs_source="logged"))
            else:
                out.other_rows += 1
        except (ValueError, RecordError) as err:
            raise MalformedFileError(source, line, str(err), "fix or delete this row") from err
    return out
