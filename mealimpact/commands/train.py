"""`mealimpact train forecast`, `train glucose`, `train glucose-personal` and `train vision`: train or adapt
the glucose forecast, the post-meal response model and the recognizer's classes and write a new version;
argparse here, the work in the handlers."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from glucose_model.records import RecordError, Recording, equal_kind_shares
from mealimpact.commands import FORMATS, MODELS_HELP, with_clear_vision_errors
from mealimpact.model_repository.layout import default_models_dir, next_version
from mealimpact.model_repository.metadata import ResponseMetadata, upgraded_props
from vision.preprocess import PreprocessSpec

if TYPE_CHECKING:
    from mealimpact.commands import CommandGroups


def register(groups: CommandGroups) -> None:
    train = groups.train.add_parser(
        "forecast",
        help="train the +15..+60 min glucose forecast and export models/glucose_forecast/<version>/model.onnx",
    )
    train.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        help="a cohort folder (layout detected); repeat for several cohorts",
    )
    train.add_argument(
        "--simulated", type=int, default=0, help="also simulate N people (the four kinds in equal shares)"
    )
    train.add_argument("--simulated-days", type=int, default=7)
    train.add_argument(
        "--out", type=Path, default=default_models_dir() / "glucose_forecast", help="model folder"
    )
    train.add_argument("--version", default="2", help="model version sub-folder")
    train.add_argument(
        "--stride-steps", type=int, default=2, help="one forecast origin per this many 5-min steps"
    )
    train.add_argument(
        "--held-out-fraction", type=float, default=0.2, help="share of each cohort's people held out"
    )
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(handler=train_forecast_command)

    parser = groups.train.add_parser(
        "glucose",
        help="train the post-meal response model (simulated cohort, then real cohorts; split by person)",
        description="Pre-train on a simulated cohort, adapt on the cohort folders given with --data, "
        "evaluate on held-out people beside the baselines, and export a new model version: the network "
        "behind the raw front (features built in the graph from raw CGM, meal, context and kind).",
    )
    parser.add_argument("--data", type=Path, action="append", default=[], help="cohort folder (repeatable)")
    parser.add_argument("--format", choices=FORMATS, default="auto", help="layout of every --data folder")
    parser.add_argument("--simulated", type=int, default=0, metavar="N", help="simulate N people (4 kinds)")
    parser.add_argument("--simulated-days", type=int, default=7, help="days simulated per person")
    parser.add_argument("--out", type=Path, default=default_models_dir(), help="model repository folder")
    parser.add_argument("--epochs", type=int, default=None, help="pre-training epochs")
    parser.add_argument("--adapt-epochs", type=int, default=None, help="epochs on the real cohorts")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=train_glucose_command)

    personal = groups.train.add_parser(
        "glucose-personal",
        help="put the person inside the response model: train the history encoder on top of a shipped "
        "population model and export it, behind the raw-input front, as a new version",
        description="Cross-fit population outputs on the base model's training people (same recipe, "
        "without each fold of people), train the person encoder in episodes (each meal predicted from "
        "0-50 of the same person's earlier meals), export base + encoder as one ONNX graph behind the raw "
        "front (features built in the graph from raw CGM, meal, context and kind): servable and phone-ready.",
    )
    personal.add_argument("--base", type=Path, required=True, help="the population model's model.onnx")
    personal.add_argument("--data", type=Path, action="append", default=[], help="cohort folder (repeatable)")
    personal.add_argument("--format", choices=FORMATS, default="auto")
    personal.add_argument(
        "--simulated", type=int, default=80, help="simulated people for the cross-fit models"
    )
    personal.add_argument("--simulated-days", type=int, default=7)
    personal.add_argument("--folds", type=int, default=5)
    personal.add_argument("--epochs", type=int, default=None, help="encoder epochs")
    personal.add_argument(
        "--seeds", type=int, default=5, help="encoder seeds tried; the lowest validation loss is kept"
    )
    personal.add_argument("--out", type=Path, default=default_models_dir(), help="model repository folder")
    personal.set_defaults(handler=train_personal_command)

    models_help = MODELS_HELP
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
    train.set_defaults(handler=with_clear_vision_errors(_train_vision, training=True))


def train_forecast_command(args: argparse.Namespace) -> int:
    from glucose_model.cohorts import load_cohort
    from training.forecast_train import ForecastTrainConfig, run_forecast_training

    if not args.data and args.simulated <= 0:
        print("give cohort folders with --data DIR and/or a simulated cohort with --simulated N (N > 0)")
        return 2
    recordings = [r for folder in args.data for r in load_cohort(folder)]
    if args.simulated > 0:
        from glucose_model.simulator import CohortConfig, simulate_cohort

        people = equal_kind_shares(args.simulated)
        print(f"simulating {args.simulated} people for {args.simulated_days} days ...")
        cohort = simulate_cohort(CohortConfig(people=people, days=args.simulated_days, seed=args.seed))
        recordings += cohort.recordings()
    config = ForecastTrainConfig(
        stride_steps=args.stride_steps,
        held_out_fraction=args.held_out_fraction,
        seed=args.seed,
    )
    path, metrics = run_forecast_training(recordings, args.out, str(args.version), config)
    print(f"wrote {path}")
    print(json.dumps(metrics, indent=2))
    return 0


def _train_vision(args: argparse.Namespace) -> int:
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

        photos = read_labelled_photos(args.data, seed=args.seed)
        splits = linear_head_over_splits(
            photos, tuple(class_names(photos)), PreprocessSpec(), config, args.runs, args.repeats
        )
        print(
            f"linear head over {splits.repeats} other stratified splits: test top-1 {splits.mean_test_accuracy:.3f} "
            f"+/- {splits.sd_test_accuracy:.3f} ({splits.mean_test_photos:.0f} test photos each)"
        )
    return 0


def train_personal_command(args: argparse.Namespace) -> int:
    import onnx
    import torch

    from glucose_model.cohorts import load_cohort
    from training.glucose_export import MODEL_NAME, personal_metadata_extra, weights_sha256
    from training.glucose_personal import PersonTrainConfig, load_response_weights, train_personal
    from training.glucose_raw_export import export_trained_raw_response, network_metadata
    from training.glucose_train import TrainConfig, meal_examples

    torch.set_num_threads(1)
    base = load_response_weights(args.base)
    # A raw base (what `train glucose` writes) is read as the network inside it.
    base_metadata = network_metadata(
        {p.key: p.value for p in onnx.load(str(args.base), load_external_data=False).metadata_props}
    )
    held_out = set(json.loads(base_metadata["held_out_people"]))
    real: list[Recording] = []
    for folder in args.data:
        try:
            real.extend(load_cohort(folder, args.format))
        except RecordError as error:
            print(error)
            return 2
    examples = meal_examples(real)
    train = examples.subset(~np.isin(examples.person, list(held_out)))
    sim = None
    if args.simulated > 0:
        from glucose_model.simulator.cohort import CohortConfig, simulate_cohort

        people = equal_kind_shares(args.simulated)
        base_config = json.loads(base_metadata["training_config"])
        cohort = simulate_cohort(
            CohortConfig(people=people, days=args.simulated_days, seed=int(base_config.get("seed", 0)))
        )
        sim = meal_examples(cohort.recordings())
    config = PersonTrainConfig()
    if args.epochs is not None:
        config = dataclasses.replace(config, epochs=args.epochs)
    result = train_personal(base, sim, train, TrainConfig(), config, folds=args.folds, seeds=args.seeds)
    print(
        f"encoder: validation loss {result.validation_loss[0]:.3f} (population model) -> "
        f"{min(result.validation_loss):.3f}; {result.fit_meals} fit / {result.validation_meals} validation meals"
    )
    model_dir = args.out / MODEL_NAME
    version = next_version(model_dir)
    metadata = dict(base_metadata)
    metadata.update(personal_metadata_extra(result.network.encoder))
    metadata["version"] = json.dumps(str(version))
    metadata["population_model"] = json.dumps(
        {"file": str(args.base), "weights_sha256": json.loads(base_metadata["weights_sha256"])}
    )
    metadata["person_training_config"] = json.dumps(
        {
            **dataclasses.asdict(config),
            "seed": result.seed,
            "seeds_tried": args.seeds,
            "crossfit_folds": args.folds,
            "simulated_people": args.simulated,
        }
    )
    metadata["person_validation_loss"] = json.dumps(result.validation_loss)
    metadata["weights_sha256"] = json.dumps(weights_sha256(result.network))
    metadata = upgraded_props(metadata, ResponseMetadata.kind)  # the schema's keys, checked
    check = _personal_check_feed(train)
    # Written as the self-contained raw graph (the personal graph is an intermediate inside it).
    path = export_trained_raw_response(result.network, metadata, model_dir, check)
    print(f"wrote {MODEL_NAME} version {version} (raw inputs, features built in the graph): {path}")
    return 0


def _personal_check_feed(examples: object) -> dict[str, object]:
    """A feed for the export check: 40 rows, two history sets (10 real past meals, and none)."""
    from glucose_model.features import ModelInputs
    from glucose_model.personal import (
        INPUT_HISTORY_SLOT,
        INPUT_PERSON,
        N_PERSON_FIELDS,
        history_arrays,
        person_row,
    )

    rows = examples.inputs  # type: ignore[attr-defined]
    rise = examples.rise_mg_dl  # type: ignore[attr-defined]
    first = ModelInputs(rows.cgm_rel_mg_dl[:40], rows.cgm_mask[:40], rows.features[:40])
    past = ModelInputs(rows.cgm_rel_mg_dl[40:50], rows.cgm_mask[40:50], rows.features[40:50])
    sets = history_arrays([(past, rise[40:50].astype(np.float64)), (past, np.zeros((0, rise.shape[1])))])
    person = np.repeat(person_row(medication=["oral"])[None, :], 40, axis=0)
    person[::2] = np.nan
    assert person.shape[1] == N_PERSON_FIELDS
    return {
        **first.as_feed(),
        INPUT_PERSON: person,
        INPUT_HISTORY_SLOT: (np.arange(40) % 2).astype(np.int64),
        **sets.as_feed(),
    }


def _print_table(metrics: dict[str, dict[str, dict[str, float | None]]]) -> None:
    columns = (
        "peak_rise_mae_mg_dl",
        "peak_rise_pearson_r",
        "iauc_2h_pearson_r",
        "curve_rmse_60min_mg_dl",
        "spike_auroc",
    )
    print(f"{'cohort':<12}{'method':<30}{'meals':>6}" + "".join(f"{c:>22}" for c in columns))
    for cohort, methods in metrics.items():
        for method, values in methods.items():
            cells = "".join(
                f"{values[c]:>22.3f}" if values.get(c) is not None else f"{'-':>22}" for c in columns
            )
            print(f"{cohort:<12}{method:<30}{values['meals']:>6.0f}{cells}")


def train_glucose_command(args: argparse.Namespace) -> int:
    import torch

    from glucose_model.cohorts import load_cohort
    from training.glucose_export import DATA_ATTRIBUTION, MODEL_NAME, attribution, response_metadata
    from training.glucose_raw_export import export_trained_raw_response
    from training.glucose_train import TrainConfig, train_glucose

    # The network is small: intra-op threads buy nothing and, on a shared machine, cost ~10x in
    # spin-waiting (measured 72 ms vs 940 ms per step of 128 meals under load on 2 cores).
    torch.set_num_threads(1)
    if args.simulated < 0 or (args.simulated == 0 and not args.data):
        print("give cohort folders with --data DIR and/or a simulated cohort with --simulated N (N > 0)")
        return 2
    config = TrainConfig(seed=args.seed)
    if args.epochs is not None:
        config = dataclasses.replace(config, pretrain_epochs=args.epochs)
    if args.adapt_epochs is not None:
        config = dataclasses.replace(config, adapt_epochs=args.adapt_epochs)
    real: list[Recording] = []
    training_data: dict[str, str] = {}
    for folder in args.data:
        try:
            recordings = load_cohort(folder, args.format)
        except RecordError as error:  # CohortError: unknown layout, missing folder, malformed file
            print(error)
            return 2
        real.extend(recordings)
        for cohort in sorted({r.cohort for r in recordings}):
            training_data[cohort] = attribution(cohort)
    simulated: list[Recording] = []
    if args.simulated > 0:
        from glucose_model.simulator.cohort import CohortConfig, simulate_cohort

        people = equal_kind_shares(args.simulated)
        print(f"simulating {args.simulated} people for {args.simulated_days} days ...")
        sim = simulate_cohort(CohortConfig(people=people, days=args.simulated_days, seed=args.seed))
        simulated = sim.recordings()
        training_data["simulated"] = (
            f"{DATA_ATTRIBUTION['simulated']}; {args.simulated} people x {args.simulated_days} days, seed {args.seed}"
        )
    result = train_glucose(simulated, real, config)
    held_out = result.metrics["held_out"]
    _print_table(held_out)  # type: ignore[arg-type]
    model_dir = args.out / MODEL_NAME
    version = next_version(model_dir)
    metadata = response_metadata(
        result.network,
        config,
        version,
        training_data,
        result.held_out_people,
        result.metrics,
        result.trained_people,
    )
    # Written as the self-contained raw graph (the population graph is an intermediate inside it).
    path = export_trained_raw_response(result.network, metadata, model_dir, result.test.inputs)
    print("personal calibration (held-out people):", json.dumps(result.metrics["personal_calibration"]))
    print(f"wrote {MODEL_NAME} version {version} (raw inputs, features built in the graph): {path}")
    return 0
