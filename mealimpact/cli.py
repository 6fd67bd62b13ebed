"""The `mealimpact` command: one subcommand per job.

Each job has one module in mealimpact/commands/ that imports only argparse-level code at the top and
exposes `register(groups)`; the heavy work (torch, onnxruntime) is imported inside the handlers, so
`mealimpact serve` runs in the serving install, which has no torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mealimpact.commands import (
    CommandGroups,
    audit,
    cgm,
    evaluate,
    export,
    federated,
    food_table,
    report,
    serve,
    simulate,
    train,
)

# In the order `--help` lists the commands: report's `export fhir` comes before export's targets.
REGISTRARS: tuple[Callable[[CommandGroups], None], ...] = (
    serve.register,  # serve, api-key
    simulate.register,  # simulate, plot-simulation, check-simulator
    report.register,  # report, export fhir
    export.register,  # export recognizer, mobile, mobile-golden
    evaluate.register,  # evaluate glucose, recognizer, vision, fewshot
    food_table.register,  # build-food-table
    train.register,  # train forecast, glucose, glucose-personal, vision
    audit.register,  # audit-shanghai-foods
    cgm.register,  # cgm-import, cohort-summary
    federated.register,  # federated demo (flwr imported in the handler)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mealimpact",
        description="Food-photo recognition and meal-impact glucose prediction.",
    )
    root = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    train = root.add_parser("train", help="train or adapt a model").add_subparsers(
        dest="what", metavar="<model>", required=True
    )
    evaluate = root.add_parser("evaluate", help="evaluate a model on a data folder").add_subparsers(
        dest="what", metavar="<model>", required=True
    )
    export = root.add_parser("export", help="export models or records").add_subparsers(
        dest="what", metavar="<target>", required=True
    )
    groups = CommandGroups(root=root, train=train, evaluate=evaluate, export=export)
    for register in REGISTRARS:
        register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] = args.handler
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
