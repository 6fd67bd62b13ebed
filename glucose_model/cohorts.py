"""Loaders for the real CGM cohorts in `../shared/data` and the canonical (simulated) cohort folder.

Every loader takes the folder it reads (never a hard-coded path) and returns one `Recording` per
person and recording period. Person ids are stable across cohorts that share people (D1NAMO and
its Dubosson/GlucoBench resampling both use `d1namo-00N`), so splits by person stay honest.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from glucose_model.food_text import estimate_meal_nutrients, is_meal_text
from glucose_model.importers.assembly import assemble_series
from glucose_model.records import (
    ActivitySample,
    DiabetesKind,
    GlucoseSeries,
    ImportReport,
    InsulinDose,
    InsulinKind,
    Meal,
    RecordError,
    Recording,
    SleepPeriod,
    mmol_l_to_mg_dl,
    require_aware,
)

COHORT_FOLDERS = {
    "d1namo": "d1namo",
    "dubosson": "dubosson2018",
    "shanghai": "shanghai",
    "weinstock": "weinstock2016",
}
LAYOUTS = ("d1namo", "dubosson", "shanghai", "weinstock", "canonical")
D1NAMO_ZONE = ZoneInfo("Europe/Zurich")  # recorded in Switzerland, clock times are local
SHANGHAI_OFFSET = timezone(timedelta(hours=8))
# Weinstock 2016 (via GlucoBench) is de-identified: dates start at 1900-01-01 and carry no zone,
# so times are read as UTC and only intervals and clock-free metrics are meaningful.
WEINSTOCK_OFFSET = UTC
WEINSTOCK_LOW_CODE_MG_DL = 39.0
WEINSTOCK_HIGH_CODE_MG_DL = 401.0
# D1NAMO and Dubosson log kcal, not carbohydrate. Carbohydrate is estimated as this share of energy
# at 4 kcal/g (EFSA reference intake 45-60 % of energy; 45 % fits the mixed Swiss meals logged),
# marked `carbs_source="kcal-estimate"` with a low confidence.
CARB_ENERGY_SHARE = 0.45
KCAL_PER_G_CARBS = 4.0
KCAL_ESTIMATE_CONFIDENCE = 0.3


class CohortError(RecordError):
    """A cohort folder is missing, or a file in it does not have the layout its loader expects."""


def _require_columns(path: Path, header: Iterable[str] | None, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in (header or [])]
    if missing:
        raise CohortError(f"{path}: columns {missing} missing from the header; is this the original file?")


def _offset_min(time: datetime) -> int:
    delta = require_aware(time, "reading").utcoffset()
    return 0 if delta is None else int(delta.total_seconds() // 60)


def _carbs_from_kcal(kcal: float) -> float:
    return kcal * CARB_ENERGY_SHARE / KCAL_PER_G_CARBS


# --- D1NAMO -------------------------------------------------------------------------------------


def _d1namo_time(date: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{date} {clock}").replace(tzinfo=D1NAMO_ZONE)


def load_d1namo_person(folder: Path) -> Recording:
    """One D1NAMO person folder (`001/`): CGM (mmol/L) apart from finger sticks, insulin, meal photos."""
    person_id = f"d1namo-{folder.name}"
    cgm: list[tuple[datetime, float]] = []
    sticks: list[tuple[datetime, float]] = []
    with (folder / "glucose.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        _require_columns(folder / "glucose.csv", reader.fieldnames, ("date", "time", "glucose", "type"))
        for line_no, row in enumerate(reader, start=2):
            try:
                reading = (_d1namo_time(row["date"], row["time"]), float(row["glucose"]))
            except ValueError as err:
                raise CohortError(f"{folder / 'glucose.csv'}, line {line_no}: {err}") from err
            (cgm if row["type"] == "cgm" else sticks).append(reading)
    series, report = _series_from_pairs(cgm, f"d1namo:{folder.name}", mmol=True)
    stick_series, _ = _series_from_pairs(sticks, f"d1namo:{folder.name}:fingerstick", mmol=True)
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


def _series_from_pairs(
    readings: list[tuple[datetime, float]], source: str, mmol: bool = False
) -> tuple[GlucoseSeries, ImportReport]:
    times = [int(t.timestamp()) for t, _ in readings]
    offsets = [_offset_min(t) for t, _ in readings]
    values = np.array([v for _, v in readings], dtype=np.float64)
    return assemble_series(times, offsets, mmol_l_to_mg_dl(values) if mmol else values, source)


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
        _require_columns(path, reader.fieldnames, ("id", "time", "gl", "fast_insulin", "calories", "HR"))
        for row in reader:
            rows_by_id.setdefault(row["id"], []).append(row)
    recordings = []
    for raw_id, rows in sorted(rows_by_id.items(), key=lambda kv: float(kv[0])):
        person_id = f"d1namo-{int(float(raw_id)):03d}"
        times = [datetime.fromisoformat(r["time"]).replace(tzinfo=D1NAMO_ZONE) for r in rows]
        glucose = [float(r["gl"]) if r["gl"] else np.nan for r in rows]
        series, report = _series_from_pairs(list(zip(times, glucose, strict=True)), f"dubosson:{person_id}")

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


# --- Shanghai T1DM / T2DM ---------------------------------------------------------------------

_SHANGHAI_FILE = re.compile(r"^processed_(?P<person>\d+)_(?P<period>\d+)_(?P<date>\d{8})(?:\.xlsx)?\.csv$")
_UNITS_IU = re.compile(r"(\d+(?:\.\d+)?)\s*IU", re.IGNORECASE)
_BASAL_NAMES = ("glargine", "glarigine", "degludec", "detemir", "nph", "humulin n", "novolin n")
# Premixed insulins: share of the dose that is rapid/regular (the rest is intermediate, NPH-like).
_PREMIX_RAPID_SHARE = re.compile(
    r"(?:(?P<r>\d{2})R\b|70/30|M(?P<m>\d{2})|mix\s*(?P<mix>\d{2}))", re.IGNORECASE
)
SHANGHAI_CGM = "CGM (mg / dl)"
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
        _require_columns(path, reader.fieldnames, ("Date", SHANGHAI_CGM, SHANGHAI_CBG, "Dietary intake"))
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
    series, report = _series_from_pairs(cgm, f"shanghai:{path.name}")
    stick_series, _ = _series_from_pairs(sticks, f"shanghai:{path.name}:fingerstick")
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


# --- Weinstock 2016 ---------------------------------------------------------------------------


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
            _require_columns(zips[0], header, ("id", "time", "gl"))
            rows = list(reader)
    ids = np.array([r[0] for r in rows])
    times_s = np.array([r[1] for r in rows], dtype="datetime64[s]").astype(np.int64)
    glucose = np.array([float(r[2]) if r[2] not in ("", "NA") else np.nan for r in rows])
    # The Dexcom SEVEN PLUS reads 40-400 mg/dL; this file codes LOW as 39 and HIGH as 401.
    markers = (glucose < WEINSTOCK_LOW_CODE_MG_DL + 1) | (glucose > WEINSTOCK_HIGH_CODE_MG_DL - 1)
    recordings = []
    for person in sorted(set(ids.tolist()), key=int):
        mine = ids == person
        keep = mine & ~markers
        series, report = assemble_series(
            times_s[keep],
            np.zeros(int(keep.sum()), np.int16),
            glucose[keep],
            f"weinstock:{person}",
            markers_out_of_range=int((mine & markers).sum()),
            notes=("LOW (39) and HIGH (401) sensor codes counted as out of range",),
        )
        recordings.append(
            Recording(f"weinstock-{person}", series, DiabetesKind.TYPE1, cohort="weinstock", report=report)
        )
    return recordings


# --- canonical (simulated) cohort folder ------------------------------------------------------

_KIND_NAMES = {"healthy": DiabetesKind.NONE, **{k.value: k for k in DiabetesKind}}


def _read_rows(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        _require_columns(path, reader.fieldnames, needed)
        return list(reader)


def _optional(row: dict[str, str], name: str) -> float | None:
    value = row.get(name, "")
    return float(value) if value not in ("", "nan", "NaN") else None


def _events_of(events: dict[str, dict[str, list]], row: dict[str, str], folder: Path) -> dict[str, list]:
    if row["person_id"] not in events:
        raise CohortError(f"{folder}: events for person {row['person_id']!r}, who is not in people.csv")
    return events[row["person_id"]]


def load_canonical(folder: Path) -> list[Recording]:
    """A cohort in the canonical CSV form (written by `mealimpact simulate`; times ISO 8601 with offset).

    people.csv (person_id, kind, ...), cgm.csv (person_id, time, glucose_mg_dl), and optionally
    meals.csv (person_id, time, carbs_g, sugars_g, fiber_g, fat_g, protein_g), activity.csv
    (person_id, time, duration_min, steps, heart_rate_bpm), insulin.csv (person_id, time, units, kind),
    sleep.csv (person_id, start, end).
    """
    people = _read_rows(folder / "people.csv", ("person_id", "kind"))
    if not people:
        raise CohortError(f"{folder}: people.csv missing or empty; is this a canonical cohort folder?")
    cgm: dict[str, tuple[list[int], list[int], list[float]]] = {p["person_id"]: ([], [], []) for p in people}
    # Simulated people share one clock, so each time string is parsed once (cgm.csv has ~10^6 rows).
    parsed: dict[str, tuple[int, int]] = {}
    for row in _read_rows(folder / "cgm.csv", ("person_id", "time", "glucose_mg_dl")):
        stamp = row["time"]
        if stamp not in parsed:
            time = require_aware(datetime.fromisoformat(stamp), "CGM reading")
            parsed[stamp] = (int(time.timestamp()), _offset_min(time))
        if row["person_id"] not in cgm:
            raise CohortError(f"{folder / 'cgm.csv'}: person {row['person_id']!r} is not in people.csv")
        t, o, g = cgm[row["person_id"]]
        t.append(parsed[stamp][0])
        o.append(parsed[stamp][1])
        g.append(float(row["glucose_mg_dl"]))
    events: dict[str, dict[str, list]] = {
        p["person_id"]: {"m": [], "a": [], "i": [], "s": []} for p in people
    }
    for row in _read_rows(folder / "meals.csv", ("person_id", "time", "carbs_g")):
        _events_of(events, row, folder)["m"].append(
            Meal(
                time=datetime.fromisoformat(row["time"]),
                carbs_g=float(row["carbs_g"]),
                sugars_g=_optional(row, "sugars_g"),
                fiber_g=_optional(row, "fiber_g"),
                fat_g=_optional(row, "fat_g"),
                protein_g=_optional(row, "protein_g"),
                glycemic_index=_optional(row, "glycemic_index"),
                carbs_source="simulated",
                carbs_confidence=1.0,
            )
        )
    for row in _read_rows(folder / "activity.csv", ("person_id", "time", "duration_min")):
        _events_of(events, row, folder)["a"].append(
            ActivitySample(
                datetime.fromisoformat(row["time"]),
                float(row["duration_min"]),
                steps=_optional(row, "steps"),
                heart_rate_bpm=_optional(row, "heart_rate_bpm"),
            )
        )
    for row in _read_rows(folder / "insulin.csv", ("person_id", "time", "units")):
        kind = InsulinKind.BASAL if row.get("kind", "rapid") == "basal" else InsulinKind.RAPID
        _events_of(events, row, folder)["i"].append(
            InsulinDose(datetime.fromisoformat(row["time"]), float(row["units"]), kind)
        )
    for row in _read_rows(folder / "sleep.csv", ("person_id", "start", "end")):
        _events_of(events, row, folder)["s"].append(
            SleepPeriod(datetime.fromisoformat(row["start"]), datetime.fromisoformat(row["end"]))
        )
    recordings = []
    for person in people:
        pid = person["person_id"]
        if person["kind"] not in _KIND_NAMES:
            raise CohortError(f"{folder / 'people.csv'}: person {pid} has unknown kind {person['kind']!r}")
        series, report = assemble_series(*cgm[pid], f"canonical:{pid}")
        e = events[pid]
        recordings.append(
            Recording(
                person_id=pid,
                glucose=series,
                kind=_KIND_NAMES[person["kind"]],
                meals=tuple(sorted(e["m"], key=lambda m: m.time)),
                insulin=tuple(sorted(e["i"], key=lambda d: d.time)),
                activity=tuple(sorted(e["a"], key=lambda a: a.time)),
                sleep=tuple(sorted(e["s"], key=lambda s: s.start)),
                cohort=folder.name,
                report=report,
            )
        )
    return recordings


# --- layout detection -------------------------------------------------------------------------


def detect_layout(folder: Path) -> str:
    """Which loader reads `folder`: one of LAYOUTS. Raises CohortError when none does."""
    folder = Path(folder)
    if (folder / "people.csv").exists() and (folder / "cgm.csv").exists():
        return "canonical"
    if any(
        (p / "glucose.csv").exists() and (p / "food.csv").exists() for p in folder.glob("*") if p.is_dir()
    ):
        return "d1namo"
    if any(folder.glob("Dubosson*.csv")):
        return "dubosson"
    if (
        (folder / "Shanghai_T1DM").is_dir()
        or (folder / "Shanghai_T2DM").is_dir()
        or any(folder.glob("processed_*_*_*.csv"))
    ):
        return "shanghai"
    if any(folder.glob("Weinstock*.zip")):
        return "weinstock"
    raise CohortError(
        f"{folder}: not a known cohort layout ({', '.join(LAYOUTS)}); pass the cohort's own folder"
    )


_LOADERS = {
    "d1namo": load_d1namo,
    "dubosson": load_dubosson,
    "shanghai": load_shanghai,
    "weinstock": load_weinstock,
    "canonical": load_canonical,
}


def load_cohort(root: Path, name: str = "auto") -> list[Recording]:
    """Load cohort `name` (a LAYOUTS entry, or "auto") from `root`.

    root may be the data root (`../shared/data`, the cohort's usual sub-folder is used) or the
    cohort's own folder; with "auto" it must be the cohort's own folder.
    """
    root = Path(root)
    if name == "auto":
        name = detect_layout(root)
        return _LOADERS[name](root)
    if name not in _LOADERS:
        raise CohortError(f"unknown cohort {name!r}; choose one of {', '.join(LAYOUTS)} or auto")
    sub = root / COHORT_FOLDERS.get(name, "")
    folder = sub if name in COHORT_FOLDERS and sub.is_dir() else root
    if not folder.is_dir():
        raise CohortError(f"{folder}: folder not found")
    return _LOADERS[name](folder)
