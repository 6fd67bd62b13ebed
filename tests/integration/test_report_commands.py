"""`mealimpact report` and `mealimpact export fhir` end to end, in process: an export file in the documented
generic CSV (meals and steps included) -> HTML report / FHIR bundle; bad input ends with a named error."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from mealimpact.cli import main

TZ = timezone(timedelta(hours=2))


def write_export(path: Path, days: int = 4) -> Path:
    """5-min CGM with a rise after 08:00 and 13:00 meals; a walk (2500 steps) after every lunch."""
    lines = ["time,glucose_mg_dl,carbs_g,steps,duration_min"]
    start = datetime(2024, 5, 1, tzinfo=TZ)
    for k in range(days * 288):
        t = start + timedelta(minutes=5 * k)
        minute = t.hour * 60 + t.minute
        glucose = 105.0
        for meal_minute, rise in ((480, 90.0), (780, 40.0)):
            since = minute - meal_minute
            glucose += rise * max(0.0, 1 - abs(since - 60) / 60) if 0 < since <= 120 else 0.0
        carbs = {480: "60", 780: "45"}.get(minute, "")
        steps, duration = ("2500", "20") if minute == 790 else ("", "")
        lines.append(f"{t.isoformat()},{glucose:.1f},{carbs},{steps},{duration}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_report_from_an_export_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = write_export(tmp_path / "export.csv", days=2)
    out = tmp_path / "report.pdf"
    assert main(["report", "--cgm", str(export), "--kind", "type2", "--no-model", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed
    assert "time_in_range_70_180_percent" in printed and "at least 14 days are recommended" in printed
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page ") + pdf.count(b"/Type /Page\n") == 3


def test_meal_log_replaces_the_export_meals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = write_export(tmp_path / "export.csv", days=2)
    log = tmp_path / "meals.csv"
    log.write_text("time,carbs_g,description\n2024-05-02T08:00:00+02:00,60,porridge\n", encoding="utf-8")
    out = tmp_path / "report.pdf"
    assert (
        main(["report", "--cgm", str(export), "--meals", str(log), "--out", str(out), "--unit", "mmol/L"])
        == 0
    )
    assert out.read_bytes().startswith(b"%PDF")
    assert "mmol/L" in capsys.readouterr().out


def test_export_fhir_from_an_export_file(tmp_path: Path) -> None:
    bundle_model = pytest.importorskip("fhir.resources.R4B.bundle", reason="fhir.resources is a dev extra")
    export = write_export(tmp_path / "export.csv", days=2)
    out = tmp_path / "bundle.json"
    args = ["export", "fhir", "--cgm", str(export), "--patient-reference", "Patient/9", "--out", str(out)]
    assert main(args) == 0
    bundle = json.loads(out.read_text(encoding="utf-8"))
    bundle_model.Bundle.model_validate(bundle)
    assert len(bundle["entry"]) == 8  # device, summary panel and its six members: no readings, no PDF
    assert {e["resource"]["subject"]["reference"] for e in bundle["entry"][1:]} == {"Patient/9"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--cgm", "missing.csv", "--out", "r.pdf"], "no such file"),
        (["report", "--cgm", "EXPORT", "--out", "r.docx"], "end the file name in .pdf, .png or .html"),
        (
            ["export", "fhir", "--cgm", "EXPORT", "--out", "b.json"],
            "needs a patient: add --patient-reference",
        ),
        (
            ["report", "--cgm", "EXPORT", "--from", "2025-01-01", "--out", "r.pdf"],
            "no CGM readings from 2025-01-01",
        ),
        (["report", "--out", "r.pdf"], "give either --cgm"),
    ],
)
def test_bad_input_ends_with_a_named_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    export = write_export(tmp_path / "export.csv", days=2)
    args = [
        str(export) if a == "EXPORT" else str(tmp_path / a) if a.endswith((".pdf", ".docx", ".json")) else a
        for a in args
    ]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_predicted_curves_from_the_shipped_response_model(tmp_path: Path) -> None:
    from mealimpact.commands.report import DEFAULT_RESPONSE_MODEL, summarize_with_model

    model = Path(__file__).resolve().parents[2] / DEFAULT_RESPONSE_MODEL
    if not model.is_file():
        pytest.skip(f"no response model exported at {model} yet")
    from glucose_model.importers import import_file

    recording = import_file(write_export(tmp_path / "export.csv", days=2))
    summary = summarize_with_model(recording, model)
    assert "glucose response model version" in summary.model_note
    predicted = [o.predicted for o in summary.measured]
    assert predicted and all(p is not None and p.glucose_mg_dl.shape == (37,) for p in predicted)
    assert all(np.all(p.low_mg_dl <= p.high_mg_dl + 1e-6) for p in predicted if p is not None)
    assert any("response model predicted the curve" in line for line in summary.findings)
    missing = summarize_with_model(recording, tmp_path / "none.onnx")
    assert "no response model at" in missing.model_note and all(o.predicted is None for o in missing.outcomes)


def test_report_period_defaults_to_the_latest_14_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_export(tmp_path / "export.csv", days=16)
    out = tmp_path / "report.html"
    assert main(["report", "--cgm", str(export), "--no-model", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "03 May 2024 - 16 May 2024 (14.0 days, the latest 14 of 16 days recorded)" in printed
    assert main(["report", "--cgm", str(export), "--no-model", "--days", "3", "--out", str(out)]) == 0
    assert "14 May 2024 - 16 May 2024 (3.0 days, the latest 3 of 16 days" in capsys.readouterr().out
    args = ["--from", "2024-05-02", "--to", "2024-05-04"]
    assert main(["report", "--cgm", str(export), "--no-model", *args, "--out", str(out)]) == 0
    assert "02 May 2024 - 04 May 2024 (3.0 days, chosen from 16 days recorded)" in capsys.readouterr().out
