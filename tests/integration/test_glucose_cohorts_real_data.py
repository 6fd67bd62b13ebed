"""Every real cohort in ../shared/data loads with sane counts, units and windows (skips without the data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glucose_model.cohorts import detect_layout, load_cohort
from glucose_model.metrics import summarize_cgm
from glucose_model.records import DiabetesKind
from glucose_model.windows import meal_windows

pytestmark = pytest.mark.data

# name -> (people, at least this many meals, kind)
EXPECTED = {
    "d1namo": (4, 40, DiabetesKind.TYPE1),
    "dubosson": (7, 30, DiabetesKind.TYPE1),
    "shanghai": (58, 1500, None),
    "weinstock": (200, 0, DiabetesKind.TYPE1),
    "colas": (104, 0, DiabetesKind.NONE),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cohort_loads_with_sane_counts(shared_data: Path, name: str) -> None:
    recordings = load_cohort(shared_data, name)
    people, min_meals, kind = EXPECTED[name]
    assert len({r.person_id for r in recordings}) == people
    assert sum(len(r.meals) for r in recordings) >= min_meals
    for rec in recordings:
        g = rec.glucose.glucose_mg_dl
        assert len(g) > 50 and np.isfinite(g).all()
        assert g.min() >= 20 and g.max() <= 600
        assert 50 < float(np.median(g)) < 300  # mg/dL (a mmol/L series would sit near 5-15)
        assert kind is None or rec.kind is kind
        assert rec.report.readings_kept == len(rec.glucose)


def test_shanghai_people_span_several_files_and_meals_have_nutrients(shared_data: Path) -> None:
    recordings = load_cohort(shared_data, "shanghai")
    assert len(recordings) > len({r.person_id for r in recordings})  # periods of the same person
    assert {r.kind for r in recordings} == {DiabetesKind.TYPE1, DiabetesKind.TYPE2}
    carbs = np.array([m.carbs_g for r in recordings for m in r.meals])
    assert 20 < float(np.median(carbs)) < 120
    assert sum(1 for r in recordings for _ in meal_windows(r)) > 1000
    assert all(len(r.insulin) > 0 for r in recordings if r.kind is DiabetesKind.TYPE1)


def test_d1namo_metrics_and_layout_detection(shared_data: Path) -> None:
    assert detect_layout(shared_data / "d1namo") == "d1namo"
    assert detect_layout(shared_data / "shanghai") == "shanghai"
    assert detect_layout(shared_data / "weinstock2016") == "weinstock"
    assert detect_layout(shared_data / "dubosson2018") == "dubosson"
    for rec in load_cohort(shared_data, "d1namo"):
        summary = summarize_cgm(rec.glucose)
        assert 2 < summary.days_covered < 8 and summary.sensor_wear_percent > 50
        assert rec.fingersticks is not None and len(rec.fingersticks) > 0


def test_readings_at_the_sensor_limits_are_kept_as_censored(shared_data: Path) -> None:
    """D1NAMO piles readings at 2.2 / 22.2 mmol/L, Shanghai at 39.6 mg/dL: the sensors' LOW / HIGH, kept at
    39 / 401 mg/dL so they count below 54 / above 250, and counted in the import report."""
    d1namo = {r.person_id: r for r in load_cohort(shared_data, "d1namo")}
    report = d1namo["d1namo-001"].report
    assert (report.censored_low, report.censored_high) == (28, 39)
    g = d1namo["d1namo-001"].glucose
    assert g.censored is not None and int((g.glucose_mg_dl[g.censored < 0] == 39.0).sum()) == 28
    shanghai = load_cohort(shared_data, "shanghai")
    assert sum(r.report.censored_low for r in shanghai) == 162
    assert sum(r.report.censored_high for r in shanghai) == 0
