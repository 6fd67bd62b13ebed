"""Which export a file is (`detect_format`) and reading it into a `Recording` (`import_file`, `import_bytes`)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from glucose_model.importers.apple_health import read_apple_health
from glucose_model.importers.assembly import ExportContents
from glucose_model.importers.dexcom import read_dexcom
from glucose_model.importers.errors import CgmImportError, UnknownFormatError
from glucose_model.importers.generic_csv import read_generic_csv
from glucose_model.importers.libreview import read_libreview
from glucose_model.importers.nightscout import read_nightscout
from glucose_model.records import DiabetesKind, RecordError, Recording

FORMATS = ("dexcom", "libreview", "nightscout", "apple_health", "generic_csv")
_SNIFF_BYTES = 64 * 1024


def detect_format(source: Path | str | bytes) -> str:
    """One of FORMATS, from the first 64 KiB of a file (a path) or of its bytes."""
    if isinstance(source, bytes):
        head = source[:_SNIFF_BYTES]
    else:
        with Path(source).open("rb") as f:
            head = f.read(_SNIFF_BYTES)
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    first_lines = text.splitlines()[:5]
    if text.startswith("<") and "<HealthData" in text:
        return "apple_health"
    if text.startswith("["):
        return "nightscout"
    if first_lines and "Event Type" in first_lines[0] and "Glucose Value" in first_lines[0]:
        return "dexcom"
    if any("Device Timestamp" in line and "Record Type" in line for line in first_lines):
        return "libreview"
    if first_lines:
        header = [h.strip() for h in first_lines[0].split(",")]
        if "time" in header and ("glucose_mg_dl" in header or "glucose_mmol_l" in header):
            return "generic_csv"
    raise UnknownFormatError(
        "not a known CGM export: expected a Dexcom Clarity or LibreView CSV, Nightscout entries JSON, "
        "Apple Health export.xml, or the generic CSV (time, glucose_mg_dl; see glucose_model/importers/README.md)"
    )


def _zone(tz: str | None) -> ZoneInfo | None:
    if tz is None:
        return None
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise CgmImportError(f"unknown time zone {tz!r}; give an IANA name such as Europe/Zurich") from err


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CgmImportError(f"{name}: not UTF-8 text at byte {err.start}; save the export as UTF-8") from err


def import_bytes(
    data: bytes,
    name: str = "upload",
    *,
    fmt: str = "auto",
    tz: str | None = None,
    person_id: str = "imported",
    kind: DiabetesKind | None = None,
) -> Recording:
    """Read an export held in memory (an upload). See `import_file`."""
    fmt = detect_format(data) if fmt == "auto" else fmt
    contents: ExportContents
    try:
        if fmt == "apple_health":
            contents = read_apple_health(io.BytesIO(data), name)
        elif fmt == "nightscout":
            contents = read_nightscout(_decode(data, name), name)
        elif fmt == "dexcom":
            contents = read_dexcom(_decode(data, name), name, _zone(tz))
        elif fmt == "libreview":
            contents = read_libreview(_decode(data, name), name, _zone(tz))
        elif fmt == "generic_csv":
            contents = read_generic_csv(_decode(data, name), name)
        else:
            raise UnknownFormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)} or auto")
        return contents.to_recording(person_id, kind)
    except CgmImportError:
        raise
    except RecordError as err:  # a record the parser built is inconsistent as a whole
        raise CgmImportError(f"{name}: {err}") from err


def import_file(
    path: Path | str,
    *,
    fmt: str = "auto",
    tz: str | None = None,
    person_id: str | None = None,
    kind: DiabetesKind | None = None,
) -> Recording:
    """Read a CGM export into a `Recording` (glucose in mg/dL, events typed, an `ImportReport`).

    fmt: one of FORMATS, or "auto" to detect it.
    tz: IANA zone of the device clock for formats whose times carry no offset (Dexcom Clarity,
        LibreView). Default: read them as UTC and say so in `report.notes`; times of day will be
        off by the real offset until tz is given. Nightscout, Apple Health and the generic CSV carry
        offsets and ignore it.
    Raises CgmImportError (or a subclass) naming the line and the fix on a malformed file.
    """
    path = Path(path)
    if not path.is_file():
        raise CgmImportError(f"{path}: no such file")
    person = person_id or path.stem
    if path.suffix.lower() == ".zip":
        # The Health app shares `export.zip` holding apple_health_export/export.xml: streamed from the zip.
        try:
            with zipfile.ZipFile(path) as archive:
                member = next((n for n in archive.namelist() if n.endswith("export.xml")), None)
                if member is None:
                    raise UnknownFormatError(
                        f"{path.name}: a zip without export.xml; unzip it and pass the CGM file"
                    )
                with archive.open(member) as stream:
                    return _finish(
                        read_apple_health(stream, f"{path.name}:{member}"), person, kind, path.name
                    )
        except zipfile.BadZipFile as err:
            raise CgmImportError(f"{path.name}: not a readable zip file ({err})") from err
    if (fmt == "auto" and detect_format(path) == "apple_health") or fmt == "apple_health":
        with path.open("rb") as stream:  # streamed: exports run to gigabytes
            return _finish(read_apple_health(stream, path.name), person, kind, path.name)
    return import_bytes(path.read_bytes(), path.name, fmt=fmt, tz=tz, person_id=person, kind=kind)


def _finish(contents: ExportContents, person_id: str, kind: DiabetesKind | None, name: str) -> Recording:
    try:
        return contents.to_recording(person_id, kind)
    except RecordError as err:
        raise CgmImportError(f"{name}: {err}") from err
