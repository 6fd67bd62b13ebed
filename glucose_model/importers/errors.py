"""Named errors of the CGM importers; each message says where, what was wrong and how to fix it."""

from __future__ import annotations

from glucose_model.records import RecordError


class CgmImportError(RecordError):
    """A CGM export could not be read."""


class UnknownFormatError(CgmImportError):
    """The file is none of the formats the importers know."""


class MalformedFileError(CgmImportError):
    """A line of a known format is broken (missing column, unparsable time or number)."""

    def __init__(self, source: str, line: int, problem: str, fix: str) -> None:
        self.source = source
        self.line = line
        super().__init__(f"{source}, line {line}: {problem}; {fix}")


class UnitError(CgmImportError):
    """The glucose unit is missing or not mg/dL or mmol/L."""
