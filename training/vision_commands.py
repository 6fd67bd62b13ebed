"""`mealimpact train vision`, `evaluate vision`, `evaluate fewshot`: argparse here, the work in the handlers."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mealimpact.model_repository_path import default_models_dir

if TYPE_CHECKING:
    from mealimpact.cli import CommandGroups

_DEFAULT_PHOTOS = Path("../shared/data/d1namo")


def _train_vision(args: argparse.Namespace) -> int:
    import time

    from training.vision_retrain import retrain
    from training.vision_train import VisionTrainConfig

    config = VisionTrainConfig(mode=args.mode, epochs=args.epochs, seed=args.seed)
    started = time.perf_counter()
    result = retrain(
        args.data, args.nutrition, config, args.models_dir, args.out or args.models_dir, args.runs
    )
    report = result.report
    print(f"wrote food_recognizer version {result.version}: {result.model_path}")
    print(
        f"{config.mode}: training {result.train_seconds:.0f} s (total {time.perf_counter() - started:.0f} s), "
        f"val accuracy {result.val_accuracy:.3f}; on {report.photos} held-out photos top-1 "
        f"{report.top1_accuracy:.3f}, top-5 {report.top5_accuracy:.3f}, balanced {report.balanced_accuracy:.3f}"
    )
    print("report:", ", ".join(str(p) for p in result.report_files))
    if args.repeats:
        from training.vision_dataset import class_names, read_labelled_photos
        from training.vision_train import linear_head_over_splits
        from vision.preprocess import PreprocessSpec

        photos = read_labelled_photos(args.data, seed=args.seed)
        splits = linear_head_over_splits(
            photos, tuple(class_names(photos)), PreprocessSpec(), config, args.runs, args.repeats
        )
        print(
            f"linear head over {splits.repeats} other stratified splits: test top-1 {splits.mean_test_accuracy:.3f} "
            f"+/- {splits.sd_test_accuracy:.3f} ({splits.mean_test_photos:.0f} test photos each)"
        )
    return 0


def _evaluate_vision(args: argparse.Namespace) -> int:
    from training.vision_dataset import read_labelled_photos
    from training.vision_report import write_report
    from training.vision_retrain import evaluate_model, evaluation_photos, model_labels, model_path_of

    path = model_path_of(args.models_dir, args.model)
    photos = read_labelled_photos(args.data, seed=args.seed)
    report = evaluate_model(path, args.model, evaluation_photos(photos) if not args.all_photos else photos)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n")
    if args.report is not None:
        write_report(report, model_labels(path), args.report)
    print(
        f"version {args.model}: top-1 {report.top1_accuracy:.3f}, top-5 {report.top5_accuracy:.3f} "
        f"on {report.photos} photos; wrote {args.json}"
    )
    return 0


def _evaluate_fewshot(args: argparse.Namespace) -> int:
    from dataclasses import asdict

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


def _with_clear_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Bad input (layout, nutrition file, version, photo set, model repository) ends with its message,
    not a traceback."""

    def run(args: argparse.Namespace) -> int:
        from training.mobile_bundle import BundleError
        from training.vision_dataset import DatasetLayoutError
        from training.vision_retrain import EvaluationDataError

        named: tuple[type[Exception], ...] = (DatasetLayoutError, EvaluationDataError, BundleError)
        if handler is _train_vision:
            from training.vision_train import TrainingSetError
            from training.vision_version import NutritionFileError

            named += (TrainingSetError, NutritionFileError)
        try:
            return handler(args)
        except named as err:
            print(f"error: {err}")
            return 2

    return run


def register(groups: CommandGroups) -> None:
    models_help = "model repository to read (default: $MEALIMPACT_MODELS_DIR or models/)"
    train = groups.train.add_parser("vision", help="retrain the recognizer's classes on labelled photos")
    train.add_argument(
        "--data",
        type=Path,
        required=True,
        help="DIR/{train,val,test}/<class>/*, a Food-101 folder, a CSV of path,label, or the D1NAMO folder",
    )
    train.add_argument("--nutrition", type=Path, default=None, help="CSV mapping each class to nutrition")
    train.add_argument("--mode", choices=("linear", "finetune"), default="linear")
    train.add_argument(
        "--out", type=Path, default=None, help="model repository to write (default: --models-dir)"
    )
    train.add_argument("--epochs", type=int, default=0, help="0: the mode's default")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--models-dir", type=Path, default=default_models_dir(), help=models_help)
    train.add_argument("--runs", type=Path, default=Path("runs"), help="checkpoints and the feature cache")
    train.add_argument(
        "--repeats", type=int, default=0, help="also report the linear head's test top-1 over N other splits"
    )
    train.set_defaults(handler=_with_clear_errors(_train_vision))

    evaluate = groups.evaluate.add_parser(
        "vision", help="top-1/top-5/per-class figures of a recognizer version"
    )
    evaluate.add_argument(
        "--data", type=Path, required=True, help="labelled photos, any `train vision` layout"
    )
    evaluate.add_argument("--model", required=True, help="version folder name, e.g. 2")
    evaluate.add_argument("--json", type=Path, required=True, help="where to write the figures")
    evaluate.add_argument("--report", type=Path, default=None, help="also write the PNGs to this folder")
    evaluate.add_argument("--all-photos", action="store_true", help="every photo, not only the test split")
    evaluate.add_argument("--seed", type=int, default=0, help="split seed for layouts without a test split")
    evaluate.add_argument("--models-dir", type=Path, default=default_models_dir(), help=models_help)
    evaluate.set_defaults(handler=_with_clear_errors(_evaluate_vision))

    fewshot = groups.evaluate.add_parser(
        "fewshot", help="few-shot accuracy vs shots from the embedding output"
    )
    fewshot.add_argument(
        "--data", type=Path, default=_DEFAULT_PHOTOS, help="labelled photos (D1NAMO by default)"
    )
    fewshot.add_argument("--model", default="1", help="version folder name")
    fewshot.add_argument("--shots", type=int, nargs="+", default=[1, 3, 5, 10])
    fewshot.add_argument("--episodes", type=int, default=200)
    fewshot.add_argument(
        "--thresholds", type=float, nargs="*", default=[0.5, 0.55, 0.6, 0.65, 0.7], help="takeover thresholds"
    )
    fewshot.add_argument("--json", type=Path, required=True)
    fewshot.add_argument("--models-dir", type=Path, default=default_models_dir(), help=models_help)
    fewshot.set_defaults(handler=_with_clear_errors(_evaluate_fewshot))
