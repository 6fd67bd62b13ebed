"""ShanghaiT1DM / T2DM (Zhao et al. 2023): 15-min CGM in mg/dL, meals as free text, insulin and oral drugs.

Each file is one period of one person; the person id comes from the file name so that the periods of
one person stay together in splits.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from glucose_model.cohorts.tables import CohortError, require_columns, series_from_pairs
from glucose_model.food_text import estimate_meal_nutrients, is_meal_text
from glucose_model.records import (
    DiabetesKind,
    ImportReport,
    InsulinDose,
    InsulinKind,
    Meal,
    RecordError,
    Recording,
)

SHANGHAI_OFFSET = timezone(timedelta(hours=8))
_SHANGHAI_FILE = re.compile(r"^processed_(?P<person>\d+)_(?P<period>\d+)_(?P<date>\d{8})(?:\.xlsx)?\.csv$")
_UNITS_IU = re.compile(r"(\d+(?:\.\d+)?)\s*IU", re.IGNORECASE)
_BASAL_NAMES = ("glargine", "glarigine", "degludec", "detemir", "nph", "humulin n", "novolin n")
# Premixed insulins: share of the dose that is rapid/regular (the rest is intermediate, NPH-like).
_PREMIX_RAPID_SHARE = re.compile(
    r"(?:(?P<r>\d{2})R\b|70/30|M(?P<m>\d{2})|mix\s*(?P<mix>\d{2}))", re.IGNORECASE
)
SHANGHAI_CGM = "CGM (mg / dl)"
# FreeStyle Libre reports 2.2-27.8 mmol/L, written in these files as mmol/L x 18; 162 kept readings of the
# cohort sit at the floor (39.6 mg/dL), the sensor's LO.
SHANGHAI_SENSOR_RANGE_MG_DL = (39.6, 500.4)
SHANGHAI_CBG = "CBG (mg / dl)"


def _shanghai_sc_insulin(time: datetime, text: str) -> list[InsulinDose]:
    """`Novolin 30R, 11 IU` / `insulin glargine, 18 IU`: premixes split into their rapid and basal parts."""
    match = _UNITS_IU.search(text)
    if match is None:
        raise CohortError(f"insulin entry {text!r} at {time.isoformat()} has no 'N IU' amount")
    units = float(match.group(1))
    name = text.replace("\xa0", " ").lower()
    if any(b in name for b in _BASAL_NAMES):
        return [InsulinDose(time, units, InsulinKind.BASAL)]
    premix = _PREMIX_RAPID_SHARE.search(text)
    if premix:
        share = float(premix.group("r") or premix.group("m") or premix.group("mix") or 30) / 100.0
        return [
            InsulinDose(time, units * share, InsulinKind.RAPID),
            InsulinDose(time, units * (1 - share), InsulinKind.BASAL),
        ]
    return [InsulinDose(time, units, InsulinKind.RAPID)]


def _basal_rate_doses(changes: list[tuple[datetime, float]], end: datetime) -> list[InsulinDose]:
    """Pump basal rates (IU/h, set at the logged times) -> one basal dose per hour they ran."""
    doses: list[InsulinDose] = []
    if not changes:
        return doses
    for (start, rate), nxt in zip(changes, [*changes[1:], (end, 0.0)], strict=True):
        t = start
        while t < nxt[0]:
            step = min(timedelta(hours=1), nxt[0] - t)
            if rate > 0:
                doses.append(InsulinDose(t, rate * step.total_seconds() / 3600.0, InsulinKind.BASAL))
            t += step
    return doses


def load_shanghai_file(path: Path, kind: DiabetesKind) -> Recording:
    """One Shanghai file: one period of one person, 15-min CGM in mg/dL, meals as free text."""
    name = _SHANGHAI_FILE.match(path.name)
    if name is None:
        raise CohortError(f"{path.name}: not a Shanghai file name (processed_<person>_<period>_<date>.csv)")
    person_id = f"shanghai-{name.group('person')}"
    cgm, sticks = [], []
    meals, insulin, notes = [], [], []
    basal_changes: list[tuple[datetime, float]] = []
    placeholders = 0
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        require_columns(path, reader.fieldnames, ("Date", SHANGHAI_CGM, SHANGHAI_CBG, "Dietary intake"))
        for line_no, row in enumerate(reader, start=2):
            try:
                time = datetime.fromisoformat(row["Date"]).replace(tzinfo=SHANGHAI_OFFSET)
                if row[SHANGHAI_CGM].strip():
                    cgm.append((time, float(row[SHANGHAI_CGM])))
                if row[SHANGHAI_CBG].strip():
                    sticks.append((time, float(row[SHANGHAI_CBG])))
                meal_text = row["Dietary intake"].strip()
                if meal_text and is_meal_text(meal_text):
                    nutrients = estimate_meal_nutrients(meal_text)
                    meals.append(
                        Meal(
                            time=time,
                            carbs_g=nutrients.carbs_g,
                            sugars_g=nutrients.sugars_g,
                            fiber_g=nutrients.fiber_g,
                            fat_g=nutrients.fat_g,
                            protein_g=nutrients.protein_g,
                            kcal=nutrients.kcal,
                            description=meal_text,
                            carbs_source="usda-match",
                            carbs_confidence=nutrients.confidence,
                        )
                    )
                elif meal_text:
                    placeholders += 1
                if row.get("Insulin dose - s.c.", "").strip():
                    insulin += _shanghai_sc_insulin(time, row["Insulin dose - s.c."])
                for units in _UNITS_IU.findall(row.get("Insulin dose - i.v.", "")):
                    insulin.append(InsulinDose(time, float(units), InsulinKind.RAPID))
                bolus = row.get("CSII - bolus insulin (Novolin R, IU)", "").strip()
                if "suspend" in bolus:  # logged in the bolus column twice: the pump stopped
                    basal_changes.append((time, 0.0))
                elif bolus:
                    insulin.append(InsulinDose(time, float(bolus), InsulinKind.RAPID))
                rate = row.get("CSII - basal insulin (Novolin R, IU / H)", "").strip()
                if rate:
                    basal_changes.append((time, 0.0 if "suspend" in rate else float(rate)))
                drugs = row.get("Non-insulin hypoglycemic agents", "").strip()
                if drugs:
                    notes.append((time, f"oral or non-insulin agents: {drugs}"))
            except (ValueError, RecordError) as err:
                raise CohortError(f"{path.name}, line {line_no}: {err}") from err
    series, report = series_from_pairs(cgm, f"shanghai:{path.name}", sensor_range=SHANGHAI_SENSOR_RANGE_MG_DL)
    stick_series, _ = series_from_pairs(sticks, f"shanghai:{path.name}:fingerstick")
    if cgm:
        insulin += _basal_rate_doses(basal_changes, cgm[-1][0])
    report_notes = (f"file {path.name}", f"{placeholders} meal placeholders (not available / fasting)")
    return Recording(
        person_id=person_id,
        glucose=series,
        kind=kind,
        meals=tuple(meals),
        insulin=tuple(sorted(insulin, key=lambda d: d.time)),
        cohort=f"shanghai_{'t1dm' if kind is DiabetesKind.TYPE1 else 't2dm'}",
        report=ImportReport(**{**report.__dict__, "notes": report.notes + report_notes}),
        fingersticks=stick_series,
        notes=tuple(notes),
    )


def shanghai_files(folder: Path) -> list[Path]:
    """The data files of one Shanghai folder, each period once (a plain `.csv` copy of an
    `.xlsx.csv` file with the same stem is the same data and is skipped)."""
    files = sorted(p for p in folder.glob("processed_*.csv"))
    stems = {p.name.removesuffix(".csv").removesuffix(".xlsx") for p in files if p.name.endswith(".xlsx.csv")}
    return [p for p in files if p.name.endswith(".xlsx.csv") or p.name.removesuffix(".csv") not in stems]


def load_shanghai(folder: Path) -> list[Recording]:
    """`shanghai/` (both sub-folders) or one of `Shanghai_T1DM/`, `Shanghai_T2DM/`."""
    sub = {"Shanghai_T1DM": DiabetesKind.TYPE1, "Shanghai_T2DM": DiabetesKind.TYPE2}
    folders = [(folder / s, k) for s, k in sub.items() if (folder / s).is_dir()]
    if not folders and folder.name in sub:
        folders = [(folder, sub[folder.name])]
    if not folders:
        raise CohortError(
            f"{folder}: neither Shanghai_T1DM/ nor Shanghai_T2DM/ found; pass the shanghai folder"
        )
    return [load_shanghai_file(p, kind) for f, kind in folders for p in shanghai_files(f)]
