"""`mealimpact evaluate glucose` (the shipped response and forecast models beside the baselines) and
`evaluate recognizer` (the food recognizer ONNX on real photos); argparse here, the work in the handlers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mealimpact.commands import FORMATS, CommandGroups
from mealimpact.model_repository_path import default_models_dir
from vision.metadata import MODEL_NAME

_DEFAULT_D1NAMO = Path("../shared/data/d1namo")
_DEFAULT_NUTRITION5K = Path("../shared/data/nutrition5k")


def evaluate_glucose_command(args: argparse.Namespace) -> int:
    from glucose_model.records import RecordError
    from training.glucose_evaluate import EvaluationError, format_table, run_evaluation

    try:
        figures, written = run_evaluation(
            data=args.data,
            layout=args.format,
            models_dir=args.models_dir,
            json_path=args.json,
            report_dir=args.report,
            max_meals_plotted=args.max_meals_plotted,
            write_model_cards=args.write_model_cards,
            forecast_loco=not args.skip_forecast_loco,
            command=" ".join(
                ["mealimpact evaluate glucose", f"--data {args.data}", f"--format {args.format}"]
                + [f"--models-dir {args.models_dir}", f"--json {args.json}", f"--report {args.report}"]
                + (["--write-model-cards"] if args.write_model_cards else [])
                + (["--skip-forecast-loco"] if args.skip_forecast_loco else [])
            ),
        )
    except (EvaluationError, RecordError) as error:
        print(f"evaluate glucose: {error}")
        return 2
    print(format_table(figures))
    for path in written:
        print(f"wrote {path}")
    return 0


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


def register(groups: CommandGroups) -> None:
    """Adds `evaluate glucose` and `evaluate recognizer`."""
    glucose = groups.evaluate.add_parser(
        "glucose", help="evaluate the shipped response and forecast models beside the baselines"
    )
    glucose.add_argument("--data", type=Path, required=True, help="a cohort folder, or the shared data root")
    glucose.add_argument(
        "--format", choices=(*FORMATS, "all"), default="auto", help="'all': every cohort under a data root"
    )
    glucose.add_argument("--models-dir", type=Path, default=default_models_dir())
    glucose.add_argument("--json", type=Path, required=True, help="where to write every figure")
    glucose.add_argument("--report", type=Path, required=True, help="folder for the Markdown report and PNGs")
    glucose.add_argument("--max-meals-plotted", type=int, default=6)
    glucose.add_argument(
        "--skip-forecast-loco",
        action="store_true",
        help="skip retraining the forecast recipe without each cohort in turn (leave-one-cohort-out, minutes)",
    )
    glucose.add_argument(
        "--write-model-cards",
        action="store_true",
        help="also write <models-dir>/<model>/EVALUATION.md, the summary the model cards link to",
    )
    glucose.set_defaults(handler=evaluate_glucose_command)

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
