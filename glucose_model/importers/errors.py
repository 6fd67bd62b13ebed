"""Named errors of the CGM importers; each message says where, what was wrong and how to fix it."""

from __future__ import annotations

from glucose_model.records import RecordError

KEEP_PARTIAL_HINT = "export the file again, or pass --keep-partial to read the lines before it"


class CgmImportError(RecordError):
    """A CGM export could not be read."""


class UnknownFormatError(CgmImportError):
    """The file is none of the formats the importers know."""


class EmptyFileError(CgmImportError):
    """The file holds nothing (no bytes, only white space, or only a header)."""


class EncodingError(CgmImportError):
    """The file is not UTF-8 text (UTF-16 from a spreadsheet, a workbook, a PDF...)."""


class RenamedColumnsError(UnknownFormatError):
    """A CSV with time and glucose columns, but under names no known export uses."""


class MalformedFileError(CgmImportError):
    """A line of a known format is broken (missing column, unparsable time or number)."""

    def __init__(self, source: str, line: int, problem: str, fix: str) -> None:
        self.source = source
        self.line = line
        super().__init__(f"{source}, line {line}: {problem}; {fix}")


class TruncatedFileError(MalformedFileError):
    """The file ends inside a row or a value: it was cut (a partial download, a copy stopped early)."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(source, line, f"{problem}: the file is cut here", KEEP_PARTIAL_HINT)


class UnitError(CgmImportError):
    """The glucose unit is missing or not mg/dL or mmol/L."""
