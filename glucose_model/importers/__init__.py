"""Importers for the CGM exports people actually have: Dexcom Clarity, LibreView, Nightscout, Apple Health, generic CSV."""

from glucose_model.importers.errors import (
    CgmImportError,
    EmptyFileError,
    EncodingError,
    MalformedFileError,
    RenamedColumnsError,
    TruncatedFileError,
    UnitError,
    UnknownFormatError,
)
from glucose_model.importers.formats import FORMATS, detect_format, import_bytes, import_file

__all__ = [
    "FORMATS",
    "CgmImportError",
    "EmptyFileError",
    "EncodingError",
    "MalformedFileError",
    "RenamedColumnsError",
    "TruncatedFileError",
    "UnitError",
    "UnknownFormatError",
    "detect_format",
    "import_bytes",
    "import_file",
]
