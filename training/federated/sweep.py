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

import numpy as np

from training.federated.comparison import ALL_SITES, CENTRAL, FEDERATED, LOCAL_PREFIX, Comparison, judge
from training.federated.demo import CENTRAL_MARGIN, DemoConfig, run_demo
from training.federated.pretraining import PretrainConfig, pretrained_weights
from training.federated.report import REPORT_JSON
from training.federated.sites import SiteError, check_folds

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
POOLED_JSON = "pooled.json"
EXAMPLES = "examples"
BOOTSTRAP_DRAWS = 2000
PersonTotals = dict[str, dict[str, dict[str, dict[str, list[float]]]]]  # model -> set -> person -> metric


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


def merge_people(folds: Sequence[Mapping[str, Any]]) -> PersonTotals:
    """The folds' per-person totals in one: each person is held out in exactly one fold."""
    merged: PersonTotals = {}
    for fold in folds:
        for model, sets in fold.items():
            for held_out, people in sets.items():
                into = merged.setdefault(model, {}).setdefault(held_out, {})
                twice = set(into) & set(people)
                if twice:
                    raise SweepError(
                        f"{len(twice)} people held out in more than one fold ({model}, {held_out})"
                    )
                into.update(people)
    return merged


def person_bootstrap(
    federated: Mapping[str, Mapping[str, Sequence[float]]],
    other: Mapping[str, Mapping[str, Sequence[float]]],
    metric: str,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> dict[str, float]:
    """Federated minus the other model's mean error over the same held-out people, with a 95 %
    interval from resampling the people (meals of one person are not independent), and in how many
    people the federated model's own mean error is the lower."""
    people = sorted(set(federated) & set(other))
    fed = np.array([federated[p][metric] for p in people], dtype=np.float64).reshape(-1, 2)
    oth = np.array([other[p][metric] for p in people], dtype=np.float64).reshape(-1, 2)
    counted = fed[:, 1] > 0
    fed, oth = fed[counted], oth[counted]
    if len(fed) == 0:
        raise SweepError(f"{metric}: no held-out person with a scored example")

    def difference(rows: np.ndarray) -> np.ndarray:
        n = fed[rows, 1].sum(axis=-1)
        return np.asarray(fed[rows, 0].sum(axis=-1) / n - oth[rows, 0].sum(axis=-1) / n)

    samples = difference(np.random.default_rng(seed).integers(0, len(fed), size=(draws, len(fed))))
    return {
        "difference": float(difference(np.arange(len(fed)))),
        "ci95_low": float(np.percentile(samples, 2.5)),
        "ci95_high": float(np.percentile(samples, 97.5)),
        "people": float(len(fed)),
        "people_federated_better": float((fed[:, 0] / fed[:, 1] < oth[:, 0] / oth[:, 1]).sum()),
    }


def people_intervals(people: PersonTotals, metrics: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """{metric: {comparison: person_bootstrap}} for each local-only model on the other sites' people
    and for central training on everyone; empty without per-person totals (the forecast model)."""
    if FEDERATED not in people:
        return {}
    pairs = [(f"not:{m.removeprefix(LOCAL_PREFIX)}", m) for m in sorted(people) if m.startswith(LOCAL_PREFIX)]
    pairs.append((ALL_SITES, CENTRAL))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for metric in metrics:
        out[metric] = {}
        for held_out, model in pairs:
            label = "all (vs central)" if model == CENTRAL else held_out
            out[metric][label] = person_bootstrap(
                people[FEDERATED][held_out], people[model][held_out], metric
            )
    return out


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
        lines += bootstrap_lines(block.get("people_bootstrap") or {})
    return "\n".join(lines) + "\n"


def bootstrap_lines(by_seed: Mapping[Any, Mapping[str, Mapping[str, float]]]) -> list[str]:
    """Per seed and comparison: federated minus other over the same people, its 95 % interval from
    resampling people, and in how many people the federated model was better."""
    if not any(by_seed.values()):
        return []
    lines = [
        "",
        "Per seed, over the same held-out people: federated minus other (negative: federated better), 95 % "
        f"interval from resampling people ({BOOTSTRAP_DRAWS} draws), people whose own error the federated model "
        "lowered:",
        "",
        "| seed | held-out people | federated - other | 95 % interval | people federated better |",
        "| ---: | --- | ---: | --- | ---: |",
    ]
    for seed, rows in by_seed.items():
        for name, b in rows.items():
            lines.append(
                f"| {seed} | {name} | {b['difference']:+.2f} | [{b['ci95_low']:+.2f}, {b['ci95_high']:+.2f}] | "
                f"{b['people_federated_better']:.0f}/{b['people']:.0f} |"
            )
    return lines


def seed_verdicts(
    reports: Sequence[Mapping[str, Any]], margin: float
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """One seed's (pooled scores, {metric: verdict}, {metric: {comparison: interval}}) from its folds'
    report.json payloads (one report: no pooling, its own scores)."""
    first = reports[0]
    metrics = list(first.get("metrics") or [first["primary_metric"]])
    scores = pool_folds([r["held_out"] for r in reports], metrics) if len(reports) > 1 else first["held_out"]
    comparison = Comparison(scores, first["primary_metric"], int(first["epochs_per_model"]), tuple(metrics))
    intervals = people_intervals(merge_people([r.get("per_person") or {} for r in reports]), metrics)
    return scores, {m: asdict(judge(comparison, margin, m)) for m in metrics}, intervals


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
    try:
        check_folds(args.folds)
    except SiteError as error:
        parser.error(str(error))
    initial = "" if args.no_pretrain else str(pretrained_weights(args.cache, PretrainConfig()))
    command = "python -m training.federated.sweep " + " ".join(sys.argv[1:] if argv is None else argv)
    verdicts: dict[str, list[dict[str, Any]]] = {}
    intervals: dict[str, dict[int, dict[str, dict[str, float]]]] = {}
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
        scores, by_metric, by_people = seed_verdicts(reports, CENTRAL_MARGIN)
        (args.out / f"seed{seed}" / POOLED_JSON).write_text(
            json.dumps({"held_out": scores, "verdicts": by_metric, "people_bootstrap": by_people}, indent=2)
        )
        for metric, verdict in by_metric.items():
            verdicts.setdefault(metric, []).append(verdict)
            intervals.setdefault(metric, {})[seed] = by_people.get(metric, {})
        # rewritten after each seed: a cut-off run keeps what it has
        summary = {
            m: {"comparisons": summarize(v), "claims": claims_held(v), "people_bootstrap": intervals[m]}
            for m, v in verdicts.items()
        }
        (args.out / SUMMARY_JSON).write_text(
            json.dumps({"seeds": args.seeds, "folds": args.folds, "summary": summary}, indent=2)
        )
        (args.out / SUMMARY_MD).write_text(markdown(summary, command, args.folds))
    print((args.out / SUMMARY_MD).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
