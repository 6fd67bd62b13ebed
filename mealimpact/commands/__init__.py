"""The `mealimpact` subcommands, one module per job.

Each module imports only argparse-level code at import time and exposes `register(groups)`, which adds
its subparsers with `set_defaults(handler=...)`; the heavy work (torch, onnxruntime) is imported inside
the handler, so `mealimpact serve` runs in the serving install, which has no torch. The library packages
(vision, glucose_model, serving, training) never import this package.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

FORMATS = ("auto", "shanghai", "d1namo", "dubosson", "weinstock", "canonical", "exports")  # cohort layouts


@dataclass(frozen=True)
class CommandGroups:
    """Where the job modules hang their subcommands."""

    root: argparse._SubParsersAction  # mealimpact <command>
    train: argparse._SubParsersAction  # mealimpact train <what>
    evaluate: argparse._SubParsersAction  # mealimpact evaluate <what>
    export: argparse._SubParsersAction  # mealimpact export <what>
