"""`mealimpact train forecast` and `mealimpact evaluate glucose`: argparse only; work happens in the handlers."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mealimpact.model_repository_path import default_models_dir

if TYPE_CHECKING:
    from mealimpact.cli import CommandGroups

FORMATS = ("auto", "shanghai", "d1namo", "dubosson", "weinstock", "canonical", "exports")


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

    evaluate = groups.evaluate.add_parser(
        "glucose", help="evaluate the shipped response and forecast models beside the baselines"
    )
    evaluate.add_argument("--data", type=Path, required=True, help="a cohort folder, or the shared data root")
    evaluate.add_argument(
        "--format", choices=(*FORMATS, "all"), default="auto", help="'all': every cohort under a data root"
    )
    evaluate.add_argument("--models-dir", type=Path, default=default_models_dir())
    evaluate.add_argument("--json", type=Path, required=True, help="where to write every figure")
    evaluate.add_argument(
        "--report", type=Path, required=True, help="folder for the Markdown report and PNGs"
    )
    evaluate.add_argument("--max-meals-plotted", type=int, default=6)
    evaluate.add_argument(
        "--skip-forecast-loco",
        action="store_true",
        help="skip retraining the forecast recipe without each cohort in turn (leave-one-cohort-out, minutes)",
    )
    evaluate.add_argument(
        "--write-model-cards",
        action="store_true",
        help="also write <models-dir>/<model>/EVALUATION.md, the summary the model cards link to",
    )
    evaluate.set_defaults(handler=evaluate_glucose_command)


def train_forecast_command(args: argparse.Namespace) -> int:
    import json

    from glucose_model.cohorts import load_cohort
    from training.forecast_train import ForecastTrainConfig, run_forecast_training

    if not args.data and args.simulated <= 0:
        print("give cohort folders with --data DIR and/or a simulated cohort with --simulated N (N > 0)")
        return 2
    recordings = [r for folder in args.data for r in load_cohort(folder)]
    if args.simulated > 0:
        from glucose_model.records import equal_kind_shares
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
