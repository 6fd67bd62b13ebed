"""Colas et al. 2019 (via GlucoBench): 5-min CGM of adults without diabetes, about 48 h each, one CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from glucose_model.cohorts.tables import CohortError, require_columns
from glucose_model.importers.assembly import assemble_series
from glucose_model.records import DiabetesKind, Recording

# The file's times are de-identified (they start on 2012-01-01) and carry no zone: read as UTC,
# so only intervals are meaningful, as for Weinstock.
COLAS_GLOB = "colas2019*.csv"


def colas_files(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob(COLAS_GLOB))


def load_colas(folder: Path) -> list[Recording]:
    """`colas2019/colas2019*.csv` (id, time, gl in mg/dL): adults without diabetes, hospital cohort."""
    files = colas_files(folder)
    if not files:
        raise CohortError(f"{folder}: no {COLAS_GLOB} file; pass the colas2019 folder")
    recordings: list[Recording] = []
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            require_columns(path, header, ("id", "time", "gl"))
            assert header is not None
            at = [header.index(c) for c in ("id", "time", "gl")]
            rows = [(r[at[0]], r[at[1]], r[at[2]]) for r in reader if r]
        ids = np.array([r[0] for r in rows])
        times_s = np.array([r[1] for r in rows], dtype="datetime64[s]").astype(np.int64)
        glucose = np.array([float(r[2]) if r[2] not in ("", "NA") else np.nan for r in rows])
        for person in sorted(set(ids.tolist()), key=int):
            mine = ids == person
            series, report = assemble_series(
                times_s[mine], np.zeros(int(mine.sum()), np.int16), glucose[mine], f"colas:{person}"
            )
            recordings.append(
                Recording(
                    f"colas-{int(person):03d}", series, DiabetesKind.NONE, cohort="colas", report=report
                )
            )
    return recordings
