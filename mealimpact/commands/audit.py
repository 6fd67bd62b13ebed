"""`mealimpact audit-shanghai-foods`: every Shanghai food by the carbohydrate it adds, with flags."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mealimpact.commands import CommandGroups


def register(groups: CommandGroups) -> None:
    audit = groups.root.add_parser(
        "audit-shanghai-foods",
        help="audit the Shanghai meal labels: every food by the carbohydrate it adds, with flags",
        description="Apply glucose_model/data/shanghai_food_overrides.csv to the match table and write "
        "glucose_model/data/shanghai_food_audit.csv and .md (see glucose_model/food_audit.py).",
    )
    audit.add_argument("--shanghai", type=Path, default=Path("../shared/data/shanghai"))
    audit.add_argument(
        "--before",
        type=Path,
        default=None,
        help="an older match table, to count the meals whose carbs changed",
    )
    audit.set_defaults(handler=audit_shanghai_foods_command)


def audit_shanghai_foods_command(args: argparse.Namespace) -> int:
    from glucose_model.food_audit import AUDIT_CSV_PATH, AUDIT_MD_PATH, run_audit

    command = "mealimpact audit-shanghai-foods --shanghai ../shared/data/shanghai" + (
        " --before OLD_TABLE.csv" if args.before else ""
    )
    rows, change = run_audit(args.shanghai, args.before, command)
    flagged = sum(1 for r in rows if set(r.flags) - {"count_portion", "override"})
    print(f"{len(rows)} foods, {flagged} flagged; wrote {AUDIT_CSV_PATH} and {AUDIT_MD_PATH}")
    if change is not None:
        print(
            f"{change.changed} of {change.meals} meals' carbs changed (mean |change| "
            f"{change.mean_abs_change_g:.1f} g, largest {change.max_abs_change_g:.1f} g)"
        )
    return 0
