"""LibreView CSV export (FreeStyle Libre 1/2/3): one or two title lines, then the header and records.

Header: Device, Serial Number, Device Timestamp, Record Type, Historic Glucose mg/dL (or mmol/L),
Scan Glucose mg/dL, ..., Rapid-Acting Insulin (units), ..., Carbohydrates (grams), ...,
Long-Acting Insulin Value (units), Notes, Strip Glucose mg/dL, ...
Record Type 0 = historic (every 15 min; 5 min for Libre 3), 1 = scan: both go into the CGM series;
2 = strip (finger stick) kept apart; LO / HI (beyond the sensor's range) are kept as censored readings; 4 = insulin, 5 = food: events; every other type is counted in
`other_rows`. Timestamps are local time in the account's date format (`MM-DD-YYYY hh:mm AM`
in the US, `DD-MM-YYYY HH:MM` elsewhere) without an offset: pass `tz` (default UTC, noted).
Headers come in the account's language: the columns read are named here in English, German, French,
Spanish and Italian, and a header in another language is read by LibreView's fixed column order
when its glucose columns name a unit where the English export does. A number outside the sensor's
40-500 mg/dL is no reading (LibreView writes LO/HI there) and is counted out of range; a row cut
short, or a last line cut inside a value, is a cut file.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, tzinfo

from glucose_model.importers.assembly import ExportContents, reportable_range, unit_factor
from glucose_model.importers.clock import NO_OFFSET_NOTE
from glucose_model.importers.csv_rows import read_csv_rows
from glucose_model.importers.errors import EmptyFileError, MalformedFileError, UnitError
from glucose_model.records import InsulinDose, InsulinKind, Meal, RecordError

HEADER_MARKERS = ("Device Timestamp", "Record Type")
# The columns read, as each export language names them (prefixes; en, de, fr, es, it).
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "time": (
        "Device Timestamp",
        "Gerätezeitstempel",
        "Horodatage de l'appareil",
        "Sello de tiempo del dispositivo",
        "Timestamp dispositivo",
    ),
    "type": (
        "Record Type",
        "Aufzeichnungstyp",
        "Type d'enregistrement",
        "Tipo de registro",
        "Tipo di registrazione",
    ),
    "historic": (
        "Historic Glucose",
        "Glukosewert-Verlauf",
        "Historique du glucose",
        "Historique de la glycémie",
        "Historial de glucosa",
        "Storico glicemia",
        "Cronologia glucosio",
    ),
    "scan": (
        "Scan Glucose",
        "Glukose-Scan",
        "Scan de la glycémie",
        "Glucose scannée",
        "Escaneo de glucosa",
        "Scansione glicemia",
        "Scansione glucosio",
    ),
    "strip": (
        "Strip Glucose",
        "Glukose-Teststreifen",
        "Glycémie par bandelette",
        "Tira reactiva para glucosa",
        "Glicemia da striscia",
    ),
    "rapid": (
        "Rapid-Acting Insulin (units)",
        "Schnellwirkendes Insulin (Einheiten)",
        "Insuline à action rapide (unités)",
        "Insulina de acción rápida (unidades)",
        "Insulina ad azione rapida (unità)",
    ),
    "long": (
        "Long-Acting Insulin Value (units)",
        "Long-Acting Insulin (units)",
        "Depotinsulin (Einheiten)",
        "Insuline à action longue (unités)",
        "Insulina de acción lenta (unidades)",
        "Insulina ad azione lenta (unità)",
    ),
    "carbs": (
        "Carbohydrates (grams)",
        "Kohlenhydrate (Gramm)",
        "Glucides (grammes)",
        "Carbohidratos (gramos)",
        "Carboidrati (grammi)",
    ),
}
# LibreView writes the same columns in the same order in every language.
COLUMN_ORDER = {
    "time": 2,
    "type": 3,
    "historic": 4,
    "scan": 5,
    "rapid": 7,
    "carbs": 9,
    "long": 12,
    "strip": 14,
}
_UNITS = ("mg/dL", "mmol/L")
# What a FreeStyle Libre sensor reports as a number: beyond it only LO/HI.
REPORTABLE_MG_DL = (40.0, 500.0)
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


def _by_order(header: list[str]) -> bool:
    """A header in a language not listed, recognised by its glucose columns where LibreView puts them."""
    return len(header) > COLUMN_ORDER["scan"] and all(
        header[COLUMN_ORDER[name]].strip().endswith(_UNITS) for name in ("historic", "scan")
    )


def columns(header: list[str]) -> dict[str, int | None] | None:
    """Index of each column read (None where absent), or None when this is no LibreView header."""
    found = {name: _find(header, *names) for name, names in COLUMN_NAMES.items()}
    if found["time"] is not None and found["type"] is not None:
        return found
    if _by_order(header):
        return {name: (i if i < len(header) else None) for name, i in COLUMN_ORDER.items()}
    return None


def header_line(lines: list[str]) -> int | None:
    """0-based index of the LibreView header among the first lines (after one or two title lines)."""
    for i, line in enumerate(lines[:5]):
        if columns(next(csv.reader([line]), [])) is not None:
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


def read_libreview(
    text: str, source: str, tz: tzinfo | None = None, *, keep_partial: bool = False
) -> ExportContents:
    """Parse a LibreView export's text (see the module docstring)."""
    start = header_line(text.splitlines())
    if start is None:
        raise MalformedFileError(
            source,
            1,
            "no header with 'Device Timestamp' and 'Record Type' (or their translation) in the first lines",
            "export again from LibreView",
        )
    header = next(csv.reader(text.splitlines()[start : start + 1]))
    found = columns(header) or {}
    time_i, type_i, historic_i, scan_i = (
        found["time"],
        found["type"],
        found.get("historic"),
        found.get("scan"),
    )
    if time_i is None or type_i is None or historic_i is None:
        raise MalformedFileError(
            source, start + 1, "Historic Glucose column missing", "export again from LibreView"
        )
    unit = header[historic_i]
    factor = unit_factor(unit)
    if factor is None:
        raise UnitError(
            f"{source}, line {start + 1}: column {unit!r} names no unit; expected mg/dL or mmol/L"
        )
    strip_i, rapid_i, long_i, carbs_i = (
        found.get("strip"),
        found.get("rapid"),
        found.get("long"),
        found.get("carbs"),
    )
    read_columns = {
        i for i in (time_i, historic_i, scan_i, strip_i, rapid_i, long_i, carbs_i) if i is not None
    }
    table = read_csv_rows(text, source, start, read_columns, keep_partial=keep_partial)
    rows = table.rows
    if not rows and table.cut_line is None:
        raise EmptyFileError(f"{source}: a LibreView header without any rows; export a date range with data")
    stamps = [row[time_i] for _, row in rows]
    fmt = _time_format(stamps, source) if stamps else TIME_FORMATS[0]
    out = ExportContents(
        source,
        notes=[] if tz else [NO_OFFSET_NOTE],
        reportable_mg_dl=reportable_range(*REPORTABLE_MG_DL, factor),
    )
    zone = tz or UTC

    def cell(row: list[str], i: int | None) -> str:
        return row[i].strip() if i is not None and i < len(row) else ""

    def number(text: str) -> float:
        return float(text.replace(",", "."))  # German, French, Spanish and Italian mmol/L: 5,6

    for line, row in rows:
        try:
            time = datetime.strptime(row[time_i].strip(), fmt).replace(tzinfo=zone)
            record_type = row[type_i].strip()
            value = cell(row, historic_i) if record_type == "0" else cell(row, scan_i)
            if record_type in ("0", "1"):
                if value.lower() in _MARKERS:
                    out.add_censored(time, high=_MARKERS[value.lower()])
                elif value:
                    out.add_reading(time, number(value) * factor)
                else:
                    raise ValueError(f"record type {record_type} without a glucose value")
            elif record_type == "2" and cell(row, strip_i):
                out.fingerstick_times.append(time)
                out.fingerstick_mg_dl.append(number(cell(row, strip_i)) * factor)
            elif record_type == "4" and (cell(row, rapid_i) or cell(row, long_i)):
                if cell(row, rapid_i):
                    out.insulin.append(InsulinDose(time, number(cell(row, rapid_i)), InsulinKind.RAPID))
                if cell(row, long_i):
                    out.insulin.append(InsulinDose(time, number(cell(row, long_i)), InsulinKind.BASAL))
            elif record_type == "5" and cell(row, carbs_i):
                out.meals.append(Meal(time, number(cell(row, carbs_i)), carbs_source="logged"))
            else:
                out.other_rows += 1
        except (ValueError, RecordError) as err:
            raise MalformedFileError(source, line, str(err), "fix or delete this row") from err
    out.note_cut(table.cut_line)
    return out
