"""`mealimpact evaluate glucose` (the shipped response and forecast models beside the baselines),
`evaluate recognizer` (a food recognizer on real photos: the model card's figures, or top-1/top-5/per-class
with `--figures classes`; `evaluate vision` is its deprecated alias) and `evaluate fewshot`; argparse here,
the work in the handlers."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from glucose_model.records import RecordError
from mealimpact.commands import FORMATS, MODELS_HELP, CommandGroups, with_clear_vision_errors
from mealimpact.model_repository.layout import default_models_dir
from vision.metadata import MODEL_NAME

_DEFAULT_D1NAMO = Path("../shared/data/d1namo")
_DEFAULT_NUTRITION5K = Path("../shared/data/nutrition5k")
_VISION_DEPRECATED = (
    "mealimpact: `evaluate vision` is deprecated and goes in the next release; "
    "use `evaluate recognizer --figures classes` (same options)"
)


def evaluate_glucose_command(args: argparse.Namespace) -> int:
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


def _recognizer_path(args: argparse.Namespace) -> tuple[Path, str]:
    """The ONNX file and the version name `--model` stands for: a file, or a version under --models-dir."""
    from training.vision_retrain import EvaluationDataError, model_path_of

    model: Path = args.model
    if model.is_file():
        return model, model.parent.name
    if model.suffix == ".onnx":
        raise EvaluationDataError(f"{model} does not exist.")
    return model_path_of(args.models_dir, str(model)), str(model)


def _evaluate_recognizer(args: argparse.Namespace) -> int:
    # `evaluate vision`, the old name of the class figures, stays for one release.
    if getattr(args, "what", None) == "vision":
        print(_VISION_DEPRECATED, file=sys.stderr)
        args.figures = "classes"
    path, version = _recognizer_path(args)
    if args.figures == "classes":
        return _class_figures(args, path, version)
    if args.report is not None:
        print("error: --report draws the class figures; add --figures classes")
        return 2
    return _card_figures(args, path)


def _card_figures(args: argparse.Namespace, path: Path) -> int:
    from training.vision_evaluate import evaluate_recognizer

    nutrition5k: Path | None = args.nutrition5k
    if nutrition5k is not None and not nutrition5k.is_dir():
        print(f"no Nutrition5k folder at {nutrition5k}: portion checks skipped")
        nutrition5k = None
    results = evaluate_recognizer(path, args.data, nutrition5k)
    text = json.dumps(results, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def _class_figures(args: argparse.Namespace, path: Path, version: str) -> int:
    from training.vision_dataset import read_labelled_photos
    from training.vision_report import write_report
    from training.vision_retrain import evaluate_model, evaluation_photos, model_labels

    photos = read_labelled_photos(args.data, seed=args.seed)
    report = evaluate_model(path, version, evaluation_photos(photos) if not args.all_photos else photos)
    text = json.dumps(report.to_json(), indent=2, allow_nan=False)
    if args.json is None:
        print(text)
    else:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if args.report is not None:
        write_report(report, model_labels(path), args.report)
    wrote = "" if args.json is None else f"; wrote {args.json}"
    print(
        f"version {version}: top-1 {report.top1_accuracy:.3f}, top-5 {report.top5_accuracy:.3f} "
        f"on {report.photos} photos{wrote}"
    )
    return 0


def _evaluate_fewshot(args: argparse.Namespace) -> int:
    from training.d1namo_labels import read_d1namo_photos
    from training.vision_dataset import read_labelled_photos
    from training.vision_report import evaluate_few_shot, personal_class_takeover
    from training.vision_retrain import model_path_of, predict_onnx
    from vision.fewshot import FEWSHOT_TEMPERATURE, FEWSHOT_THRESHOLD

    if any(args.data.glob("*/food.csv")):
        photos = read_d1namo_photos(args.data, min_photos=2)  # 1-shot needs a class with a second photo
    else:
        photos = read_labelled_photos(args.data, seed=0)
    path = model_path_of(args.models_dir, args.model)
    embeddings = predict_onnx(path, [p.path for p in photos])["embedding"]
    labels = [p.label for p in photos]
    by_shots: dict[str, object] = {}
    results = {"model_version": args.model, "photos": len(photos), "shots": by_shots}
    for shots in args.shots:
        accuracy = evaluate_few_shot(embeddings, labels, shots, episodes=args.episodes)
        takeover = {}
        for threshold in sorted({*args.thresholds, FEWSHOT_THRESHOLD}):
            rates = personal_class_takeover(
                embeddings, labels, shots, temperature=FEWSHOT_TEMPERATURE, threshold=threshold
            )
            takeover[str(threshold)] = asdict(rates) if rates else None
        by_shots[str(shots)] = {
            "accuracy": asdict(accuracy) if accuracy else "not measurable: too few photos per class",
            "takeover_by_threshold": takeover,
        }
        if accuracy is None:
            print(f"{shots}-shot: not measurable (fewer than two classes with more than {shots} photos)")
        else:
            print(
                f"{shots}-shot, {accuracy.ways}-way: accuracy {accuracy.mean_accuracy:.3f} "
                f"+/- {accuracy.sd_accuracy:.3f} over {accuracy.episodes} episodes (chance {accuracy.chance_accuracy:.3f})"
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def register(groups: CommandGroups) -> None:
    """Adds `evaluate glucose`, `evaluate recognizer` (alias `evaluate vision`) and `evaluate fewshot`."""
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
    recognizer = groups.evaluate.add_parser(
        "recognizer",
        aliases=["vision"],
        help="evaluate a food recognizer on real photos (`vision`: deprecated name, same command)",
    )
    recognizer.add_argument(
        "--model",
        type=Path,
        default=shipped_model,
        help=f"an ONNX file, or a version folder name under --models-dir, e.g. 2 (default: {shipped_model})",
    )
    recognizer.add_argument("--models-dir", type=Path, default=default_models_dir(), help=MODELS_HELP)
    recognizer.add_argument(
        "--data",
        type=Path,
        default=_DEFAULT_D1NAMO,
        help="card figures: the D1NAMO folder; class figures: labelled photos, any `train vision` layout "
        f"(default: {_DEFAULT_D1NAMO})",
    )
    recognizer.add_argument(
        "--figures",
        choices=("card", "classes"),
        default="card",
        help="card: the model card's figures (food or not, kcal, portions; person-wise cross-validation, "
        "every photo's outputs); classes: top-1/top-5/per-class on the test split (default: card)",
    )
    recognizer.add_argument(
        "--nutrition5k",
        type=Path,
        default=_DEFAULT_NUTRITION5K,
        help="card figures: Nutrition5k folder, portions and carbohydrate share checked against its "
        f"weighed dishes (default: {_DEFAULT_NUTRITION5K}; skipped when absent)",
    )
    recognizer.add_argument("--json", type=Path, default=None, help="also write the figures here")
    recognizer.add_argument(
        "--report", type=Path, default=None, help="class figures: also write the PNGs to this folder"
    )
    recognizer.add_argument(
        "--all-photos", action="store_true", help="class figures: every photo, not only the test split"
    )
    recognizer.add_argument(
        "--seed", type=int, default=0, help="class figures: split seed for layouts without a test split"
    )
    recognizer.set_defaults(handler=with_clear_vision_errors(_evaluate_recognizer))

    models_help = MODELS_HELP
    fewshot = groups.evaluate.add_parser(
        "fewshot", help="few-shot accuracy vs shots from the embedding output"
    )
    fewshot.add_argument(
        "--data", type=Path, default=_DEFAULT_D1NAMO, help="labelled photos (D1NAMO by default)"
    )
    fewshot.add_argument("--model", default="1", help="version folder name")
    fewshot.add_argument("--shots", type=int, nargs="+", default=[1, 3, 5, 10])
    fewshot.add_argument("--episodes", type=int, default=200)
    fewshot.add_argument(
        "--thresholds", type=float, nargs="*", default=[0.5, 0.55, 0.6, 0.65, 0.7], help="takeover thresholds"
    )
    fewshot.add_argument("--json", type=Path, required=True)
    fewshot.add_argument("--models-dir", type=Path, default=default_models_dir(), help=models_help)
    fewshot.set_defaults(handler=with_clear_vision_errors(_evaluate_fewshot))
