"""The exports cohort layout: people.csv beside each person's device exports, merged per person."""

from __future__ import annotations

import shutil
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from glucose_model.cohorts import CohortError, detect_layout, load_cohort, load_exports
from glucose_model.importers import import_file
from glucose_model.records import CENSORED_HIGH_MG_DL, DiabetesKind, Recording

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cgm"
CEST = timezone(timedelta(hours=2))
MEAL_TIME = datetime(2024, 5, 1, 8, 0, tzinfo=CEST)

STEPS_ONLY_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<HealthData locale="en_CH">
 <Record type="HKQuantityTypeIdentifierStepCount" sourceName="iPhone" unit="count"
  startDate="2024-05-01 08:25:00 +0200" endDate="2024-05-01 08:35:00 +0200" value="1240"/>
 <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="Apple Watch"
  startDate="2024-04-30 23:20:00 +0200" endDate="2024-05-01 06:40:00 +0200"
  value="HKCategoryValueSleepAnalysisAsleepCore"/>
</HealthData>
"""


def _generic_day() -> str:
    """5-min readings from 2 h before to 3 h after MEAL_TIME, rising after it: one usable meal window."""
    lines = ["time,glucose_mg_dl,steps"]
    for minute in range(-120, 181, 5):
        rise = 60.0 * (minute / 45) * np.exp(1 - minute / 45) if minute > 0 else 0.0
        lines.append(f"{(MEAL_TIME + timedelta(minutes=minute)).isoformat()},{100 + rise:.1f},")
    return "\n".join(lines) + "\n"


def _hospital(root: Path) -> Path:
    """p1: a generic CSV; p2: a Dexcom Clarity CSV in Zurich time; p3: a folder of three exports
    (Nightscout, a generic CSV repeating two of its timestamps, an Apple Health zip without glucose)."""
    folder = root / "hospital"
    folder.mkdir()
    (folder / "people.csv").write_text(
        "person_id,kind,tz,format\np1,healthy,,\np2,type1,Europe/Zurich,dexcom\np3,type2,,\n"
    )
    (folder / "p1.csv").write_text(_generic_day())
    shutil.copy(FIXTURES / "dexcom_clarity_mg_dl.csv", folder / "p2.csv")
    (folder / "p3").mkdir()
    shutil.copy(FIXTURES / "nightscout_entries.json", folder / "p3" / "a_entries.json")
    (folder / "p3" / "b_pump.csv").write_text(
        "time,glucose_mg_dl\n"
        "2024-05-01T08:00:12+02:00,250\n"  # also in the Nightscout file (109): that one is kept
        "2024-05-01T08:10:12+02:00,250\n"  # also there (131)
        "2024-05-01T08:15:12+02:00,140\n"
        "2024-05-01T07:50:12+02:00,100\n"
    )
    with zipfile.ZipFile(folder / "p3" / "export.zip", "w") as archive:
        archive.writestr("apple_health_export/export.xml", STEPS_ONLY_EXPORT)
    (folder / "meals.csv").write_text(
        f"person_id,time,carbs_g,fiber_g\np1,{MEAL_TIME.isoformat()},50,4\np2,2024-05-01T12:30:00+02:00,70,\n"
    )
    return folder


@pytest.fixture
def hospital(tmp_path: Path) -> Path:
    return _hospital(tmp_path)


def _by_person(recordings: list[Recording]) -> dict[str, Recording]:
    return {r.person_id: r for r in recordings}


def test_every_person_is_one_recording_with_kind_and_cohort(hospital: Path) -> None:
    people = _by_person(load_exports(hospital))
    assert sorted(people) == ["p1", "p2", "p3"]
    assert [people[p].kind for p in ("p1", "p2", "p3")] == [
        DiabetesKind.NONE,
        DiabetesKind.TYPE1,
        DiabetesKind.TYPE2,
    ]
    assert {r.cohort for r in people.values()} == {"hospital"}
    assert len(people["p1"].glucose) == 61


def test_dexcom_times_are_read_in_the_person_zone(hospital: Path) -> None:
    p2 = _by_person(load_exports(hospital))["p2"]
    assert p2.glucose.datetime_at(0) == datetime(2024, 5, 1, 7, 50, 12, tzinfo=CEST)
    assert (p2.glucose.utc_offset_min == 120).all()
    assert not any("UTC" in note for note in p2.report.notes)  # tz given: no "read as UTC" note
    assert CENSORED_HIGH_MG_DL in p2.glucose.glucose_mg_dl and p2.report.duplicates == 1


def test_meals_come_from_the_diary_and_from_the_exports(hospital: Path) -> None:
    people = _by_person(load_exports(hospital))
    p1, p2 = people["p1"].meals, people["p2"].meals
    assert [(m.time, m.carbs_g, m.fiber_g) for m in p1] == [(MEAL_TIME, 50.0, 4.0)]
    # The Dexcom carb event (45 g at 08:01) and the diary's lunch (70 g), in time order.
    assert [m.carbs_g for m in p2] == [45.0, 70.0]
    assert p2[1].time == datetime(2024, 5, 1, 12, 30, tzinfo=CEST) and p2[1].fiber_g is None
    assert people["p3"].meals == ()


def test_a_folder_of_exports_is_merged_sorted_and_deduplicated(hospital: Path) -> None:
    p3 = _by_person(load_exports(hospital))["p3"]
    night = import_file(hospital / "p3" / "a_entries.json")
    pump = import_file(hospital / "p3" / "b_pump.csv")
    times = p3.glucose.times_utc_s
    assert (np.diff(times) > 0).all()
    np.testing.assert_array_equal(times, np.union1d(night.glucose.times_utc_s, pump.glucose.times_utc_s))
    # A timestamp in both exports keeps the reading of the file first in name order (Nightscout).
    at = {int(t): float(g) for t, g in zip(times, p3.glucose.glucose_mg_dl, strict=True)}
    for t, g in zip(night.glucose.times_utc_s, night.glucose.glucose_mg_dl, strict=True):
        assert at[int(t)] == g
    assert 250.0 not in at.values() and 140.0 in at.values()
    report = p3.report
    assert report.duplicates == night.report.duplicates + pump.report.duplicates + 2
    assert report.readings_read == night.report.readings_read + pump.report.readings_read
    assert (
        report.readings_kept
        == len(p3.glucose)
        == report.readings_read - report.out_of_range - report.duplicates
    )
    assert report.censored_low == night.report.censored_low == 1
    assert p3.fingersticks is not None and len(p3.fingersticks) == 1  # Nightscout's mbg


def test_an_export_without_glucose_still_adds_its_events(hospital: Path) -> None:
    alone = import_file(hospital / "p3" / "export.zip")
    assert len(alone.glucose) == 0
    p3 = _by_person(load_exports(hospital))["p3"]
    assert [a.steps for a in p3.activity] == [1240.0]
    assert len(p3.sleep) == 1 and p3.sleep[0].hours == pytest.approx(7 + 20 / 60)


def test_detect_layout_picks_exports_and_keeps_canonical(hospital: Path, tmp_path: Path) -> None:
    assert detect_layout(hospital) == "exports"
    assert sorted(r.person_id for r in load_cohort(hospital)) == ["p1", "p2", "p3"]
    assert sorted(r.person_id for r in load_cohort(hospital, "exports")) == ["p1", "p2", "p3"]
    canonical = tmp_path / "canonical"
    canonical.mkdir()
    (canonical / "people.csv").write_text("person_id,kind\np1,type2\n")
    (canonical / "cgm.csv").write_text("person_id,time,glucose_mg_dl\np1,2024-05-01T08:00:00+02:00,120\n")
    assert detect_layout(canonical) == "canonical"


def test_a_federated_site_reads_and_splits_it_by_person(hospital: Path) -> None:
    from training.federated.sites import SiteSpec, load_site

    site = load_site(SiteSpec("h", hospital, "exports"), 0.25, 0)
    train, test = {r.person_id for r in site.train}, {r.person_id for r in site.test}
    assert len(test) == 1 and len(train) == 2
    assert train | test == {"p1", "p2", "p3"} and not train & test


def test_meal_examples_are_built_from_an_exports_folder(hospital: Path) -> None:
    from training.glucose_train import meal_examples

    examples = meal_examples(load_exports(hospital))
    # p1's diary meal has 2 h before and 3 h after it; p2's meals lack CGM around them.
    assert len(examples) == 1
    assert list(examples.person) == ["hospital/p1"]
    peak = np.nanmax(examples.rise_mg_dl[0])
    assert peak == pytest.approx(60.0, abs=2.0)


# ---- errors: each names the file and the fix ---------------------------------------------------


def test_people_csv_missing(tmp_path: Path) -> None:
    (tmp_path / "p1.csv").write_text(_generic_day())
    with pytest.raises(CohortError, match=r"people\.csv: not found; an exports folder needs people\.csv"):
        load_exports(tmp_path)


def test_a_person_without_any_export(hospital: Path) -> None:
    with (hospital / "people.csv").open("a") as f:
        f.write("p4,type2,,\n")
    with pytest.raises(CohortError, match=r"no export for person p4 of people\.csv; add p4\.csv"):
        load_exports(hospital)


@pytest.mark.parametrize("name", ["p9.csv", "p9"])
def test_an_export_of_someone_not_in_people_csv(hospital: Path, name: str) -> None:
    stray = hospital / name
    if name == "p9":
        stray.mkdir()
        shutil.copy(FIXTURES / "generic.csv", stray / "day.csv")
    else:
        shutil.copy(FIXTURES / "generic.csv", stray)
    with pytest.raises(CohortError, match=rf"{name}: an export of 'p9', who is not in people\.csv"):
        load_exports(hospital)


def test_unknown_kind(hospital: Path) -> None:
    people = hospital / "people.csv"
    people.write_text(people.read_text().replace("p3,type2", "p3,type3"))
    with pytest.raises(
        CohortError, match=r"people\.csv, line 4: person p3 has unknown kind 'type3'; use one of"
    ):
        load_exports(hospital)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ("Europe/Zurch,", "unknown time zone 'Europe/Zurch'; give an IANA name"),
        (",clarity", "unknown format 'clarity'; use one of dexcom"),
    ],
)
def test_unknown_zone_or_format(hospital: Path, cells: str, message: str) -> None:
    people = hospital / "people.csv"
    people.write_text(people.read_text().replace("p2,type1,Europe/Zurich,dexcom", f"p2,type1,{cells}"))
    with pytest.raises(CohortError, match=rf"line 3: person p2 has {message}"):
        load_exports(hospital)


def test_importer_errors_name_the_file_and_line(hospital: Path) -> None:
    (hospital / "p1.csv").write_text(
        "time,glucose_mg_dl\n2024-05-01T08:00:00+02:00,104\n2024-05-01T08:05:00,110\n"
    )
    with pytest.raises(CohortError) as caught:
        load_exports(hospital)
    message = str(caught.value)
    assert str(hospital / "p1.csv") in message and "person p1" in message
    assert "line 3" in message and "has no UTC offset" in message  # the importer's own words


def test_an_unknown_export_is_named(hospital: Path) -> None:
    (hospital / "p3" / "notes.txt").write_text("called on Monday\n")
    with pytest.raises(CohortError, match=r"notes\.txt \(person p3\): not a known CGM export"):
        load_exports(hospital)


def test_meals_csv_errors(hospital: Path) -> None:
    meals = hospital / "meals.csv"
    meals.write_text("person_id,time,carbs_g\np7,2024-05-01T08:00:00+02:00,40\n")
    with pytest.raises(CohortError, match=r"meals\.csv, line 2: person 'p7' is not in people\.csv"):
        load_exports(hospital)
    meals.write_text("person_id,time,carbs_g\np1,2024-05-01T08:00:00,40\n")
    with pytest.raises(CohortError, match=r"meals\.csv, line 2: .*no UTC offset"):
        load_exports(hospital)
