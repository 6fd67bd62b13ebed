"""The recognizer's subcommands (export, evaluate, food table), and that serving's side of vision/ never pulls in torch."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from mealimpact.cli import main
from mealimpact.commands import CommandGroups, evaluate, export, food_table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    root = parser.add_subparsers(dest="command", required=True)
    groups = CommandGroups(
        root=root,
        train=root.add_parser("train").add_subparsers(dest="what"),
        evaluate=root.add_parser("evaluate").add_subparsers(dest="what"),
        export=root.add_parser("export").add_subparsers(dest="what"),
    )
    for register in (export.register, evaluate.register, food_table.register):
        register(groups)
    return parser


def test_export_evaluate_and_table_commands_parse() -> None:
    parser = _parser()
    export = parser.parse_args(["export", "recognizer", "--out", "out", "--data", "d1", "--version", "2"])
    assert (export.out, export.data, export.version) == (Path("out"), Path("d1"), "2")
    evaluate = parser.parse_args(["evaluate", "recognizer", "--json", "r.json"])
    assert evaluate.json == Path("r.json") and evaluate.model.name == "model.onnx"
    assert evaluate.nutrition5k.name == "nutrition5k"  # checked by default when the folder exists
    other = parser.parse_args(["evaluate", "recognizer", "--nutrition5k", "n5k"])
    assert other.nutrition5k == Path("n5k")
    table = parser.parse_args(["build-food-table"])
    assert table.out is None and callable(table.handler)
    assert export.handler is not evaluate.handler


def test_registering_and_the_serving_modules_import_no_torch() -> None:
    code = (
        "import sys, mealimpact.commands.export, mealimpact.commands.evaluate, mealimpact.commands.food_table, "
        "vision.decode, vision.preprocess, vision.taxonomy, "
        "vision.metadata, vision.recognition; "
        "print(sorted(m for m in ('torch', 'torchvision', 'sklearn', 'onnx') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", [["train", "vision"], ["evaluate", "vision", "--model", "1"]])
def test_vision_commands_end_bad_input_with_its_message(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-photos"
    extra = ["--json", str(tmp_path / "r.json")] if command[0] == "evaluate" else ["--out", str(tmp_path)]
    code = main([*command, "--data", str(missing), *extra])
    assert code == 2
    assert capsys.readouterr().out.startswith(f"error: {missing} is not a recognised layout")


def test_evaluate_vision_is_the_class_figures_of_evaluate_recognizer_with_a_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-photos"
    common = ["--data", str(missing), "--model", "1", "--json", str(tmp_path / "r.json")]
    assert main(["evaluate", "recognizer", "--figures", "classes", *common]) == 2
    merged = capsys.readouterr()
    assert main(["evaluate", "vision", *common]) == 2
    alias = capsys.readouterr()
    assert alias.out == merged.out and merged.err == ""
    assert alias.err.count("\n") == 1 and "`evaluate vision` is deprecated" in alias.err


def test_evaluate_recognizer_names_a_missing_model_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.onnx"
    assert main(["evaluate", "recognizer", "--model", str(missing), "--data", str(tmp_path)]) == 2
    assert capsys.readouterr().out == f"error: {missing} does not exist.\n"
    assert main(["evaluate", "recognizer", "--model", "99", "--models-dir", str(tmp_path)]) == 2
    assert "food_recognizer/99/model.onnx does not exist" in capsys.readouterr().out
