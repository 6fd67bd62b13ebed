"""Importers for the CGM exports people actually have: Dexcom Clarity, LibreView, Nightscout, Apple Health, generic CSV."""

from glucose_model.importers.errors import CgmImportError, MalformedFileError, UnitError, UnknownFormatError
from glucose_model.importers.formats import FORMATS, detect_format, import_bytes, import_file

__all__ = [
    "FORMATS",
    "CgmImportError",
    "MalformedFileError",
    "UnitError",
    "UnknownFormatError",
    "detect_format",
    "import_bytes",
    "import_file",
]
