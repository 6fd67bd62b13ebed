"""Which export a file is (`detect_format`) and reading it into a `Recording` (`import_file`, `import_bytes`)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

from glucose_model.importers import libreview
from glucose_model.importers.apple_health import read_apple_health
from glucose_model.importers.assembly import ExportContents
from glucose_model.importers.dexcom import read_dexcom
from glucose_model.importers.errors import (
    CgmImportError,
    EmptyFileError,
    EncodingError,
    RenamedColumnsError,
    UnknownFormatError,
)
from glucose_model.importers.generic_csv import read_generic_csv
from glucose_model.importers.libreview import read_libreview
from glucose_model.importers.nightscout import read_nightscout
from glucose_model.records import DiabetesKind, RecordError, Recording, UnknownTimeZoneError, time_zone

FORMATS = ("dexcom", "libreview", "nightscout", "apple_health", "generic_csv")
_SNIFF_BYTES = 64 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
# Header words that say a column holds times or glucose, to tell a renamed generic CSV from junk.
_TIME_WORDS = ("time", "date", "zeit", "datum", "fecha", "heure", "ora")
_GLUCOSE_WORDS = ("gluc", "gluk", "glyc", "glic", "sgv", "bg", "mg/dl", "mmol")


def _not_text(head: bytes) -> str | None:
    """A specific reason why bytes are not a UTF-8 export, or None when they may be one."""
    if head.startswith(b"%PDF"):
        return "a PDF report; export the data as CSV (Clarity: Export; LibreView: Download glucose data)"
    if head.startswith(_ZIP_MAGIC) and b"xl/" in head:
        return "an Excel workbook; save it as CSV UTF-8 and import that file"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "an old Excel workbook (.xls); save it as CSV UTF-8 and import that file"
    if head.startswith(_ZIP_MAGIC):
        return None  # a zip: the Health app's export, or said so by detect_format
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:200].count(b"\x00") > 20:
        return "UTF-16 text (a spreadsheet's 'Unicode text'); save it as CSV UTF-8 and import that file"
    return None


def _zip_has_health_export(source: Path | bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as archive:
            return any(n.endswith("export.xml") for n in archive.namelist())
    except zipfile.BadZipFile:
        return False


def detect_format(source: Path | str | bytes) -> str:
    """One of FORMATS, from the first 64 KiB of a file (a path) or of its bytes.

    Raises a specific error for each kind of file that is no export: EmptyFileError, EncodingError
    (UTF-16, PDF, Excel), RenamedColumnsError (a CSV with time and glucose under other names),
    UnknownFormatError (anything else).
    """
    if isinstance(source, bytes):
        head = source[:_SNIFF_BYTES]
    else:
        with Path(source).open("rb") as f:
            head = f.read(_SNIFF_BYTES)
    if not head.strip():
        raise EmptyFileError("the file is empty; export it again (a download that did not finish?)")
    reason = _not_text(head)
    if reason is not None:
        raise EncodingError(f"the file is {reason}")
    if head.startswith(_ZIP_MAGIC):
        if _zip_has_health_export(source if isinstance(source, bytes) else Path(source)):
            return "apple_health"
        raise UnknownFormatError(
            "a zip without apple_health_export/export.xml; unzip it and import the CGM file inside"
        )
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    first_lines = text.splitlines()[:5]
    if text.startswith("<") and "<HealthData" in text:
        return "apple_health"
    if text.startswith("["):
        return "nightscout"
    if text.startswith("{"):
        raise UnknownFormatError(
            "a JSON object, not Nightscout's array of entries; download /api/v1/entries.json?count=... "
            "(an array, starting with '[')"
        )
    if first_lines and "Event Type" in first_lines[0] and "Glucose Value" in first_lines[0]:
        return "dexcom"
    if libreview.header_line(first_lines) is not None:
        return "libreview"
    if first_lines:
        header = [h.strip() for h in first_lines[0].split(",")]
        if "time" in header and ("glucose_mg_dl" in header or "glucose_mmol_l" in header):
            return "generic_csv"
        lower = [h.lower() for h in header]
        times = [h for h, low in zip(header, lower, strict=True) if any(w in low for w in _TIME_WORDS)]
        glucose = [h for h, low in zip(header, lower, strict=True) if any(w in low for w in _GLUCOSE_WORDS)]
        if times and glucose:
            raise RenamedColumnsError(
                f"a CSV with columns {times[0]!r} and {glucose[0]!r}, but no known export names them so; "
                "rename them to 'time' and 'glucose_mg_dl' (or 'glucose_mmol_l') for the generic CSV "
                "(glucose_model/importers/README.md), or import the device's unedited export"
            )
    raise UnknownFormatError(
        "not a known CGM export: expected a Dexcom Clarity or LibreView CSV, Nightscout entries JSON, "
        "Apple Health export.xml or export.zip, or the generic CSV (time, glucose_mg_dl; see "
        "glucose_model/importers/README.md)"
    )


def _zone(tz: str | None) -> ZoneInfo | None:
    if tz is None:
        return None
    try:
        return time_zone(tz)
    except UnknownTimeZoneError as err:
        raise CgmImportError(f"unknown time zone {tz!r}; give an IANA name such as Europe/Zurich") from err


def _decode(data: bytes, name: str) -> str:
    reason = _not_text(data[:_SNIFF_BYTES])
    if reason is not None:
        raise EncodingError(f"{name}: the file is {reason}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise EncodingError(
            f"{name}: not UTF-8 text at byte {err.start} (line {line}); save the export as CSV UTF-8"
        ) from err


def import_bytes(
    data: bytes,
    name: str = "upload",
    *,
    fmt: str = "auto",
    tz: str | None = None,
    person_id: str = "imported",
    kind: DiabetesKind | None = None,
    keep_partial: bool = False,
) -> Recording:
    """Read an export held in memory (an upload; an Apple Health zip too). See `import_file`."""
    if not data or data.isspace():  # no copy of a large upload
        raise EmptyFileError(f"{name}: the file is empty; export it again (a download that did not finish?)")
    fmt = detect_format(data) if fmt == "auto" else fmt
    contents: ExportContents
    try:
        if fmt == "apple_health" and data.startswith(_ZIP_MAGIC):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                contents = _read_health_zip(archive, name, keep_partial)
        elif fmt == "apple_health":
            contents = read_apple_health(io.BytesIO(data), name, keep_partial=keep_partial)
        elif fmt == "nightscout":
            contents = read_nightscout(_decode(data, name), name, _zone(tz), keep_partial=keep_partial)
        elif fmt == "dexcom":
            contents = read_dexcom(_decode(data, name), name, _zone(tz), keep_partial=keep_partial)
        elif fmt == "libreview":
            contents = read_libreview(_decode(data, name), name, _zone(tz), keep_partial=keep_partial)
        elif fmt == "generic_csv":
            contents = read_generic_csv(_decode(data, name), name, _zone(tz), keep_partial=keep_partial)
        else:
            raise UnknownFormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)} or auto")
        return contents.to_recording(person_id, kind)
    except CgmImportError:
        raise
    except zipfile.BadZipFile as err:
        raise CgmImportError(f"{name}: not a readable zip file ({err}); export it again") from err
    except RecordError as err:  # a record the parser built is inconsistent as a whole
        raise CgmImportError(f"{name}: {err}") from err


def _read_health_zip(archive: zipfile.ZipFile, name: str, keep_partial: bool) -> ExportContents:
    """The Health app's `export.zip`: apple_health_export/export.xml streamed out of the zip."""
    member = next((n for n in archive.namelist() if n.endswith("export.xml")), None)
    if member is None:
        raise UnknownFormatError(f"{name}: a zip without export.xml; unzip it and pass the CGM file")
    with archive.open(member) as stream:
        return read_apple_health(stream, f"{name}:{member}", keep_partial=keep_partial)


