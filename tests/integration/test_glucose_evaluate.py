"""`mealimpact evaluate glucose` on a tiny real subset: one held-out Shanghai T2DM person."""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime as ort
import pytest

from glucose_model.records import DiabetesKind, GlucoseSeries, Recording
from mealimpact.cli import main
from training.glucose_evaluate import unseen

REPO_ROOT = Path(__file__).resolve().parents[2]
FORECAST = REPO_ROOT / "models" / "glucose_forecast" / "1" / "model.onnx"


def _recording(person: str, cohort: str) -> Recording:
    empty = GlucoseSeries.from_datetimes([], [])
    return Recording(person, empty, DiabetesKind.TYPE1, cohort=cohort)


def test_unseen_drops_trained_people_and_keeps_other_cohorts() -> None:
    recs = [_recording("a", "x"), _recording("b", "x"), _recording("c", "y")]
    assert [r.person_id for r in unseen(recs, {"trained_people": json.dumps(["a"])})] == ["b", "c"]
    assert [r.person_id for r in unseen(recs, {"trained_people": json.dumps(["other/b"])})] == ["a", "c"]
    held = {"held_out_people": json.dumps(["x/b"]), "training_data": json.dumps(["x: 2 people"])}
    assert [r.person_id for r in unseen(recs, held)] == ["b", "c"]
    # The same people under another cohort name (D1NAMO and Dubosson) stay seen unless held out.
    shared = [_recording("d1namo-001", "dubosson"), _recording("d1namo-002", "dubosson")]
    held = {
        "held_out_people": json.dumps(["d1namo/d1namo-002"]),
        "training_data": json.dumps({"d1namo": "..."}),
    }
    assert [r.person_id for r in unseen(shared, held)] == ["d1namo-002"]


@pytest.mark.data
def test_evaluation_writes_figures_report_and_table(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not FORECAST.is_file():
        pytest.skip(f"{FORECAST} not built")
    metadata = ort.InferenceSession(str(FORECAST), providers=["CPUExecutionProvider"]).get_modelmeta()
    held_out = json.loads(metadata.custom_metadata_map["held_out_people"])
    ids = [p.removeprefix("shanghai-") for p in held_out if p.startswith("shanghai-2")][:1]
    assert ids, "the shipped forecast holds out some Shanghai T2DM people"
    folder = tmp_path / "Shanghai_T2DM"
    folder.mkdir()
    for source in sorted((shared_data / "shanghai" / "Shanghai_T2DM").glob("processed_*.xlsx.csv")):
        if source.name.split("_")[1] in ids:
            (folder / source.name).symlink_to(source)

    out = tmp_path / "figures.json"
    code = main(
        [
            "evaluate",
            "glucose",
            "--data",
            str(folder),
            "--json",
            str(out),
            "--report",
            str(tmp_path / "report"),
            "--models-dir",
            str(REPO_ROOT / "models"),
        ]
    )
    assert code == 0
    figures = json.loads(out.read_text())
    scores = figures["forecast"]["shanghai_t2dm"]
    assert scores["people"] == len(ids)
    assert 0 < scores["model"]["rmse_30min_mg_dl"] < scores["model"]["rmse_60min_mg_dl"] < 100
    zones = scores["model"]["clarke_30min_percent"]
    assert sum(zones.values()) == pytest.approx(100.0) and zones["A"] > 50
    assert scores["skill_vs_persistence_30min"] == pytest.approx(
        1 - scores["model"]["rmse_30min_mg_dl"] / scores["persistence"]["rmse_30min_mg_dl"]
    )
    report = (tmp_path / "report" / "REPORT.md").read_text()
    assert "clarke_30min.png" in report and (tmp_path / "report" / "clarke_30min.png").stat().st_size > 10_000
    assert "RMSE30" in capsys.readouterr().out


def test_a_folder_of_no_known_layout_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "evaluate",
            "glucose",
            "--data",
            str(tmp_path),
            "--json",
            str(tmp_path / "x.json"),
            "--report",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "not a known cohort layout" in capsys.readouterr().out
    assert not (tmp_path / "x.json").exists()
