"""`mealimpact simulate`, `plot-simulation` and `check-simulator`: make, look at and check simulated CGM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mealimpact.commands import CommandGroups

DEFAULT_PEOPLE = "healthy:50,prediabetes:50,type2:50,type1:50"


def register(groups: CommandGroups) -> None:
    simulate = groups.root.add_parser(
        "simulate",
        help="simulate a CGM cohort (Dalla Man meal model) and write it as a canonical cohort folder",
        description="Simulate virtual subjects' days (meals, walks, sleep, insulin) and write people.csv, "
        "cgm.csv, meals.csv, activity.csv, insulin.csv, sleep.csv and a README into --out.",
    )
    simulate.add_argument(
        "--people",
        default=DEFAULT_PEOPLE,
        help=f"kind:count pairs (default {DEFAULT_PEOPLE}); "
        "kinds healthy (or none), prediabetes, type2, type1",
    )
    simulate.add_argument("--days", type=int, default=14, help="days per person (default 14)")
    simulate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    simulate.add_argument("--out", type=Path, required=True, help="folder to write the cohort into")
    simulate.add_argument("--plots", action="store_true", help="also write the overview plots into OUT/plots")
    simulate.set_defaults(handler=run_simulate)

    plot = groups.root.add_parser(
        "plot-simulation",
        help="plot a simulated cohort: one day per kind of person, mean meal response per kind",
    )
    plot.add_argument("--data", type=Path, required=True, help="a canonical cohort folder (from simulate)")
    plot.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    plot.add_argument("--day", type=int, default=1, help="which simulated day to show (0-based, default 1)")
    plot.set_defaults(handler=run_plot_simulation)

    check = groups.root.add_parser(
        "check-simulator",
        help="compare the simulator with published numbers (post-meal rise, walks, type 1 bolus, CGM error)",
    )
    check.add_argument("--subjects", type=int, default=30, help="virtual subjects per kind (default 30)")
    check.add_argument("--seed", type=int, default=11, help="random seed (default 11)")
    check.set_defaults(handler=run_check_simulator)


def run_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from glucose_model.simulator.cohort import (
        CohortConfig,
        SimulationConfigError,
        parse_people,
        simulate_cohort,
    )
    from glucose_model.simulator.cohort_files import write_cohort

    try:
        config = CohortConfig(people=parse_people(args.people), days=args.days, seed=args.seed)
    except SimulationConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    total_people = len(config.kinds)
    with tqdm(total=config.days * 1440, unit="sim-min", desc=f"simulating {total_people} people") as bar:
        cohort = simulate_cohort(config, on_progress=bar.update)
    command = f"mealimpact simulate --people {args.people} --days {args.days} --seed {args.seed} --out DIR"
    counts = write_cohort(cohort, args.out, command=command)
    person_days = total_people * config.days
    print(
        f"{person_days} person-days simulated in {cohort.wall_time_s:.1f} s ({cohort.cpu_time_s:.1f} s CPU) "
        f"({person_days / cohort.wall_time_s:.1f} person-days/s); wrote {args.out} "
        f"({', '.join(f'{k} {v}' for k, v in counts.items())})"
    )
    if args.plots:
        from glucose_model.simulator.plots import plot_cohort_folder

        for path in plot_cohort_folder(args.out, args.out / "plots"):
            print(f"wrote {path}")
    return 0


def run_plot_simulation(args: argparse.Namespace) -> int:
    from glucose_model.cohorts import CohortError
    from glucose_model.simulator.plots import plot_cohort_folder

    try:
        paths = plot_cohort_folder(args.data, args.out, day=args.day)
    except CohortError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0


def run_check_simulator(args: argparse.Namespace) -> int:
    from glucose_model.simulator.validation import format_checks, run_checks

    if args.subjects < 1:
        print(f"error: --subjects must be at least 1, got {args.subjects}", file=sys.stderr)
        return 2
    checks = run_checks(subjects_per_kind=args.subjects, seed=args.seed)
    print(format_checks(checks))
    failed = [c.what for c in checks if not c.passed]
    print(
        f"{len(checks) - len(failed)} of {len(checks)} checks within range"
        + (f"; outside: {failed}" if failed else "")
    )
    return 1 if failed else 0
