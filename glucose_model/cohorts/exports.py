"""A hospital's folder of its patients' device exports (Dexcom, LibreView, Nightscout, Apple Health, generic CSV)
read as a cohort: every person's files through the importers, merged into one `Recording` each.

## A folder of exports as a cohort

`load_cohort(folder, "exports")` (or `"auto"`: a folder with `people.csv` and no `cgm.csv`) reads a
folder of the exports the importers take, one or more per person, so a hospital's federated site
can train next to the CGM data it already has:

```text
hospital/
  people.csv         who is who (required)
  meals.csv          a meal diary (optional)
  p01.csv            p01's only export (a Dexcom Clarity CSV here)
  p02.json           p02's Nightscout entries
  p03/               p03's exports, all merged into one recording:
    clarity.csv        a Dexcom Clarity CSV
    export.zip         the Apple Health export (steps, heart rate, sleep; glucose if any)
```

`people.csv` (one header line, UTF-8, comma-separated):

| column | | meaning |
| --- | --- | --- |
| `person_id` | required | a pseudonym; names the person's files (`p01.csv`, `p01.zip`...) or sub-folder (`p01/`) |
| `kind` | required | `none` (or `healthy`), `prediabetes`, `type2`, `type1` |
| `tz` | optional | IANA zone of the device clock (`Europe/Zurich`) for Dexcom and LibreView exports, whose times carry no offset; empty: read as UTC and noted in the report |
| `format` | optional | `dexcom`, `libreview`, `nightscout`, `apple_health`, `generic_csv` for all of the person's files; empty: detected per file (a `.zip` is always the Apple Health export) |

```csv
person_id,kind,tz,format
p01,type2,Europe/Zurich,
p02,type1,,
p03,none,Europe/Zurich,
```

A person's exports are either files directly in the folder named `<person_id>.<ext>` or every file
directly in a sub-folder `<person_id>/` (hidden files are skipped). All of them are read with
`import_file` and merged: readings in time order, a timestamp in two exports keeping the reading of
the file first in name order (the other counted in `report.duplicates`), meals, insulin, activity
and sleep from every file. An export without glucose (an Apple Health zip with only steps) still
adds its events.

`meals.csv` (optional) has the canonical layout's columns: `person_id`, `time` (ISO 8601 with an
offset), `carbs_g`, and optionally `sugars_g`, `fiber_g`, `fat_g`, `protein_g`, `glycemic_index`.
Its meals are added to those the exports hold (LibreView food rows, Dexcom carb events, the
generic CSV's `carbs_g`); a meal in both is kept twice, so log each meal in one place only.

Every recording's `cohort` is the folder's name. A `CohortError` names the file and the fix:
`people.csv` missing, a person without an export, an export or sub-folder of someone not in
`people.csv`, an unknown kind, zone or format, or an export the importer cannot read (its message,
with the line, is kept).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from glucose_model.cohorts.canonical import MEAL_COLUMNS, meal_from_row
from glucose_model.cohorts.tables import CohortError, require_columns
from glucose_model.importers import FORMATS, CgmImportError, import_file
from glucose_model.importers.assembly import merge_recordings
from glucose_model.records import (
    KIND_NAMES,
    DiabetesKind,
    Meal,
    RecordError,
    Recording,
    UnknownTimeZoneError,
    time_zone,
)

logger = logging.getLogger(__name__)

PEOPLE_FILE = "people.csv"
MEALS_FILE = "meals.csv"


@dataclass(frozen=True)
class ExportPerson:
    """A people.csv row: who the person is and how to read their exports."""

    person_id: str
    kind: DiabetesKind
    tz: str | None  # IANA zone for exports without offsets (Dexcom, LibreView)
    fmt: str  # a FORMATS entry, or "auto"


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def read_people(path: Path) -> list[ExportPerson]:
    """people.csv of an exports folder (see the module docstring)."""
    if not path.is_file():
        raise CohortError(
            f"{path}: not found; an exports folder needs people.csv with columns person_id, kind "
            "(and optionally tz, format)"
        )
    people: list[ExportPerson] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        require_columns(path, reader.fieldnames, ("person_id", "kind"))
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            pid = (row["person_id"] or "").strip()
            if not pid or "/" in pid or "\\" in pid or pid.startswith("."):
                raise CohortError(f"{where}: person_id {pid!r} cannot name a file; use a plain pseudonym")
            if any(p.person_id == pid for p in people):
                raise CohortError(f"{where}: person {pid} is listed twice; keep one row per person")
            kind = (row["kind"] or "").strip()
            if kind not in KIND_NAMES:
                raise CohortError(
                    f"{where}: person {pid} has unknown kind {kind!r}; use one of {', '.join(KIND_NAMES)}"
                )
            tz = (row.get("tz") or "").strip() or None
            if tz is not None:
                try:
                    time_zone(tz)
                except UnknownTimeZoneError as err:
                    raise CohortError(
                        f"{where}: person {pid} has unknown time zone {tz!r}; give an IANA name such as "
                        "Europe/Zurich"
                    ) from err
            fmt = (row.get("format") or "").strip() or "auto"
            if fmt not in (*FORMATS, "auto"):
                raise CohortError(
                    f"{where}: person {pid} has unknown format {fmt!r}; use one of {', '.join(FORMATS)} "
                    "or leave it empty to detect it"
                )
            people.append(ExportPerson(pid, KIND_NAMES[kind], tz, fmt))
    if not people:
        raise CohortError(f"{path}: no people listed; add a row per person (person_id, kind)")
    return people


def export_files(folder: Path, people: list[ExportPerson]) -> dict[str, list[Path]]:
    """{person_id: the person's export files in name order}: `<person_id>.<ext>` files in `folder`
    and the files directly in a `<person_id>/` sub-folder. Anything else in `folder` is an error."""
    files: dict[str, list[Path]] = {p.person_id: [] for p in people}
    for path in sorted(filter(_visible, folder.iterdir())):
        if path.name in (PEOPLE_FILE, MEALS_FILE):
            continue
        pid = path.name if path.is_dir() else path.stem
        if pid not in files:
            raise CohortError(
                f"{path}: an export of {pid!r}, who is not in {PEOPLE_FILE}; add the person there "
                "or move the file out of the folder"
            )
        if not path.is_dir():
            files[pid].append(path)
            continue
        for inner in sorted(filter(_visible, path.iterdir())):
            if inner.is_dir():
                raise CohortError(
                    f"{inner}: a folder inside {pid}'s exports; put the export files (or the Apple Health "
                    "export.zip) directly in the person's folder"
                )
            files[pid].append(inner)
    for pid, paths in files.items():
        if not paths:
            raise CohortError(
                f"{folder}: no export for person {pid} of {PEOPLE_FILE}; add {pid}.csv (or .json, .xml, "
                f".zip) or a folder {pid}/ with the exports, or remove the row"
            )
    return files


def read_meals(path: Path, people: list[ExportPerson]) -> dict[str, list[Meal]]:
    """{person_id: meals} of an optional meals.csv, the canonical layout's columns."""
    meals: dict[str, list[Meal]] = {p.person_id: [] for p in people}
    if not path.is_file():
        return meals
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        require_columns(path, reader.fieldnames, MEAL_COLUMNS)
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            if row["person_id"] not in meals:
                raise CohortError(f"{where}: person {row['person_id']!r} is not in {PEOPLE_FILE}")
            try:
                meals[row["person_id"]].append(meal_from_row(row, "logged", None))
            except ValueError as err:  # RecordError (no offset, negative amount) is a ValueError too
                raise CohortError(
                    f"{where}: {err}; give time as ISO 8601 with an offset and amounts in grams"
                ) from err
    return meals


def _read_person(person: ExportPerson, paths: list[Path], meals: list[Meal], cohort: str) -> Recording:
    parts = []
    for path in paths:
        try:
            parts.append(
                import_file(path, fmt=person.fmt, tz=person.tz, person_id=person.person_id, kind=person.kind)
            )
        except CgmImportError as err:
            raise CohortError(f"{path} (person {person.person_id}): {err}") from err
    try:
        recording = merge_recordings(parts, person.person_id, person.kind, cohort)
    except RecordError as err:
        raise CohortError(f"{', '.join(map(str, paths))}: {err}") from err
    if len(recording.glucose) == 0:
        logger.warning("person %s: no glucose readings in %d export(s)", person.person_id, len(paths))
    # The diary's meals join those the exports hold (food rows, carb events).
    return replace(recording, meals=tuple(sorted((*recording.meals, *meals), key=lambda m: m.time)))


def load_exports(folder: Path) -> list[Recording]:
    """Every person of people.csv with their exports merged into one `Recording` (see the module docstring)."""
    folder = Path(folder)
    people = read_people(folder / PEOPLE_FILE)
    files = export_files(folder, people)
    meals = read_meals(folder / MEALS_FILE, people)
    cohort = folder.resolve().name or "exports"
    return [_read_person(p, files[p.person_id], meals[p.person_id], cohort) for p in people]
