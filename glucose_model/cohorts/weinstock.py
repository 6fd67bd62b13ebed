"""Weinstock et al. 2016 (via GlucoBench): 5-min CGM of older adults with type 1 diabetes, one zipped CSV."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC
from pathlib import Path

import numpy as np

from glucose_model.cohorts.tables import CohortError, require_columns
from glucose_model.importers.assembly import assemble_series
from glucose_model.records import CENSORED_HIGH_MG_DL, CENSORED_LOW_MG_DL, DiabetesKind, Recording

# Weinstock 2016 (via GlucoBench) is de-identified: dates start at 1900-01-01 and carry no zone,
# so times are read as UTC and only intervals and clock-free metrics are meaningful.
WEINSTOCK_OFFSET = UTC


def load_weinstock(folder: Path) -> list[Recording]:
    """`weinstock2016/*.zip` holding one CSV (id, time, gl in mg/dL): older adults with type 1 diabetes."""
    zips = sorted(folder.glob("*.zip"))
    if not zips:
        raise CohortError(f"{folder}: no zip file; pass the weinstock2016 folder")
    with zipfile.ZipFile(zips[0]) as archive:
        names = [n for n in archive.namelist() if n.endswith(".csv")]
        if len(names) != 1:
            raise CohortError(f"{zips[0]}: expected one CSV inside, found {names}")
        with archive.open(names[0]) as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            header = next(reader, None)
            require_columns(zips[0], header, ("id", "time", "gl"))
            rows = list(reader)
    ids = np.array([r[0] for r in rows])
    times_s = np.array([r[1] for r in rows], dtype="datetime64[s]").astype(np.int64)
    glucose = np.array([float(r[2]) if r[2] not in ("", "NA") else np.nan for r in rows])
    # The Dexcom SEVEN PLUS reads 40-400 mg/dL; this file codes LOW as 39 and HIGH as 401 (or beyond).
    censored = np.where(
        glucose <= CENSORED_LOW_MG_DL, -1, np.where(glucose >= CENSORED_HIGH_MG_DL, 1, 0)
    ).astype(np.int8)
    recordings = []
    for person in sorted(set(ids.tolist()), key=int):
        mine = ids == person
        series, report = assemble_series(
            times_s[mine],
            np.zeros(int(mine.sum()), np.int16),
            glucose[mine],
            f"weinstock:{person}",
            censored=censored[mine],
            notes=("LOW (39) and HIGH (401) sensor codes kept as censored readings",),
        )
        recordings.append(
            Recording(f"weinstock-{person}", series, DiabetesKind.TYPE1, cohort="weinstock", report=report)
        )
    return recordings
