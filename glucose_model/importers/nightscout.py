"""Nightscout `entries` JSON (`/api/v1/entries.json`): a JSON array of entry objects.

An `sgv` entry is a CGM reading: `sgv` in mg/dL, `date` in ms since the epoch (or `dateString`
ISO 8601), `utcOffset` in minutes when the uploader sent it. 39 is the sensor's LOW and 401 its HIGH (kept
as censored readings); lower values are Dexcom status codes (0-12 sensor errors), counted as out of range; `mbg`
entries are finger sticks; other types (`cal`, ...) are counted in `other_rows`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from glucose_model.importers.assembly import ExportContents
from glucose_model.importers.clock import parse_aware_iso, parse_local_iso
from glucose_model.importers.errors import MalformedFileError, TruncatedFileError
from glucose_model.records import CENSORED_HIGH_MG_DL, CENSORED_LOW_MG_DL, RecordError


def _date_string(text: str, tz: tzinfo | None) -> datetime:
    try:
        return parse_aware_iso(text)
    except ValueError:
        if tz is None:
            raise
        return parse_local_iso(text, tz)  # uploaders that write device-local dateString


def _entry_time(entry: dict[str, object], tz: tzinfo | None = None) -> datetime:
    offset = entry.get("utcOffset")
    if isinstance(entry.get("date"), int | float):
        time = datetime.fromtimestamp(float(entry["date"]) / 1000.0, tz=UTC)  # type: ignore[arg-type]
        if isinstance(offset, int | float):
            return time.astimezone(timezone(timedelta(minutes=float(offset))))
        if isinstance(entry.get("dateString"), str):
            aware = parse_aware_iso(str(entry["dateString"]))
            return time.astimezone(aware.tzinfo)
        return time
    if isinstance(entry.get("dateString"), str):
        return _date_string(str(entry["dateString"]), tz)
    raise ValueError("entry has neither a numeric 'date' (ms since epoch) nor a 'dateString'")


def read_nightscout(
    text: str, source: str, tz: tzinfo | None = None, *, keep_partial: bool = False
) -> ExportContents:
    """Parse a Nightscout entries array, keeping each entry's line number for errors.

    tz: zone for a `dateString` without an offset on an entry without `date`.
    keep_partial: an array cut short keeps the entries before the cut (noted) instead of raising.
    """
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text[pos:].startswith("["):
        raise MalformedFileError(
            source, 1, "not a JSON array of entries", "download /api/v1/entries.json?count=..."
        )
    pos += 1
    out = ExportContents(source)
    line, counted_to = 1, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            if keep_partial:
                out.note_cut(text.count("\n") + 1)
                return out
            raise TruncatedFileError(source, text.count("\n") + 1, "the array is not closed with ']'")
        if text[pos] == "]":
            break
        line += text.count("\n", counted_to, pos)  # counted incrementally: big files stay linear
        counted_to = pos
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            if "]" in text[pos:]:  # the array closes later: an entry was edited, not cut
                raise MalformedFileError(
                    source, err.lineno, f"invalid JSON ({err.msg})", "the file was edited: export it again"
                ) from err
            if keep_partial:
                out.note_cut(err.lineno)
                return out
            raise TruncatedFileError(source, err.lineno, f"the entry ends early ({err.msg})") from err
        if not isinstance(entry, dict):
            raise MalformedFileError(
                source, line, "an array element is not an object", "keep only entry objects"
            )
        try:
            kind = entry.get("type", "sgv" if "sgv" in entry else None)
            if kind == "sgv":
                value = entry.get("sgv")
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ValueError(f"sgv {value!r} is not a number")
                # Dexcom (and so Nightscout) codes LOW as 39, HIGH as 401 (read as ">= 401", true even
                # from a sensor that measures up to 500) and sensor errors below 39.
                if value in (CENSORED_LOW_MG_DL, CENSORED_HIGH_MG_DL):
                    out.add_censored(_entry_time(entry, tz), high=value == CENSORED_HIGH_MG_DL)
                elif value < CENSORED_LOW_MG_DL:
                    out.markers_out_of_range += 1
                else:
                    out.add_reading(_entry_time(entry, tz), float(value))
            elif kind == "mbg" and isinstance(entry.get("mbg"), int | float):
                out.fingerstick_times.append(_entry_time(entry, tz))
                out.fingerstick_mg_dl.append(float(entry["mbg"]))
            else:
                out.other_rows += 1
        except (ValueError, OverflowError, OSError, RecordError) as err:
            raise MalformedFileError(source, line, str(err), "fix or delete this entry") from err
    return out
