"""The demo over several person splits, every model from the simulator-pre-trained network.

`python -m training.federated.sweep --out DIR --seeds 0 1 --folds 4`: for each seed, one
simulation-engine demo per fold of a K-fold split of every site's people, so every person is held out
exactly once; the folds' held-out errors are pooled by example count into one cross-validated score
per model and held-out set. Then summary.md / summary.json: per metric, the mean and spread over the
seeds of each comparison of the issue, and how often the federated model won it. `--folds 0` runs one
25 % split per seed instead.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training.federated.comparison import Comparison, judge
from training.federated.demo import CENTRAL_MARGIN, DemoConfig, run_demo
from training.federated.pretraining import PretrainConfig, pretrained_weights
from training.federated.report import REPORT_JSON

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
POOLED_JSON = "pooled.json"
EXAMPLES = "examples"


class SweepError(ValueError):
    """The folds cannot be pooled (no examples, or different models or sets per fold)."""


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), min and max."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "sd": sd, "min": min(values), "max": max(values)}


def pool_metric(name: str, values: Sequence[float], counts: Sequence[float]) -> float:
    """One fold-pooled figure from per-fold figures over `counts` examples: a mean error pools as the
    count-weighted mean, an RMSE as the root of the count-weighted mean square (both exact when each
    example counts once); anything else (correlations, AUROC) does not pool and is not given."""
    total = float(sum(counts))
    if total <= 0:
        raise SweepError(f"{name}: no held-out examples in any fold")
    if name.startswith("rmse"):
        return math.sqrt(sum(c * v * v for v, c in zip(values, counts, strict=True)) / total)
    if "mae" in name:
        return sum(c * v for v, c in zip(values, counts, strict=True)) / total
    raise SweepError(f"{name} is not a mean or root-mean-square error and cannot be pooled over folds")


def pool_folds(
    folds: Sequence[Mapping[str, Mapping[str, Mapping[str, float]]]], metrics: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {set: {metric: pooled, 'examples': n}}} from each fold's report 'held_out' scores.
    A fold whose set has no examples (a site with fewer people than folds) adds nothing to it."""
    if not folds:
        raise SweepError("no folds to pool")
    layout = {model: sorted(sets) for model, sets in folds[0].items()}
    pooled: dict[str, dict[str, dict[str, float]]] = {}
    for model, sets in layout.items():
        pooled[model] = {}
        for held_out in sets:
            rows = [fold[model][held_out] for fold in folds if held_out in fold.get(model, {})]
            if len(rows) != len(folds):
                raise SweepError(f"{model} on {held_out}: scored in {len(rows)} of {len(folds)} folds")
            rows = [r for r in rows if r.get(EXAMPLES, 0) > 0]
            counts = [float(r[EXAMPLES]) for r in rows]
            entry = {EXAMPLES: float(sum(counts))}
            for name in metrics:
                have = [(float(r[name]), c) for r, c in zip(rows, counts, strict=True) if name in r]
                if have and sum(c for _, c in have) > 0:
                    entry[name] = pool_metric(name, [v for v, _ in have], [c for _, c in have])
            pooled[model][held_out] = entry
    return pooled


