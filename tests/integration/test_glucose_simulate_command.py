"""`mealimpact simulate` and `mealimpact plot-simulation` end to end on a tiny cohort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glucose_model.cohorts import load_canonical
from glucose_model.records import DiabetesKind
from glucose_model.simulator.plots import DAY_PLOT_FILE, RESPONSE_PLOT_FILE
from mealimpact.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cohort_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    code = main(
        [
            "simulate",
            "--people",
            "healthy:1,prediabetes:1,type2:1,type1:1",
            "--days",
            "1",
            "--seed",
            "7",
            "--out",
            str(out),
            "--plots",
        ]
    )
    assert code == 0
    return out


def _assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size[0] > 300 and image.size[1] > 300


def test_writes_every_canonical_table_and_a_readme(cohort_folder: Path) -> None:
    for name in ("people", "cgm", "meals", "activity", "insulin", "sleep"):
        assert (cohort_folder / f"{name}.csv").stat().st_size > 0
    readme = (cohort_folder / "README.md").read_text()
    assert "seed: 7" in readme and "person-days/s" in readme and "Simulated, not" in readme
    header = (cohort_folder / "meals.csv").read_text().splitlines()[0]
    assert header == "person_id,time,carbs_g,sugars_g,fiber_g,fat_g,protein_g,glycemic_index"


def test_the_canonical_loader_reads_it_back(cohort_folder: Path) -> None:
    recordings = load_canonical(cohort_folder)
    assert [r.kind for r in recordings] == list(DiabetesKind)
    for r in recordings:
        assert len(r.glucose) == 288  # every 5 min for one day
        assert np.all((r.glucose.glucose_mg_dl >= 40) & (r.glucose.glucose_mg_dl <= 400))
        assert len(r.meals) >= 3 and len(r.sleep) == 2 and len(r.activity) > 0
        assert r.glucose.utc_offset_min[0] == 60
    type1 = recordings[-1]
    assert any(d.kind.value == "basal" for d in type1.insulin) and any(
        d.kind.value == "rapid" for d in type1.insulin
    )
    assert all(len(r.insulin) == 0 for r in recordings[:-1])


def test_simulate_writes_valid_plots(cohort_folder: Path) -> None:
    for name in (DAY_PLOT_FILE, RESPONSE_PLOT_FILE):
        _assert_valid_png(cohort_folder / "plots" / name)


def test_plot_simulation_command_writes_valid_pngs(cohort_folder: Path, tmp_path: Path) -> None:
    assert main(["plot-simulation", "--data", str(cohort_folder), "--out", str(tmp_path)]) == 0
    for name in (DAY_PLOT_FILE, RESPONSE_PLOT_FILE):
        _assert_valid_png(tmp_path / name)


def test_bad_input_exits_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--people", "adults:3", "--out", str(tmp_path / "x")]) == 2
    assert "kind:count" in capsys.readouterr().err
    assert main(["plot-simulation", "--data", str(tmp_path), "--out", str(tmp_path / "p")]) == 2
    assert "people.csv" in capsys.readouterr().err


def test_check_simulator_prints_every_published_check(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check-simulator", "--subjects", "8", "--seed", "3"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 10
    assert ("NO (" in out) == (code == 1)
    assert "Zignoli 2024" in out and "Reynolds 2016" in out
