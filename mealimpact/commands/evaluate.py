"""`mealimpact evaluate recognizer`: the food recognizer ONNX on real photos; the work in the handler."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mealimpact.commands import CommandGroups
from mealimpact.model_repository_path import default_models_dir
from vision.metadata import MODEL_NAME

_DEFAULT_D1NAMO = Path("../shared/data/d1namo")
_DEFAULT_NUTRITION5K = Path("../shared/data/nutrition5k")


def _evaluate_recognizer(args: argparse.Namespace) -> int:
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


def register_recognizer(groups: CommandGroups) -> None:
    """Adds `evaluate recognizer`."""
    shipped_model = default_models_dir() / MODEL_NAME / "1" / "model.onnx"
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
    evaluate.set_defaults(handler=_evaluate_recognizer)
