"""The canonical cohort folder (what `mealimpact simulate` writes): CSV tables with ISO 8601 times and offsets."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from glucose_model.cohorts.tables import CohortError, offset_min, require_columns
from glucose_model.importers.assembly import assemble_series
from glucose_model.records import (
    KIND_NAMES,
    ActivitySample,
    InsulinDose,
    InsulinKind,
    Meal,
    Recording,
    SleepPeriod,
    require_aware,
)

# people.csv `kind`: a DiabetesKind value, or "healthy" for NONE.
# meals.csv: these columns required, sugars_g, fiber_g, fat_g, protein_g, glycemic_index optional.
MEAL_COLUMNS = ("person_id", "time", "carbs_g")


def _read_rows(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        require_columns(path, reader.fieldnames, needed)
        return list(reader)


def _optional(row: dict[str, str], name: str) -> float | None:
    value = row.get(name, "")
    return float(value) if value not in ("", "nan", "NaN") else None


def meal_from_row(row: dict[str, str], carbs_source: str, carbs_confidence: float | None) -> Meal:
    """A meals.csv row (time ISO 8601 with offset, carbs_g, optional composition) as a `Meal`.

    Raises ValueError on an unparsable time or number, RecordError on a time without offset.
    """
    return Meal(
        time=datetime.fromisoformat(row["time"]),
        carbs_g=float(row["carbs_g"]),
        sugars_g=_optional(row, "sugars_g"),
        fiber_g=_optional(row, "fiber_g"),
        fat_g=_optional(row, "fat_g"),
        protein_g=_optional(row, "protein_g"),
        glycemic_index=_optional(row, "glycemic_index"),
        carbs_source=carbs_source,
        carbs_confidence=carbs_confidence,
    )


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
            parsed[stamp] = (int(time.timestamp()), offset_min(time))
        if row["person_id"] not in cgm:
            raise CohortError(f"{folder / 'cgm.csv'}: person {row['person_id']!r} is not in people.csv")
        t, o, g = cgm[row["person_id"]]
        t.append(parsed[stamp][0])
        o.append(parsed[stamp][1])
        g.append(float(row["glucose_mg_dl"]))
    events: dict[str, dict[str, list]] = {
        p["person_id"]: {"m": [], "a": [], "i": [], "s": []} for p in people
    }
    for row in _read_rows(folder / "meals.csv", MEAL_COLUMNS):
        _events_of(events, row, folder)["m"].append(meal_from_row(row, "simulated", 1.0))
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
        if person["kind"] not in KIND_NAMES:
            raise CohortError(f"{folder / 'people.csv'}: person {pid} has unknown kind {person['kind']!r}")
        series, report = assemble_series(*cgm[pid], f"canonical:{pid}")
        e = events[pid]
        recordings.append(
            Recording(
                person_id=pid,
                glucose=series,
                kind=KIND_NAMES[person["kind"]],
                meals=tuple(sorted(e["m"], key=lambda m: m.time)),
                insulin=tuple(sorted(e["i"], key=lambda d: d.time)),
                activity=tuple(sorted(e["a"], key=lambda a: a.time)),
                sleep=tuple(sorted(e["s"], key=lambda s: s.start)),
                cohort=folder.name,
                report=report,
            )
        )
    return recordings
