"""`mealimpact federated demo`: hospitals as Flower SuperNodes on loopback, one federated run, one report.

argparse only at import; flwr is imported inside the handler (it lives in its own environment,
`make setup-federated`), so the rest of the CLI works where it is not installed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mealimpact.commands import CommandGroups

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


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
    demo.add_argument("--local-epochs", type=int, default=3, help="epochs each site trains per round")
    demo.add_argument("--fraction-fit", type=float, default=1.0, help="share of sites sampled each round")
    demo.add_argument(
        "--server-momentum",
        type=float,
        default=0.0,
        help="server momentum on the averaged update (FedAvgM), 0 to <1; 0: plain FedAvg",
    )
    demo.add_argument(
        "--engine",
        choices=("deployment", "simulation", "both"),
        default="deployment",
        help="real processes on loopback, Flower's simulation engine, or both",
    )
    demo.add_argument("--secagg", action="store_true", help="secure aggregation (Flower SecAgg+)")
    demo.add_argument("--dp-clip", type=float, default=None, help="clip each site's update to this L2 norm")
    demo.add_argument("--dp-noise", type=float, default=0.0, help="Gaussian noise multiplier (x clip norm)")
    demo.add_argument("--seed", type=int, default=0, help="training seed and the seed of the person split")
    demo.add_argument(
        "--folds",
        type=int,
        default=0,
        help="hold out one fold of a K-fold split of each site's people (default 0: 25 %% of them)",
    )
    demo.add_argument("--fold", type=int, default=0, help="which fold is held out (0 to --folds - 1)")
    demo.add_argument(
        "--start",
        choices=("auto", "pretrained", "fresh"),
        default="auto",
        help="every model's initial weights: the response network pre-trained on the simulated cohort "
        "(as central training does; made once, ~40 s, cached under --cache) or a fresh network; auto: "
        "pretrained for the response model, fresh for the forecast model",
    )
    demo.add_argument(
        "--cache",
        type=Path,
        default=Path("runs/federated-pretrained"),
        help="cache of the pre-trained weights",
    )
    demo.add_argument("--timeout", type=float, default=1800.0, help="seconds before the run is stopped")
    demo.set_defaults(handler=federated_demo_command)

    sweep = federated.add_parser(
        "sweep",
        help="cross-validated comparison: the demo (simulation engine) on every fold of K-fold person splits",
        description="For each seed, run the demo under Flower's simulation engine on every fold of a K-fold "
        "split of each site's people (so every person is held out once), pool the folds' held-out errors "
        "by example count, and judge the issue's claims per seed and metric. Writes summary.md / "
        "summary.json and one folder per seed and fold to --out. Every model starts from the simulator "
        "pre-trained response network.",
    )
    sweep.add_argument("--out", type=Path, required=True, help="folder for the summary and every run")
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="one K-fold split per seed")
    sweep.add_argument("--folds", type=int, default=4, help="K (0: one 25 %% split per seed)")
    sweep.add_argument("--rounds", type=int, default=10, help="federated rounds")
    sweep.add_argument("--local-epochs", type=int, default=3, help="epochs each site trains per round")
    sweep.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data root")
    sweep.add_argument(
        "--cache",
        type=Path,
        default=Path("runs/federated-pretrained"),
        help="cache of the pre-trained weights",
    )
    sweep.set_defaults(handler=federated_sweep_command)


FLWR_MISSING = (
    "flwr is not installed in this environment. Federated training runs in its own environment "
    "(Flower pins an older FastAPI than the service): run `make setup-federated`, then "
    "`.venv-federated/bin/mealimpact federated ...`."
)


def _have_flwr() -> bool:
    try:
        import flwr  # noqa: F401
    except ImportError:
        print(FLWR_MISSING)
        return False
    return True


def federated_demo_command(args: argparse.Namespace) -> int:
    if not _have_flwr():
        return 2
    from training.federated.demo import DemoConfig, DemoError, run_demo
    from training.federated.pretraining import pretrained_weights
    from training.federated.sites import SiteError, check_folds

    try:
        check_folds(args.folds, args.fold)
    except SiteError as error:
        print(f"--folds / --fold: {error}")
        return 2
    if not 0.0 <= args.server_momentum < 1.0:
        print(f"--server-momentum must be at least 0 and below 1 (got {args.server_momentum})")
        return 2
    start = args.start if args.start != "auto" else ("pretrained" if args.model == "response" else "fresh")
    if start == "pretrained" and args.model != "response":
        print("--start pretrained exists for the response model only (the simulator pre-trains that network)")
        return 2
    initial = str(pretrained_weights(args.cache)) if start == "pretrained" else ""

    config = DemoConfig(
        sites=args.sites,
        data_root=args.data,
        model=args.model,
        rounds=args.rounds,
        local_epochs=args.local_epochs,
        fraction_fit=args.fraction_fit,
        server_momentum=args.server_momentum,
        engine=args.engine,
        secagg=args.secagg,
        dp_clip=args.dp_clip,
        dp_noise=args.dp_noise,
        seed=args.seed,
        timeout_s=args.timeout,
        folds=args.folds,
        fold=args.fold,
        initial_weights=initial,
    )
    try:
        report_path = run_demo(config, args.out)
    except (DemoError, SiteError) as error:
        print(f"federated demo failed: {error}")
        return 1
    print(f"wrote {report_path}")
    return 0


def federated_sweep_command(args: argparse.Namespace) -> int:
    if not _have_flwr():
        return 2
    from training.federated.sweep import main as sweep_main

    argv = ["--out", str(args.out), "--seeds", *map(str, args.seeds), "--folds", str(args.folds)]
    argv += ["--rounds", str(args.rounds), "--local-epochs", str(args.local_epochs)]
    argv += ["--data", str(args.data), "--cache", str(args.cache)]
    return sweep_main(argv)
