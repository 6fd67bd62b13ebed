"""The `mealimpact` command: one subcommand per job.

Each feature area registers its own subcommands from a small module that imports only argparse
at the top; the heavy work (torch, onnxruntime) is imported inside the handler, so
`mealimpact serve` runs in the serving install, which has no torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mealimpact.commands import CommandGroups

# CommandGroups: re-exported for the command modules not yet moved into mealimpact/commands/.
__all__ = ["CommandGroups", "build_parser", "main"]


def _registrars() -> list[Callable[[CommandGroups], None]]:
    # One line per feature area; each module imports only argparse-level code at import time
    # and exposes `register(groups)`, which adds its subparsers with `set_defaults(handler=...)`.
    registrars: list[Callable[[CommandGroups], None]] = []
    from mealimpact.commands import serve  # serve, api-key

    registrars.append(serve.register)
    from mealimpact.commands import simulate  # simulate, plot-simulation, check-simulator

    registrars.append(simulate.register)
    from mealimpact.commands import report  # report, export fhir

    registrars.append(report.register)
    from mealimpact.commands import evaluate, export, food_table

    # export recognizer/mobile/mobile-golden, evaluate glucose/recognizer, build-food-table
    registrars += [export.register, evaluate.register, food_table.register]
    # train forecast/glucose/glucose-personal; audit-shanghai-foods
    from mealimpact.commands import audit, train

    registrars += [train.register, audit.register]
    from mealimpact.commands import cgm  # cgm-import, cohort-summary

    registrars.append(cgm.register)
    from mealimpact.commands import federated  # federated demo (flwr imported in the handler)

    registrars.append(federated.register)
    return registrars


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
    for register in _registrars():
        register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] = args.handler
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
