"""`mealimpact federated demo`: hospitals as Flower SuperNodes on loopback, one federated run, one report.

argparse only at import; flwr is imported inside the handler (it lives in its own environment,
`make setup-federated`), so the rest of the CLI works where it is not installed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mealimpact.cli import CommandGroups

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def register(groups: CommandGroups) -> None:
    federated = groups.root.add_parser(
        "federated", help="federated training across hospitals with Flower (needs `make setup-federated`)"
    ).add_subparsers(dest="federated_command", metavar="<command>", required=True)
    demo = federated.add_parser(
        "demo",
        help="real cohorts as hospitals: a SuperLink and one SuperNode per site on 127.0.0.1, then a report",
        description="Start a Flower SuperLink and one SuperNode per site (each reads only its own cohort "
        "folder), run federated averaging, export the final model through the central ONNX export, and "
        "compare it with central training and each site's local-only model on held-out people. "
        "Writes report.md and report.json to --out; every process it starts is stopped on exit.",
    )
    demo.add_argument("--sites", type=int, default=3, help="how many of the demo hospitals (2 or 3)")
    demo.add_argument("--out", type=Path, required=True, help="folder for the report, model and logs")
    demo.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data root")
    demo.add_argument("--model", choices=("response", "forecast"), default="response")
    demo.add_argument("--rounds", type=int, default=10, help="federated rounds")
    demo.add_argument("--local-epochs", type=int, default=5, help="epochs each site trains per round")
    demo.add_argument("--fraction-fit", type=float, default=1.0, help="share of sites sampled each round")
    demo.add_argument(
        "--engine",
        choices=("deployment", "simulation", "both"),
        default="deployment",
        help="real processes on loopback, Flower's simulation engine, or both",
    )
    demo.add_argument("--secagg", action="store_true", help="secure aggregation (Flower SecAgg+)")
    demo.add_argument("--dp-clip", type=float, default=None, help="clip each site's update to this L2 norm")
    demo.add_argument("--dp-noise", type=float, default=0.0, help="Gaussian noise multiplier (x clip norm)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--timeout", type=float, default=1800.0, help="seconds before the run is stopped")
    demo.set_defaults(handler=federated_demo_command)


def federated_demo_command(args: argparse.Namespace) -> int:
    try:
        import flwr  # noqa: F401
    except ImportError:
        print(
            "flwr is not installed in this environment. Federated training runs in its own environment "
            "(Flower pins an older FastAPI than the service): run `make setup-federated`, then "
            "`.venv-federated/bin/mealimpact federated demo ...`."
        )
        return 2
    from training.federated.demo import DemoConfig, DemoError, run_demo
    from training.federated.sites import SiteError

    config = DemoConfig(
        sites=args.sites,
        data_root=args.data,
        model=args.model,
        rounds=args.rounds,
        local_epochs=args.local_epochs,
        fraction_fit=args.fraction_fit,
        engine=args.engine,
        secagg=args.secagg,
        dp_clip=args.dp_clip,
        dp_noise=args.dp_noise,
        seed=args.seed,
        timeout_s=args.timeout,
    )
    try:
        report_path = run_demo(config, args.out)
    except (DemoError, SiteError) as error:
        print(f"federated demo failed: {error}")
        return 1
    print(f"wrote {report_path}")
    return 0
