"""Real records from ../shared/data rendered to PDF and PNG; the numbers printed on them are checked against
the metrics module and against an independent computation from the raw files; the FHIR bundle validates.

Records: Weinstock 2016 person 72 (14.9 days, the AGP's recommended two weeks) and Shanghai T2DM person 2016
period 0 (13.9 days with 48 logged meals, so the report must say it is shorter than recommended).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from glucose_model.agp import AmbulatoryGlucoseProfile, ReportPeriod, build_profile, build_recording_profile
from glucose_model.cohorts import load_shanghai_file, load_weinstock
from glucose_model.fhir import FhirExportOptions, build_cgm_bundle
from glucose_model.meal_summary import MealSummary, summarize_meals
from glucose_model.metrics import meal_response, summarize_cgm
from glucose_model.records import DiabetesKind, Recording
from glucose_model.report import DisplayUnit, RenderedReport, ReportFormat, render_report

pytestmark = pytest.mark.data

SHANGHAI_FILE = "shanghai/Shanghai_T2DM/processed_2016_0_20201224.xlsx.csv"
WEINSTOCK_ID = "72"


def independent_metrics(values_mg_dl: np.ndarray) -> dict[str, float]:
    """Battelino 2019 written out again from the definitions, not through glucose_model.metrics."""
    g = values_mg_dl[np.isfinite(values_mg_dl)]
    mean = float(np.mean(g))
    return {
        "mean_mg_dl": mean,
        "gmi_percent": 3.31 + 0.02392 * mean,
        "cv_percent": 100.0 * float(np.std(g)) / mean,
        "time_below_54_percent": 100.0 * float(np.mean(g < 54)),
        "time_54_69_percent": 100.0 * float(np.mean((g >= 54) & (g < 70))),
        "time_in_range_70_180_percent": 100.0 * float(np.mean((g >= 70) & (g <= 180))),
        "time_181_250_percent": 100.0 * float(np.mean((g > 180) & (g <= 250))),
        "time_above_250_percent": 100.0 * float(np.mean(g > 250)),
    }


def printed_number(text: str) -> float:
    return float(text.split()[0].lstrip("+"))


def check_printed_agp(
    printed: dict[str, str], profile: AmbulatoryGlucoseProfile, expected: dict[str, float], unit: DisplayUnit
) -> None:
    s = profile.summary
    rounding = 0.5 * 10.0**-unit.decimals
    assert printed["mean_glucose"].endswith(unit.value)
    mean = printed_number(printed["mean_glucose"])
    assert mean == pytest.approx(float(unit.convert(expected["mean_mg_dl"])), abs=rounding)
    assert mean == pytest.approx(float(unit.convert(s.mean_mg_dl)), abs=rounding)
    for key in ("gmi_percent", "cv_percent", *[k for k in expected if k.startswith("time_")]):
        assert printed_number(printed[key]) == pytest.approx(expected[key], abs=0.05), key
        assert printed_number(printed[key]) == pytest.approx(getattr(s, key), abs=0.05), key
    assert printed_number(printed["sensor_wear_percent"]) == pytest.approx(s.sensor_wear_percent, abs=0.05)


@pytest.fixture(scope="module")
def weinstock(shared_data: Path) -> tuple[Recording, np.ndarray]:
    recording = next(
        r for r in load_weinstock(shared_data / "weinstock2016") if r.person_id.endswith(f"-{WEINSTOCK_ID}")
    )
    with zipfile.ZipFile(shared_data / "weinstock2016" / "Weinstock2016_processed.zip") as z:
        lines = z.read(z.namelist()[0]).decode("utf-8").splitlines()
    assert lines[0] == '"id","time","gl"'
    raw = np.array([float(line.split(",")[2]) for line in lines[1:] if line.startswith(f"{WEINSTOCK_ID},")])
    # 39 and 401 are the sensor's LOW / HIGH codes: real readings beyond its range, kept at those values,
    # so the independent computation takes the file as it is (LOW counts below 54 mg/dL).
    assert int((raw == 39).sum()) == 63 and int((raw == 401).sum()) == 7
    return recording, raw


@pytest.fixture(scope="module")
def shanghai(shared_data: Path) -> tuple[Recording, np.ndarray]:
    path = shared_data / SHANGHAI_FILE
    recording = load_shanghai_file(path, DiabetesKind.TYPE2)
    with path.open(encoding="utf-8", newline="") as f:
        raw = np.array([float(r["CGM (mg / dl)"]) for r in csv.DictReader(f) if r["CGM (mg / dl)"].strip()])
    return recording, raw


@pytest.fixture(scope="module")
def shanghai_report(
    shanghai: tuple[Recording, np.ndarray],
) -> tuple[AmbulatoryGlucoseProfile, MealSummary, RenderedReport]:
    recording, _ = shanghai
    profile = build_profile(recording.glucose)
    meals = summarize_meals(recording)
    return (
        profile,
        meals,
        render_report(profile, meals, DisplayUnit.MMOL_L, "shanghai-2016 period 0", ReportFormat.PDF),
    )


def test_two_week_record_renders_to_png_with_the_right_numbers(
    weinstock: tuple[Recording, np.ndarray],
) -> None:
    recording, raw = weinstock
    # The record is 14.9 days; the whole of it, to compare with the independent numbers over every reading.
    profile = build_recording_profile(recording, ReportPeriod(days=15))
    assert profile.summary.days_covered >= 14 and not profile.shorter_than_recommended
    assert profile.summary.readings == raw.shape[0] == recording.report.readings_kept
    report = render_report(profile, None, DisplayUnit.MG_DL, "weinstock-72", ReportFormat.PNG)
    assert report.page_names == ("agp",)
    assert report.pages[0].startswith(b"\x89PNG")
    printed = report.printed["agp"]
    # Two weeks, sensor active > 70 %: the only note is about the 63 LOW / 7 HIGH readings.
    assert printed["data_sufficiency_note"].startswith(
        "63 readings were below the sensor's range (LOW) and 7"
    )
    assert printed["unit"] == "mg/dL"
    check_printed_agp(printed, profile, independent_metrics(raw), DisplayUnit.MG_DL)


def test_shorter_record_says_so_and_prints_metrics_and_meals(
    shanghai: tuple[Recording, np.ndarray],
    shanghai_report: tuple[AmbulatoryGlucoseProfile, MealSummary, RenderedReport],
) -> None:
    recording, raw = shanghai
    profile, meals, report = shanghai_report
    assert report.pages[0].startswith(b"%PDF") and len(report.pages[0]) > 20_000
    assert (
        report.page_names[:2] == ("agp", "meals") and len(report.page_names) == 4
    )  # 48 meals: 2 table pages
    printed = report.printed["agp"]
    assert "13.9 days; at least 14 days are recommended" in printed["data_sufficiency_note"]
    # The period counts the interval after the last reading (a day of 96 fifteen-minute readings is 1 day).
    whole = summarize_cgm(recording.glucose)
    assert profile.summary.days_covered == pytest.approx(whole.days_covered + profile.interval_min / 1440)
    assert dataclasses.replace(profile.summary, days_covered=whole.days_covered) == whole
    check_printed_agp(printed, profile, independent_metrics(raw), DisplayUnit.MMOL_L)
    # Each meal's printed peak and rise (mmol/L, one decimal): the metrics module's meal response, and an
    # independent computation: the raw 15-min readings interpolated onto the 5-min clock grid around the meal
    # (the grid time nearest the meal is minute 0), baseline the mean over -30..0 min, peak the max over 5..180.
    table = {**report.printed["meal_table_1"], **report.printed["meal_table_2"]}
    assert report.printed["meals"]["meals_logged"] == str(len(recording.meals)) == "48"
    assert "mmol/L" in report.printed["meals"]["findings"]
    times, glucose = recording.glucose.times_utc_s, recording.glucose.glucose_mg_dl
    mmol = DisplayUnit.MMOL_L
    for row, outcome in enumerate(meals.outcomes, start=1):
        response = meal_response(outcome.minutes, outcome.glucose_mg_dl)
        assert float(table[f"meal_{row}_peak"]) == pytest.approx(
            float(mmol.convert(response.peak_mg_dl)), abs=0.051
        )
        assert float(table[f"meal_{row}_rise"]) == pytest.approx(
            float(mmol.convert(response.peak_rise_mg_dl)), abs=0.051
        )
        centre_s = round(outcome.meal.time.timestamp() / 300) * 300
        before = np.interp(centre_s + np.arange(-30, 1, 5) * 60, times, glucose)
        after = np.interp(centre_s + np.arange(5, 181, 5) * 60, times, glucose)
        assert float(table[f"meal_{row}_peak"]) == pytest.approx(
            float(mmol.convert(after.max())), abs=0.051
        ), row
        rise = after.max() - before.mean()
        assert float(table[f"meal_{row}_rise"]) == pytest.approx(float(mmol.convert(rise)), abs=0.051), row


def test_fhir_bundle_of_the_real_record_validates(
    shanghai: tuple[Recording, np.ndarray],
    shanghai_report: tuple[AmbulatoryGlucoseProfile, MealSummary, RenderedReport],
) -> None:
    bundle_model = pytest.importorskip("fhir.resources.R4B.bundle", reason="fhir.resources is a dev extra")
    recording, raw = shanghai
    profile, _, report = shanghai_report
    options = FhirExportOptions("Patient/example", include_readings=True, include_pdf=True)
    # Readings of the first day only: validating all 1339 takes fhir.resources longer than the test budget.
    first_day = recording.glucose.between(profile.start, profile.start + timedelta(days=1))
    bundle = build_cgm_bundle(profile, first_day, options, pdf=report.pages[0])
    parsed = bundle_model.Bundle.model_validate(bundle)
    assert len(parsed.entry) == 1 + 7 + 1 + len(first_day)  # device, panel + 6 members, report, readings
    again = bundle_model.Bundle.model_validate(json.loads(parsed.model_dump_json(exclude_none=True)))
    assert again.model_dump() == parsed.model_dump()
    tir = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "106793-3"
    )
    in_range = next(c for c in tir["component"] if c["code"]["coding"][0]["code"] == "97510-2")
    assert in_range["valueQuantity"]["value"] == pytest.approx(
        independent_metrics(raw)["time_in_range_70_180_percent"], abs=0.005
    )
