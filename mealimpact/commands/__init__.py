"""The `mealimpact` subcommands, one module per job.

Each module exposes `register(groups)`, which adds its subparsers with `set_defaults(handler=...)`.
At the top it imports only what `mealimpact --help` already loads or gets for a few ms (the standard
library, glucose_model.records, vision's constants); the library modules a job drives are imported in its
handler: training needs the train extra (torch), serve the serve extra (uvicorn, pydantic), federated
flwr, reports matplotlib, so `mealimpact serve` runs in the serving install, which has no torch; and
glucose_model's loaders, importers and simulator would add 0.11-0.16 s to every `--help` (measured on
0.17-0.20 s). The library packages (vision, glucose_model, serving, training) never import this package.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

FORMATS = ("auto", "shanghai", "d1namo", "dubosson", "weinstock", "canonical", "exports")  # cohort layouts
MODELS_HELP = "model repository to read (default: $MEALIMPACT_MODELS_DIR or models/)"


@dataclass(frozen=True)
class CommandGroups:
    """Where the job modules hang their subcommands."""

    root: argparse._SubParsersAction  # mealimpact <command>
    train: argparse._SubParsersAction  # mealimpact train <what>
    evaluate: argparse._SubParsersAction  # mealimpact evaluate <what>
    export: argparse._SubParsersAction  # mealimpact export <what>


def with_clear_vision_errors(
    handler: Callable[[argparse.Namespace], int], *, training: bool = False
) -> Callable[[argparse.Namespace], int]:
    """Bad input (layout, nutrition file, version, photo set, model repository) ends with its message,
    not a traceback; `training` adds the errors only retraining raises."""

    def run(args: argparse.Namespace) -> int:
        from training.mobile_bundle import BundleError
        from training.vision_dataset import DatasetLayoutError
        from training.vision_retrain import EvaluationDataError

        named: tuple[type[Exception], ...] = (DatasetLayoutError, EvaluationDataError, BundleError)
        if training:
            from training.vision_train import TrainingSetError
            from training.vision_version import NutritionFileError

            named += (TrainingSetError, NutritionFileError)
        try:
            return handler(args)
        except named as err:
            print(f"error: {err}")
            return 2

    return run
