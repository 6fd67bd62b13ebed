"""The demo over several person splits (seeds), every model from the simulator-pre-trained network.

`python -m training.federated.sweep --out DIR --seeds 0 1 2`: one simulation-engine demo per seed,
then summary.md / summary.json with the mean and spread of each comparison of the issue.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.federated.demo import DemoConfig, run_demo
from training.federated.pretraining import PretrainConfig, pretrained_weights
from training.federated.report import REPORT_JSON

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), min and max."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "sd": sd, "min": min(values), "max": max(values)}


def summarize(verdicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per comparison over the seeds: the errors and how often the federated model won."""
    rows: dict[str, dict[str, list[float]]] = {}
    for verdict in verdicts:
        for row in verdict["other_sites"]:
            entry = rows.setdefault(f"not:{row['local_site']}", {"local": [], "federated": []})
            entry["local"].append(float(row["local"]))
            entry["federated"].append(float(row["federated"]))
        entry = rows.setdefault("all (vs central)", {"local": [], "federated": []})
        entry["local"].append(float(verdict["central_error"]))
        entry["federated"].append(float(verdict["federated_error"]))
    return {
        name: {
            "other": spread(v["local"]),
            "federated": spread(v["federated"]),
            "federated_minus_other": spread([f - o for f, o in zip(v["federated"], v["local"], strict=True)]),
            "federated_wins": sum(f < o for f, o in zip(v["federated"], v["local"], strict=True)),
            "seeds": len(v["local"]),
        }
        for name, v in rows.items()
    }


def markdown(summary: dict[str, Any], command: str) -> str:
    lines = [
        "# Federated vs central and local-only over several person splits (pre-trained start)",
        "",
        f"Produced by `{command}`. Each comparison: mean ± sample sd over the seeds [min, max];",
        "'other' is the local-only model of that site on the other sites' held-out people, or central",
        "training on all held-out people (last row). peak_rise_mae_mg_dl, lower is better.",
        "",
        "| held-out people | other model | federated | federated - other | federated wins |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in summary.items():
        r = row
        cells = [f"{r[k]['mean']:.2f} ± {r[k]['sd']:.2f} [{r[k]['min']:.2f}, {r[k]['max']:.2f}]"
                 for k in ("other", "federated", "federated_minus_other")]  # fmt: skip
        lines.append(f"| {name} | {' | '.join(cells)} | {r['federated_wins']}/{r['seeds']} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--local-epochs", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("runs/federated-pretrained"))
    parser.add_argument("--no-pretrain", action="store_true", help="fresh networks (the old recipe)")
    args = parser.parse_args(argv)
    initial = "" if args.no_pretrain else str(pretrained_weights(args.cache, PretrainConfig()))
    verdicts = []
    for seed in args.seeds:
        config = DemoConfig(
            data_root=args.data,
            rounds=args.rounds,
            local_epochs=args.local_epochs,
            engine="simulation",
            seed=seed,
            initial_weights=initial,
        )
        folder = args.out / f"seed{seed}"
        run_demo(config, folder)
        verdicts.append(json.loads((folder / REPORT_JSON).read_text())["verdict"])
        summary = summarize(verdicts)  # rewritten after each seed: a cut-off run keeps what it has
        (args.out / SUMMARY_JSON).write_text(json.dumps({"seeds": args.seeds, "summary": summary}, indent=2))
        command = "python -m training.federated.sweep " + " ".join(sys.argv[1:] if argv is None else argv)
        (args.out / SUMMARY_MD).write_text(markdown(summary, command))
    print((args.out / SUMMARY_MD).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
