"""D1NAMO (type 1, free living, Switzerland) and its GlucoBench resampling by Dubosson et al. with covariates.

Both use the person ids `d1namo-00N`, so the two are never split as different people.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from glucose_model.cohorts.tables import CohortError, require_columns, series_from_pairs
from glucose_model.records import (
    ActivitySample,
    DiabetesKind,
    InsulinDose,
    InsulinKind,
    Meal,
    Recording,
)

D1NAMO_ZONE = ZoneInfo("Europe/Zurich")  # recorded in Switzerland, clock times are local
# D1NAMO and Dubosson log kcal, not carbohydrate. Carbohydrate is estimated as this share of energy
# at 4 kcal/g (EFSA reference intake 45-60 % of energy; 45 % fits the mixed Swiss meals logged),
# marked `carbs_source="kcal-estimate"` with a low confidence.
CARB_ENERGY_SHARE = 0.45
KCAL_PER_G_CARBS = 4.0
KCAL_ESTIMATE_CONFIDENCE = 0.3
# The CGM reports 2.2-22.2 mmol/L (40-400 mg/dL); the files pile readings up at both ends (person 001:
# 28 at 2.2, 39 at 22.2), which are its LOW / HIGH.
D1NAMO_SENSOR_RANGE_MMOL_L = (2.2, 22.2)


def _carbs_from_kcal(kcal: float) -> float:
    return kcal * CARB_ENERGY_SHARE / KCAL_PER_G_CARBS


def _d1namo_time(date: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{date} {clock}").replace(tzinfo=D1NAMO_ZONE)


def load_d1namo_person(folder: Path) -> Recording:
    """One D1NAMO person folder (`001/`): CGM (mmol/L) apart from finger sticks, insulin, meal photos."""
    person_id = f"d1namo-{folder.name}"
    cgm: list[tuple[datetime, float]] = []
    sticks: list[tuple[datetime, float]] = []
    with (folder / "glucose.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        require_columns(folder / "glucose.csv", reader.fieldnames, ("date", "time", "glucose", "type"))
        for line_no, row in enumerate(reader, start=2):
            try:
                reading = (_d1namo_time(row["date"], row["time"]), float(row["glucose"]))
            except ValueError as err:
                raise CohortError(f"{folder / 'glucose.csv'}, line {line_no}: {err}") from err
            (cgm if row["type"] == "cgm" else sticks).append(reading)
    series, report = series_from_pairs(
        cgm, f"d1namo:{folder.name}", mmol=True, sensor_range=D1NAMO_SENSOR_RANGE_MMOL_L
    )
    stick_series, _ = series_from_pairs(sticks, f"d1namo:{folder.name}:fingerstick", mmol=True)
    insulin: list[InsulinDose] = []
    with (folder / "insulin.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            time = _d1namo_time(row["date"], row["time"])
            for column, kind in (("fast_insulin", InsulinKind.RAPID), ("slow_insulin", InsulinKind.BASAL)):
                if row.get(column, "").strip():
                    insulin.append(InsulinDose(time, float(row[column]), kind))
    meals = []
    with (folder / "food.csv").open(newline="") as f:
        # Only the original columns are read; person 002's file has extra machine-written estimates
        # appended that are not part of the published data set.
        for row in csv.DictReader(f):
            time = datetime.strptime(row["datetime"], "%Y:%m:%d %H:%M:%S").replace(tzinfo=D1NAMO_ZONE)
            kcal = float(row["calories"])
            meals.append(
                Meal(
                    time=time,
                    carbs_g=_carbs_from_kcal(kcal),
                    kcal=kcal,
                    description=row["description"].strip(),
                    carbs_source="kcal-estimate",
                    carbs_confidence=KCAL_ESTIMATE_CONFIDENCE,
                    photo_path=str(folder / "food_pictures" / row["picture"]),
                )
            )
    return Recording(
        person_id=person_id,
        glucose=series,
        kind=DiabetesKind.TYPE1,
        meals=tuple(sorted(meals, key=lambda m: m.time)),
        insulin=tuple(sorted(insulin, key=lambda d: d.time)),
        cohort="d1namo",
        report=report,
        fingersticks=stick_series,
    )


def load_d1namo(folder: Path) -> list[Recording]:
    """Every person of D1NAMO (`d1namo/00N/` with glucose.csv, insulin.csv, food.csv)."""
    people = sorted(p for p in folder.iterdir() if p.is_dir() and (p / "glucose.csv").exists())
    if not people:
        raise CohortError(f"{folder}: no person folders with glucose.csv; pass the d1namo folder")
    return [load_d1namo_person(p) for p in people]


# --- Dubosson (D1NAMO resampled by GlucoBench, with covariates) --------------------------------


def _interpolated_events(values: np.ndarray) -> np.ndarray:
    """(N,) bool: where an event was logged in a covariate that GlucoBench linearly interpolated.

    Between logged values the processed file holds straight lines, so a logged event is a positive
    value where the line bends downwards (it rose to the event and falls or rises less after), or
    the first positive value after a zero that does not start a straight ramp.
    """
    v = np.concatenate([[0.0], values, [values[-1] if values.shape[0] else 0.0]])
    bend = v[:-2] - 2 * v[1:-1] + v[2:]  # (N,) second difference
    ramp = np.isclose(v[2:] - v[1:-1], v[1:-1] - v[:-2])
    after_zero = (v[:-2] == 0) & ~ramp
    return (values > 0) & ((bend < -1e-6) | after_zero)


def load_dubosson(folder: Path) -> list[Recording]:
    """`dubosson2018/Dubosson_processed_with_covariates.csv`: 5-min CGM (mg/dL), heart rate, insulin, kcal.

    Heart rate becomes one 5-min `ActivitySample` per row; meals (kcal) and insulin are recovered
    from the interpolated covariate columns (`_interpolated_events`), so their times and sizes are
    approximate: prefer `load_d1namo` for the people in both (ids 1, 2, 4, 6).
    """
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise CohortError(f"{folder}: no CSV file; pass the dubosson2018 folder")
    path = files[0]
    rows_by_id: dict[str, list[dict[str, str]]] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        require_columns(path, reader.fieldnames, ("id", "time", "gl", "fast_insulin", "calories", "HR"))
        for row in reader:
            rows_by_id.setdefault(row["id"], []).append(row)
    recordings = []
    for raw_id, rows in sorted(rows_by_id.items(), key=lambda kv: float(kv[0])):
        person_id = f"d1namo-{int(float(raw_id)):03d}"
        times = [datetime.fromisoformat(r["time"]).replace(tzinfo=D1NAMO_ZONE) for r in rows]
        glucose = [float(r["gl"]) if r["gl"] else np.nan for r in rows]
        series, report = series_from_pairs(list(zip(times, glucose, strict=True)), f"dubosson:{person_id}")

        def column(name: str, rows: list[dict[str, str]] = rows) -> np.ndarray:
            return np.array([float(r[name]) if r[name] else 0.0 for r in rows])

        kcal, fast, slow = column("calories"), column("fast_insulin"), column("slow_insulin")
        meals = [
            Meal(
                time=times[i],
                carbs_g=_carbs_from_kcal(kcal[i]),
                kcal=float(kcal[i]),
                carbs_source="kcal-estimate",
                carbs_confidence=KCAL_ESTIMATE_CONFIDENCE,
            )
            for i in np.flatnonzero(_interpolated_events(kcal))
        ]
        insulin = [
            InsulinDose(times[i], float(fast[i]), InsulinKind.RAPID)
            for i in np.flatnonzero(_interpolated_events(fast))
        ]
        insulin += [
            InsulinDose(times[i], float(slow[i]), InsulinKind.BASAL)
            for i in np.flatnonzero(_interpolated_events(slow))
        ]
        activity = tuple(
            ActivitySample(t, 5.0, heart_rate_bpm=float(r["HR"]))
            for t, r in zip(times, rows, strict=True)
            if r["HR"]
        )
        recordings.append(
            Recording(
                person_id=person_id,
                glucose=series,
                kind=DiabetesKind.TYPE1,
                meals=tuple(meals),
                insulin=tuple(sorted(insulin, key=lambda d: d.time)),
                activity=activity,
                cohort="dubosson",
                report=report,
            )
        )
    return recordings