def import_file(
    path: Path | str,
    *,
    fmt: str = "auto",
    tz: str | None = None,
    person_id: str | None = None,
    kind: DiabetesKind | None = None,
    keep_partial: bool = False,
) -> Recording:
    """Read a CGM export into a `Recording` (glucose in mg/dL, events typed, an `ImportReport`).

    fmt: one of FORMATS, or "auto" to detect it.
    tz: IANA zone of the device clock, for every time written without an offset (Dexcom Clarity
        and LibreView always; the generic CSV and Nightscout `dateString` when they have none).
        Default: Dexcom and LibreView times are read as UTC and `report.notes` says so; a generic
        CSV time without an offset is refused. Times that carry an offset keep it.
    keep_partial: a file cut short (a row or a value cut off) keeps everything before the cut,
        with a note saying where and how many readings; by default the cut is a TruncatedFileError.
    Raises CgmImportError (or a subclass) naming the line and the fix on a malformed file.
    """
    path = Path(path)
    if not path.is_file():
        raise CgmImportError(f"{path}: no such file")
    person = person_id or path.stem
    if path.stat().st_size == 0:
        raise EmptyFileError(
            f"{path.name}: the file is empty; export it again (a download that did not finish?)"
        )
    if fmt in ("auto", "apple_health") and zipfile.is_zipfile(path):
        # The Health app shares `export.zip` holding apple_health_export/export.xml: streamed from the zip.
        if fmt == "auto":
            detect_format(path)  # a workbook or a zip of something else says so
        try:
            with zipfile.ZipFile(path) as archive:
                return _finish(_read_health_zip(archive, path.name, keep_partial), person, kind, path.name)
        except zipfile.BadZipFile as err:
            raise CgmImportError(f"{path.name}: not a readable zip file ({err})") from err
    if (fmt == "auto" and detect_format(path) == "apple_health") or fmt == "apple_health":
        with path.open("rb") as stream:  # streamed: exports run to gigabytes
            contents = read_apple_health(stream, path.name, keep_partial=keep_partial)
            return _finish(contents, person, kind, path.name)
    return import_bytes(
        path.read_bytes(), path.name, fmt=fmt, tz=tz, person_id=person, kind=kind, keep_partial=keep_partial
    )


def _finish(contents: ExportContents, person_id: str, kind: DiabetesKind | None, name: str) -> Recording:
    try:
        return contents.to_recording(person_id, kind)
    except RecordError as err:
        raise CgmImportError(f"{name}: {err}") from err
