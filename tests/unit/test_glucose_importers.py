"""CGM importers on fixtures shaped like real exports: values, units, counts, zones and errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from glucose_model.importers import (
    CgmImportError,
    MalformedFileError,
    UnitError,
    UnknownFormatError,
    detect_format,
    import_bytes,
    import_file,
)
from glucose_model.metrics import summarize_cgm
from glucose_model.records import InsulinKind

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cgm"
CEST = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("dexcom_clarity_mg_dl.csv", "dexcom"),
        ("dexcom_clarity_mmol_l.csv", "dexcom"),
        ("libreview_mg_dl.csv", "libreview"),
        ("libreview_mmol_l.csv", "libreview"),
        ("nightscout_entries.json", "nightscout"),
        ("apple_health_export.xml", "apple_health"),
        ("generic.csv", "generic_csv"),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(FIXTURES / name) == fmt
    assert detect_format((FIXTURES / name).read_bytes()) == fmt


def test_dexcom_counts_markers_duplicates_gaps_and_events() -> None:
    rec = import_file(FIXTURES / "dexcom_clarity_mg_dl.csv", tz="Europe/Zurich")
    g = rec.glucose
    # High (08:15) and Low (08:45) are kept at the censored codes: a LOW is below 54 mg/dL, not missing.
    assert list(g.glucose_mg_dl) == [104, 106, 109, 118, 131, 401, 152, 39]
    assert g.datetime_at(0) == datetime(2024, 5, 1, 7, 50, 12, tzinfo=CEST)
    assert rec.report.censored_low == 1 and rec.report.censored_high == 1
    assert rec.report.out_of_range == 0
    assert rec.report.duplicates == 1  # 08:10:12 exported twice
    assert rec.report.gaps == 1  # 08:15 -> 08:40
    assert rec.report.readings_read == 9 and rec.report.readings_kept == 8
    assert [m.carbs_g for m in rec.meals] == [45]
    assert [(d.units, d.kind) for d in rec.insulin] == [(4.5, InsulinKind.RAPID), (18.0, InsulinKind.BASAL)]
    assert rec.fingersticks is not None and list(rec.fingersticks.glucose_mg_dl) == [140]
    assert rec.report.other_rows >= 6  # metadata rows and the exercise event


def test_dexcom_mmol_is_converted_and_missing_zone_is_noted() -> None:
    rec = import_file(FIXTURES / "dexcom_clarity_mmol_l.csv")
    np.testing.assert_allclose(rec.glucose.glucose_mg_dl, np.array([5.8, 5.9, 6.1]) * 18.016)
    assert (rec.glucose.utc_offset_min == 0).all()
    assert any("UTC" in note for note in rec.report.notes)


def test_libreview_us_export() -> None:
    rec = import_file(FIXTURES / "libreview_mg_dl.csv", tz="America/New_York")
    assert list(rec.glucose.glucose_mg_dl) == [101, 104, 107, 128, 151, 160]  # historic and scan
    assert rec.glucose.datetime_at(0).utcoffset() == timedelta(hours=-4)
    assert [m.carbs_g for m in rec.meals] == [50]
    assert {d.kind for d in rec.insulin} == {InsulinKind.RAPID, InsulinKind.BASAL}
    assert rec.fingersticks is not None and len(rec.fingersticks) == 1
    assert rec.report.other_rows == 1  # the type-6 note
    assert rec.report.gaps == 1


def test_libreview_mmol_day_first_with_lo_marker() -> None:
    rec = import_file(FIXTURES / "libreview_mmol_l.csv", tz="Europe/Berlin")
    assert rec.report.out_of_range == 0 and rec.report.censored_low == 1
    assert rec.glucose.glucose_mg_dl[2] == 39  # the LO scan, at the censored code in mg/dL
    assert rec.glucose.datetime_at(3).day == 13 and rec.glucose.datetime_at(3).month == 5
    assert rec.glucose.glucose_mg_dl[0] == pytest.approx(5.6 * 18.016)


def test_nightscout_entries() -> None:
    rec = import_file(FIXTURES / "nightscout_entries.json")
    assert list(rec.glucose.glucose_mg_dl) == [106, 109, 39, 131]  # sorted by time; 39 is the LOW code
    assert rec.glucose.utc_offset_min[0] == 120
    assert rec.report.censored_low == 1 and rec.report.out_of_range == 0 and rec.report.other_rows == 1
    assert rec.fingersticks is not None and list(rec.fingersticks.glucose_mg_dl) == [135]


def test_apple_health_export() -> None:
    rec = import_file(FIXTURES / "apple_health_export.xml")
    np.testing.assert_allclose(rec.glucose.glucose_mg_dl, [104, 112, 6.5 * 18.016])
    assert rec.glucose.utc_offset_min[0] == 120
    steps = [a for a in rec.activity if a.steps is not None]
    assert steps[0].steps == 1240 and steps[0].duration_min == 10
    assert [a.heart_rate_bpm for a in rec.activity if a.heart_rate_bpm] == [104]
    assert len(rec.sleep) == 1 and rec.sleep[0].hours == pytest.approx(7 + 10 / 60)  # 10-min wake merged
    assert rec.report.other_rows == 2  # in-bed and body mass


def test_generic_csv() -> None:
    rec = import_file(FIXTURES / "generic.csv")
    assert list(rec.glucose.glucose_mg_dl) == [101, 104, 110, 126]
    assert [m.carbs_g for m in rec.meals] == [60]
    assert rec.activity[0].steps == 1500 and rec.activity[0].duration_min == 15
    assert [d.kind for d in rec.insulin] == [InsulinKind.RAPID, InsulinKind.BASAL]
    assert any("comment" in note for note in rec.report.notes)


def test_malformed_line_is_named() -> None:
    text = (
        (FIXTURES / "generic.csv")
        .read_text()
        .replace("2024-05-01T08:05:00+02:00,110", "2024-05-01 08:05,110")
    )
    with pytest.raises(MalformedFileError, match="line 4") as err:
        import_bytes(text.encode(), "bad.csv")
    assert err.value.line == 4


def test_dexcom_bad_number_names_line() -> None:
    text = (FIXTURES / "dexcom_clarity_mg_dl.csv").read_text().replace("Android G6,118", "Android G6,1l8")
    with pytest.raises(MalformedFileError, match=r"line 13"):
        import_bytes(text.encode(), "clarity.csv")


def test_generic_without_offset_or_unit() -> None:
    with pytest.raises(MalformedFileError, match="no UTC offset"):
        import_bytes(b"time,glucose_mg_dl\n2024-05-01T08:00:00,100\n", "x.csv")
    with pytest.raises(UnknownFormatError):
        import_bytes(b"time,glucose\n2024-05-01T08:00:00Z,100\n", "x.csv")
    with pytest.raises(UnitError):
        import_bytes(b"time,glucose\n", "x.csv", fmt="generic_csv")


def test_nightscout_cut_file() -> None:
    text = (FIXTURES / "nightscout_entries.json").read_text()
    with pytest.raises(CgmImportError, match="line"):
        import_bytes(text[: len(text) // 2].encode(), "entries.json")


def test_unknown_zone_and_missing_file() -> None:
    with pytest.raises(CgmImportError, match="time zone"):
        import_file(FIXTURES / "dexcom_clarity_mg_dl.csv", tz="Mars/Olympus")
    with pytest.raises(CgmImportError, match="no such file"):
        import_file(FIXTURES / "absent.csv")


def test_nightscout_error_codes_are_out_of_range_but_low_and_high_are_kept() -> None:
    entries = [
        {"type": "sgv", "sgv": sgv, "date": 1714543212000 + i * 300_000, "utcOffset": 0}
        for i, sgv in enumerate([5, 39, 100, 401, 450])
    ]
    rec = import_bytes(json.dumps(entries).encode(), "entries.json")
    assert list(rec.glucose.glucose_mg_dl) == [39, 100, 401, 450]
    assert rec.report.out_of_range == 1 and rec.report.censored_low == 1 and rec.report.censored_high == 1
    assert list(rec.glucose.censored) == [-1, 0, 1, 0]  # type: ignore[arg-type]


def test_censored_readings_count_in_the_consensus_ranges() -> None:
    # Two LOW and one HIGH among ten readings: 20 % below 54 and 10 % above 250, as a clinician reads it.
    rows = [("Low" if i in (2, 3) else "High" if i == 7 else "120") for i in range(10)]
    header = (FIXTURES / "dexcom_clarity_mg_dl.csv").read_text().splitlines()[0]
    lines = [header] + [
        f"{i + 1},2024-05-01T{8 + i // 12:02d}:{(i % 12) * 5:02d}:00,EGV,,,,G6,{v},,,,,,"
        for i, v in enumerate(rows)
    ]
    rec = import_bytes("\n".join(lines).encode(), "clarity.csv", tz="UTC")
    summary = summarize_cgm(rec.glucose)
    assert rec.report.censored_low == 2 and rec.report.censored_high == 1
    assert summary.time_below_54_percent == pytest.approx(20.0)
    assert summary.time_above_250_percent == pytest.approx(10.0)


def test_series_flags_which_readings_were_censored() -> None:
    rec = import_file(FIXTURES / "dexcom_clarity_mg_dl.csv", tz="Europe/Zurich")
    assert rec.glucose.censored is not None
    assert list(rec.glucose.censored) == [0, 0, 0, 0, 0, 1, 0, -1]
    start = rec.glucose.datetime_at(5)
    assert list(rec.glucose.between(start, start + timedelta(hours=1)).censored) == [1, 0, -1]  # type: ignore[arg-type]