def summarize(verdicts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
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


def claims_held(verdicts: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """In how many seeds each whole claim held."""
    return {
        "beats_every_local_elsewhere": sum(bool(v["beats_every_local_elsewhere"]) for v in verdicts),
        "within_central_margin": sum(bool(v["within_central_margin"]) for v in verdicts),
        "seeds": len(verdicts),
    }


def markdown(summary: Mapping[str, Any], command: str, folds: int = 0) -> str:
    """summary: {metric: {"comparisons": summarize(...), "claims": claims_held(...)}}, headline first."""
    how = (
        f"each seed is a {folds}-fold split of every site's people, so every person is held out once and "
        "the folds' errors are pooled by example count into one cross-validated figure per seed"
        if folds >= 2
        else "each seed is one split holding out 25 % of every site's people"
    )
    lines = [
        "# Federated vs central and local-only over several person splits (pre-trained start)",
        "",
        f"Produced by `{command}`; {how}. Each comparison: mean ± sample sd over the seeds [min, max];",
        "'other' is the local-only model of that site on the other sites' held-out people, or central",
        "training on all held-out people (last row). Lower is better.",
    ]
    for metric, block in summary.items():
        claims = block["claims"]
        lines += [
            "",
            f"## {metric}",
            "",
            f"Federated beats every local-only model on the other sites' people in {claims['beats_every_local_elsewhere']}"
            f" of {claims['seeds']} seeds; within {CENTRAL_MARGIN * 100:.0f} % of central in "
            f"{claims['within_central_margin']} of {claims['seeds']}.",
            "",
            "| held-out people | other model | federated | federated - other | federated wins |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, r in block["comparisons"].items():
            cells = [f"{r[k]['mean']:.2f} ± {r[k]['sd']:.2f} [{r[k]['min']:.2f}, {r[k]['max']:.2f}]"
                     for k in ("other", "federated", "federated_minus_other")]  # fmt: skip
            lines.append(f"| {name} | {' | '.join(cells)} | {r['federated_wins']}/{r['seeds']} |")
    return "\n".join(lines) + "\n"


def seed_verdicts(
    reports: Sequence[Mapping[str, Any]], margin: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One seed's (pooled scores, {metric: verdict}) from its folds' report.json payloads (one report:
    no pooling, its own scores)."""
    first = reports[0]
    metrics = list(first.get("metrics") or [first["primary_metric"]])
    scores = pool_folds([r["held_out"] for r in reports], metrics) if len(reports) > 1 else first["held_out"]
    comparison = Comparison(scores, first["primary_metric"], int(first["epochs_per_model"]), tuple(metrics))
    return scores, {m: asdict(judge(comparison, margin, m)) for m in metrics}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--folds", type=int, default=4, help="K-fold split of each site's people (0: one 25 %% split)"
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--local-epochs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("runs/federated-pretrained"))
    parser.add_argument("--no-pretrain", action="store_true", help="fresh networks (the old recipe)")
    args = parser.parse_args(argv)
    if args.folds == 1 or args.folds < 0:
        parser.error("--folds must be 0 (one 25 % split) or at least 2")
    initial = "" if args.no_pretrain else str(pretrained_weights(args.cache, PretrainConfig()))
    command = "python -m training.federated.sweep " + " ".join(sys.argv[1:] if argv is None else argv)
    verdicts: dict[str, list[dict[str, Any]]] = {}
    for seed in args.seeds:
        reports = []
        for fold in range(max(args.folds, 1)):
            config = DemoConfig(
                data_root=args.data,
                rounds=args.rounds,
                local_epochs=args.local_epochs,
                engine="simulation",
                seed=seed,
                initial_weights=initial,
                folds=args.folds,
                fold=fold,
            )
            folder = args.out / f"seed{seed}" / (f"fold{fold}" if args.folds else "")
            run_demo(config, folder)
            reports.append(json.loads((folder / REPORT_JSON).read_text()))
        scores, by_metric = seed_verdicts(reports, CENTRAL_MARGIN)
        (args.out / f"seed{seed}" / POOLED_JSON).write_text(
            json.dumps({"held_out": scores, "verdicts": by_metric}, indent=2)
        )
        for metric, verdict in by_metric.items():
            verdicts.setdefault(metric, []).append(verdict)
        # rewritten after each seed: a cut-off run keeps what it has
        summary = {m: {"comparisons": summarize(v), "claims": claims_held(v)} for m, v in verdicts.items()}
        (args.out / SUMMARY_JSON).write_text(
            json.dumps({"seeds": args.seeds, "folds": args.folds, "summary": summary}, indent=2)
        )
        (args.out / SUMMARY_MD).write_text(markdown(summary, command, args.folds))
    print((args.out / SUMMARY_MD).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
