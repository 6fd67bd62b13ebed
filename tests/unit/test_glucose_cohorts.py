"""Cohort loaders on tiny folders in the real layouts: parsing, units, zones, person ids, detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from glucose_model import cohorts
from glucose_model.cohorts.d1namo import _interpolated_events
from glucose_model.records import MG_DL_PER_MMOL_L, DiabetesKind, InsulinKind

SHANGHAI_HEADER = (
    "Date,CGM (mg / dl),CBG (mg / dl),Blood Ketone (mmol / L),Dietary intake,饮食,Insulin dose - s.c.,"
    'Non-insulin hypoglycemic agents,"CSII - bolus insulin (Novolin R, IU)",'
    '"CSII - basal insulin (Novolin R, IU / H)",Insulin dose - i.v.\n'
)


def write_shanghai(folder: Path) -> Path:
    sub = folder / "Shanghai_T2DM"
    sub.mkdir(parents=True)
    rows = [
        "2020-11-02 09:40:00,102.6,,,,,,,,,",
        '2020-11-02 09:55:00,97.2,104.4,,"Rice 150 g\nEgg 50 g","米饭150g\n鸡蛋50g","Novolin 30R, 10 IU",metformin 850 mg,,,',
        "2020-11-02 10:10:00,95.4,,,data not available,未记录,,,,0.5,",
        "2020-11-02 10:25:00,91.8,,,,,,,2.0,,",
    ]
    path = sub / "processed_2001_0_20201102.xlsx.csv"
    path.write_text(SHANGHAI_HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    (sub / "processed_2001_0_20201102.csv").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_shanghai_file(tmp_path: Path) -> None:
    (rec,) = cohorts.load_cohort(
        write_shanghai(tmp_path / "shanghai"), "shanghai"
    )  # the .csv copy is skipped
    assert (
        rec.person_id == "shanghai-2001" and rec.kind is DiabetesKind.TYPE2 and rec.cohort == "shanghai_t2dm"
    )
    assert list(rec.glucose.glucose_mg_dl) == [102.6, 97.2, 95.4, 91.8]
    assert rec.glucose.datetime_at(0).utcoffset() == timedelta(hours=8)
    assert rec.fingersticks is not None and list(rec.fingersticks.glucose_mg_dl) == [104.4]
    (meal,) = rec.meals
    assert meal.carbs_source == "usda-match" and 30 < meal.carbs_g < 60  # 150 g cooked rice is ~42 g
    assert meal.carbs_confidence is not None and meal.carbs_confidence > 0.6
    rapid = [d.units for d in rec.insulin if d.kind is InsulinKind.RAPID]
    assert pytest.approx(sorted(rapid)) == [2.0, 3.0]  # CSII bolus, and 30 % of the 30R premix
    assert any(d.kind is InsulinKind.BASAL and d.units == pytest.approx(7.0) for d in rec.insulin)
    assert rec.notes and "metformin" in rec.notes[0][1]
    assert "1 meal placeholders" in " ".join(rec.report.notes)


def test_d1namo_person(tmp_path: Path) -> None:
    person = tmp_path / "d1namo" / "001"
    person.mkdir(parents=True)
    (person / "glucose.csv").write_text(
        "date,time,glucose,type,comments\n2014-10-01,19:14:00,10.3,cgm,\n2014-10-01,19:19:00,9.9,cgm,\n"
        "2014-10-01,19:23:00,9.4,manual,\n"
    )
    (person / "insulin.csv").write_text(
        "date,time,fast_insulin,slow_insulin,comment\n2014-10-01,19:28:00,6,,\n"
    )
    (person / "food.csv").write_text(
        ",picture,description,calories,balance,quality,datetime\n0,001.jpg,Pasta,400,Balance,Good quality,2014:10:01 19:27:49\n"
    )
    (rec,) = cohorts.load_cohort(tmp_path / "d1namo", "auto")
    assert rec.person_id == "d1namo-001" and rec.kind is DiabetesKind.TYPE1
    np.testing.assert_allclose(rec.glucose.glucose_mg_dl, np.array([10.3, 9.9]) * MG_DL_PER_MMOL_L)
    assert rec.fingersticks is not None and len(rec.fingersticks) == 1
    assert rec.glucose.datetime_at(0) == datetime(2014, 10, 1, 19, 14, tzinfo=timezone(timedelta(hours=2)))
    (meal,) = rec.meals
    assert (
        meal.kcal == 400
        and meal.carbs_g == pytest.approx(400 * 0.45 / 4)
        and meal.carbs_source == "kcal-estimate"
    )
    assert meal.photo_path is not None and meal.photo_path.endswith("food_pictures/001.jpg")
    assert rec.insulin[0].units == 6


def test_canonical_folder(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("person_id,kind,si\np1,healthy,1.0\np2,type1,0.5\n")
    (tmp_path / "cgm.csv").write_text(
        "person_id,time,glucose_mg_dl\np1,2024-05-01T08:00:00+02:00,90\np1,2024-05-01T08:05:00+02:00,95\n"
        "p2,2024-05-01T08:00:00+02:00,150\n"
    )
    (tmp_path / "meals.csv").write_text(
        "person_id,time,carbs_g,sugars_g,fiber_g,fat_g,protein_g\np1,2024-05-01T08:00:00+02:00,50,10,3,5,8\n"
    )
    (tmp_path / "sleep.csv").write_text(
        "person_id,start,end\np2,2024-04-30T23:00:00+02:00,2024-05-01T07:00:00+02:00\n"
    )
    assert cohorts.detect_layout(tmp_path) == "canonical"
    p1, p2 = cohorts.load_canonical(tmp_path)
    assert p1.kind is DiabetesKind.NONE and p2.kind is DiabetesKind.TYPE1
    assert len(p1.glucose) == 2 and p1.meals[0].fiber_g == 3 and p2.sleep[0].hours == 8


def test_interpolated_events_are_recovered() -> None:
    # Events 6 at index 1 and 4 at index 5, linearly interpolated to zero in between (GlucoBench).
    values = np.array([0, 6, 4.5, 3, 1.5, 4, 2, 0, 0])
    assert list(np.flatnonzero(_interpolated_events(values))) == [1, 5]


def test_unknown_folder_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(cohorts.CohortError, match="not a known cohort layout"):
        cohorts.detect_layout(tmp_path)
    with pytest.raises(cohorts.CohortError, match="unknown cohort"):
        cohorts.load_cohort(tmp_path, "mimic")


def test_readings_at_the_sensor_range_ends_are_censored() -> None:
    from glucose_model.cohorts.tables import series_from_pairs

    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    readings = [(t0 + timedelta(minutes=5 * i), v) for i, v in enumerate([2.2, 5.0, 22.2, 1.9, 6.0])]
    series, report = series_from_pairs(readings, "t", mmol=True, sensor_range=(2.2, 22.2))
    assert list(series.censored) == [-1, 0, 1, -1, 0]  # type: ignore[arg-type]
    assert (report.censored_low, report.censored_high) == (2, 1)
    np.testing.assert_allclose(
        series.glucose_mg_dl, [39.0, 5.0 * MG_DL_PER_MMOL_L, 401.0, 39.0, 6.0 * MG_DL_PER_MMOL_L]
    )
