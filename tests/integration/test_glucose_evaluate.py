"""`mealimpact evaluate glucose` on a tiny real subset: one held-out Shanghai T2DM person."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from glucose_model.features import CURVE_MINUTES
from glucose_model.impact import Curve, Explanation, ImpactResult, Peak, Spike
from glucose_model.records import DiabetesKind, GlucoseSeries, Recording
from mealimpact.cli import main
from training.glucose_evaluate import MealSet, response_metrics, unseen

REPO_ROOT = Path(__file__).resolve().parents[2]
FORECAST = REPO_ROOT / "models" / "glucose_forecast" / "5" / "model.onnx"


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


# A triangle rising from 0 at minute 0 to 1 at minute 60 and back to 0 at minute 120.
BUMP = np.clip(1 - np.abs(CURVE_MINUTES - 60) / 60, 0, None).astype(np.float64)


def _meal(meals: MealSet, person: str, predicted_peak_rise: float, measured_peak_rise: float) -> None:
    baseline = 100.0
    predicted = baseline + predicted_peak_rise * BUMP
    curve = Curve(CURVE_MINUTES.astype(np.int64), predicted, predicted - 10, predicted + 10)
    explanation = Explanation((), 0.0, 0.0, predicted_peak_rise, 0.0, "none")
    result = ImpactResult(
        curve,
        Peak(float(predicted.max()), 60, predicted_peak_rise),
        Spike(0.1, 180.0),
        explanation,
        (),
        None,
        "1",
    )
    meals.person.append(person)
    meals.carbs_g.append(40.0 + predicted_peak_rise)
    meals.baseline_mg_dl.append(baseline)
    meals.pre_meal_mg_dl.append(np.full(37, baseline))
    meals.measured_mg_dl.append(baseline + measured_peak_rise * BUMP)
    meals.measured_peak_rise.append(measured_peak_rise)
    meals.measured_iauc.append(measured_peak_rise * 60.0)
    meals.results.append(result)
    meals.eligible.append(True)
    meals.description.append("test meal")


def test_peak_rise_bias_is_the_signed_mean_error_and_its_correction_uses_other_people() -> None:
    meals = MealSet()
    # Predicted minus measured peak rise: a -20, -10; b -30, +20.
    for person, predicted in (("a", 30.0), ("a", 40.0), ("b", 20.0), ("b", 70.0)):
        _meal(meals, person, predicted, 50.0)
    figures = response_metrics(meals)
    model, persistence = figures["model"], figures["persistence"]
    assert isinstance(model, dict) and isinstance(persistence, dict)
    assert model["peak_rise_mae_mg_dl"] == pytest.approx(20.0)
    assert model["peak_rise_bias_mg_dl"] == pytest.approx(-10.0)
    # a corrected by b's mean error (-5): -15, -5; b by a's (-15): -15, +35. Correcting by the
    # bias of the same meals (-10) would give 15: the test tells the two apart.
    assert model["peak_rise_mae_bias_corrected_mg_dl"] == pytest.approx(17.5)
    # Persistence predicts no rise at all: every meal 50 below, a bias a constant offset removes.
    assert persistence["peak_rise_bias_mg_dl"] == pytest.approx(-50.0)
    assert persistence["peak_rise_mae_bias_corrected_mg_dl"] == pytest.approx(0.0)
    # The bias is signed, so it is never a figure the model "loses" on.
    lost = figures["model_does_not_beat"]
    assert isinstance(lost, list) and not any(line.startswith("peak_rise_bias") for line in lost)


def test_bias_correction_needs_another_person() -> None:
    meals = MealSet()
    for predicted in (30.0, 40.0):
        _meal(meals, "a", predicted, 50.0)
    model = response_metrics(meals)["model"]
    assert isinstance(model, dict)
    assert model["peak_rise_bias_mg_dl"] == pytest.approx(-15.0)
    assert model["peak_rise_mae_bias_corrected_mg_dl"] is None


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
