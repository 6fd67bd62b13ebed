"""The rows of a CSV export with their line numbers, and where the file was cut.

A download stopped early or a copy cut short ends inside a row (fewer cells than the header) or
inside a value (`...,iOS G6,20` where the row was `...,204,...`). Either is refused naming the line,
or, when the caller asks to keep a partial file, the rows before it are kept and the cut is noted.
"""

from __future__ import annotations

import csv
from collections.abc import Collection
from dataclasses import dataclass

from glucose_model.importers.errors import TruncatedFileError


@dataclass
class CsvRows:
    """A header and the non-blank rows after it, each with its 1-based line number."""

    header: list[str]
    rows: list[tuple[int, list[str]]]
    cut_line: int | None = None  # the line where a partial file was cut (rows before it kept)


def read_csv_rows(
    text: str,
    source: str,
    header_index: int,
    read_columns: Collection[int],
    *,
    keep_partial: bool = False,
) -> CsvRows:
    """Rows after the header at `header_index` (0-based line), checked for a cut.

    read_columns: indices of the columns the parser turns into numbers or times; a last line that
        ends the file without a line break and whose last cell is one of them may have lost digits,
        so it counts as cut. A row with fewer cells than the header is cut too (exports write every
        column on every row).
    keep_partial: keep the rows before a cut (noted in `notes`) instead of raising TruncatedFileError.
    """
    lines = text.splitlines()
    reader = csv.reader(lines[header_index:])
    header = next(reader, [])
    ends_with_break = text.endswith(("\n", "\r"))
    rows: list[tuple[int, list[str]]] = []
    for row in reader:
        line = header_index + reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        last_line = line == len(lines)
        problem = None
        if len(row) < len(header):
            problem = f"{len(row)} of the header's {len(header)} columns"
        elif last_line and not ends_with_break and row[-1].strip() and (len(row) - 1) in read_columns:
            problem = f"the last line ends inside the value {row[-1].strip()!r} without a line break"
        if problem is not None:
            if not keep_partial:
                raise TruncatedFileError(source, line, problem)
            return CsvRows(header, rows, line)
        rows.append((line, row))
    return CsvRows(header, rows)
