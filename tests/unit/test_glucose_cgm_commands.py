"""`mealimpact cgm-import` and `cohort-summary` on fixtures: exit codes and what they print."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mealimpact.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cgm"


def test_cgm_import_prints_format_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cgm-import", str(FIXTURES / "dexcom_clarity_mg_dl.csv"), "--tz", "Europe/Zurich"]) == 0
    out = capsys.readouterr().out
    # The fixture's "Low" and "High" rows are sensor limits: kept as censored readings, not dropped.
    assert "dexcom" in out and "sensor LOW 1, HIGH 1" in out and "out of range 0" in out
    assert "duplicates 1" in out


def test_cgm_import_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("not,a,cgm\n1,2,3\n")
    assert main(["cgm-import", str(bad)]) == 2
    assert "not a known CGM export" in capsys.readouterr().out


def test_cgm_import_reads_an_apple_health_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(FIXTURES / "apple_health_export.xml", "apple_health_export/export.xml")
    assert main(["cgm-import", str(path)]) == 0
    assert "export.zip: apple_health" in capsys.readouterr().out


def test_cgm_import_cut_file_needs_keep_partial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (FIXTURES / "dexcom_clarity_mg_dl.csv").read_text()
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: text.index("Android G6,152") + 12])  # `...,Android G6,15`: the value was 152
    assert main(["cgm-import", str(cut), "--tz", "Europe/Zurich"]) == 2
    assert "line 18" in capsys.readouterr().out
    assert main(["cgm-import", str(cut), "--tz", "Europe/Zurich", "--keep-partial"]) == 0
    out = capsys.readouterr().out
    assert "warning: the file is cut at line 18" in out and "152" not in out


def test_cgm_import_generic_csv_with_local_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "local.csv"
    path.write_text("time,glucose_mg_dl\n2014-02-03T03:42:12,100\n2014-02-03T03:47:12,104\n")
    assert main(["cgm-import", str(path)]) == 2
    assert "--tz" in capsys.readouterr().out
    assert main(["cgm-import", str(path), "--tz", "America/Los_Angeles"]) == 0


def test_cohort_summary_of_a_canonical_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "people.csv").write_text("person_id,kind\np1,type2\n")
    (tmp_path / "cgm.csv").write_text("person_id,time,glucose_mg_dl\np1,2024-05-01T08:00:00+02:00,120\n")
    assert main(["cohort-summary", str(tmp_path), "--cohort", "auto"]) == 0
    assert "auto: recordings 1, people 1" in capsys.readouterr().out
