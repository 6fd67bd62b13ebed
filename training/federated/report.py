"""The federated demo's report: one JSON with every figure and a Markdown page a reader can check."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training.federated.comparison import ALL_SITES, CENTRAL, FEDERATED, LOCAL_PREFIX, Comparison, Verdict
from training.federated.privacy import DEFAULT_DELTA, noise_multiplier_for

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
ATTRIBUTION = {
    "shanghai_t2dm": "ShanghaiT2DM (Zhao et al. 2023, Scientific Data), CC BY 4.0",
    "shanghai_t1dm": "ShanghaiT1DM (Zhao et al. 2023, Scientific Data), CC BY 4.0",
    "d1namo": "D1NAMO (Dubosson et al. 2018, Informatics in Medicine Unlocked), CC BY-SA 4.0",
}


def _fmt(value: object, digits: int = 2) -> str:
    if isinstance(value, int | float):
        return f"{value:.{digits}f}"
    return "-"


def compact_layout(layout: Mapping[str, Any]) -> dict[str, Any]:
    """A reply layout on one line: array shapes as 'AxB' strings."""
    arrays = {
        name: ["x".join(str(d) for d in shape) or "scalar" for shape in shapes]
        for name, shapes in layout["array_records"].items()
    }
    return {**layout, "array_records": arrays}


def cost_summary(run: Mapping[str, Any]) -> dict[str, float]:
    rounds = run["rounds"]
    n = max(len(rounds), 1)
    return {
        "rounds": float(len(rounds)),
        "mean_bytes_to_sites_per_round": sum(r["bytes_to_sites"] for r in rounds) / n,
        "mean_bytes_from_sites_per_round": sum(r["bytes_from_sites"] for r in rounds) / n,
        "mean_wall_s_per_round": sum(r["wall_s"] for r in rounds) / n,
        "total_wall_s": float(run["total_wall_s"]),
    }


def write_report(
    out: Path,
    config: Mapping[str, Any],
    sites: Sequence[Mapping[str, object]],
    runs: Mapping[str, Mapping[str, Any]],
    comparison: Comparison,
    verdicts: Sequence[Verdict],
) -> Path:
    """Write report.json and report.md to `out`; returns the Markdown path. `verdicts`: the claims
    under each reported metric, the primary metric's first."""
    payload = {
        "config": dict(config),
        "sites": list(sites),
        "attribution": {s["site"]: ATTRIBUTION.get(str(s["site"]), "user-supplied") for s in sites},
        "held_out": comparison.scores,
        "primary_metric": comparison.primary_metric,
        "metrics": list(comparison.metrics or (comparison.primary_metric,)),
        "epochs_per_model": comparison.epochs,
        "verdict": asdict(verdicts[0]),
        "verdicts": {v.metric: asdict(v) for v in verdicts},
        "runs": {engine: {**run, "cost": cost_summary(run)} for engine, run in runs.items()},
        # per pseudonymous held-out person, error sums and counts: the sweep's bootstrap over people
        "per_person": comparison.per_person,
    }
    (out / REPORT_JSON).write_text(json.dumps(payload, indent=2, default=float))
    md = out / REPORT_MD
    md.write_text(render_markdown(payload))
    return md


def dp_budget_lines(rounds: int, n_sites: int, parameters: int) -> list[str]:
    """What client-side DP would cost here: the noise multiplier for a few epsilons (RDP accountant,
    delta 1e-5, every site in every round) and how large the noise is against the clipped update."""
    lines = [
        f"What client-side DP costs with {n_sites} sites, {rounds} rounds and {parameters:,} parameters "
        f"(accountant arithmetic, delta = {DEFAULT_DELTA:g}; noise norm of the averaged update relative to the clip "
        "norm is z * sqrt(parameters / sites) with equal site weights, independent noise adding in quadrature):",
        "",
        "| target epsilon | noise multiplier z | noise norm / clip norm in the average |",
        "| ---: | ---: | ---: |",
    ]
    for target in (1.0, 3.0, 8.0):
        z = noise_multiplier_for(target, rounds, DEFAULT_DELTA)
        lines.append(f"| {target:g} | {z:.2f} | {z * (parameters / n_sites) ** 0.5:,.0f} |")
    return lines


METRIC_NOTES = {
    "curve_mae_mg_dl": " (mean over meals of the mean |predicted - measured| rise, minutes 5-180: the "
    "error of the whole median curve, what the network is trained for)",
    "peak_rise_mae_mg_dl": " (|predicted - measured| highest rise; where every model's curve top sits below the "
    "measured top, see the bias line, this rewards models that draw higher peaks)",
}


def _split_line(config: Mapping[str, Any]) -> str:
    if int(config.get("folds") or 0) >= 2:
        return (
            f"People split: fold {config['fold']} of {config['folds']} of each site's people (seed "
            f"{config['seed']}); `python -m training.federated.sweep` runs every fold and pools them."
        )
    return f"People split: {config['held_out_fraction'] * 100:.0f} % of each site's people held out (seed {config['seed']})."


def claim_lines(verdict: Mapping[str, Any], headline: bool) -> list[str]:
    """The two claims under one metric, with the numbers behind them."""
    name = verdict.get("metric") or "the primary metric"
    lines = [
        f"Under {name}{' (headline)' if headline else ''}:",
        "",
        f"- Federated beats every local-only model on the other sites' people: "
        f"**{'yes' if verdict['beats_every_local_elsewhere'] else 'no'}**",
    ]
    for row in verdict["other_sites"]:
        lines.append(
            f"  - trained only at {row['local_site']}: {_fmt(row['local'])} vs federated {_fmt(row['federated'])}"
        )
    lines += [
        f"- Federated within {verdict['margin'] * 100:.0f} % of central training on all held-out people: "
        f"**{'yes' if verdict['within_central_margin'] else 'no'}** "
        f"({_fmt(verdict['federated_error'])} vs {_fmt(verdict['central_error'])}, "
        f"{(verdict['federated_error'] / verdict['central_error'] - 1) * 100:+.1f} %)",
        "",
    ]
    return lines


def render_markdown(payload: Mapping[str, Any]) -> str:
    config, metric = payload["config"], payload["primary_metric"]
    scores: Mapping[str, Mapping[str, Mapping[str, float]]] = payload["held_out"]
    site_names = [str(s["site"]) for s in payload["sites"]]
    verdict = payload["verdict"]
    lines = [
        f"# Federated training of the glucose {config['model']} model across {len(site_names)} hospitals",
        "",
        f"Produced by `mealimpact federated demo --sites {config['sites']} --rounds {config['rounds']} "
        f"--local-epochs {config['local_epochs']} --engine {config['engine']}"
        + (" --secagg" if config["secagg"] else "")
        + (f" --dp-clip {config['dp_clip']} --dp-noise {config['dp_noise']}" if config["dp_clip"] else "")
        + (f" --folds {config['folds']} --fold {config['fold']}" if int(config.get("folds") or 0) else "")
        + (f" --server-momentum {config['server_momentum']}" if config.get("server_momentum") else "")
        + f" --seed {config['seed']} --start {'pretrained' if config.get('initial_weights') else 'fresh'}"
        + " --out DIR` (every number below is from that run; report.json has them all).",
        "",
        "## Sites (each split by person; held-out people are never trained on by any model)",
        "",
        "| site | train people | test people | train examples | test examples | data |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in payload["sites"]:
        lines.append(
            f"| {s['site']} | {s['train_people']} | {s['test_people']} | {s['train_examples']} | "
            f"{s['test_examples']} | {payload['attribution'][s['site']]} |"
        )
    lines += [
        "",
        _split_line(config),
        "",
        f"## Held-out error (lower is better; {metric} is the headline)",
        "",
        f"Every model starts from the same initial weights and makes {payload['epochs_per_model']} passes over "
        "its data (federated: rounds x local epochs at each site). Columns are the held-out people of each "
        "site, of all sites, and of every site but one.",
    ]
    sets = [*site_names, ALL_SITES, *[f"not:{n}" for n in site_names]]
    models = [FEDERATED, CENTRAL, *[k for k in scores if k.startswith(LOCAL_PREFIX)]]
    for name in payload.get("metrics") or [metric]:
        lines += ["", f"{name}{METRIC_NOTES.get(name, '')}:", ""]
        lines.append("| model | " + " | ".join(sets) + " |")
        lines.append("| --- |" + " ---: |" * len(sets))
        for label in models:
            cells = [_fmt(scores[label].get(s, {}).get(name)) for s in sets]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    bias = {label: scores[label].get(ALL_SITES, {}).get("peak_rise_bias_mg_dl") for label in models}
    if any(v is not None for v in bias.values()):
        lines += [
            "",
            "Mean predicted minus measured peak rise on all held-out people (mg/dL; negative: the curve's top "
            "sits below the measured top): " + ", ".join(f"{k} {_fmt(v)}" for k, v in bias.items()) + ".",
        ]
    lines += ["", "## The claims", ""]
    for verdict in (payload.get("verdicts") or {metric: payload["verdict"]}).values():
        lines += claim_lines(verdict, headline=verdict.get("metric", metric) == metric)
    lines += [
        "## Cost",
        "",
        "| engine | rounds | bytes to sites / round | bytes from sites / round | wall s / round | total s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for engine, run in payload["runs"].items():
        c = run["cost"]
        lines.append(
            f"| {engine} | {c['rounds']:.0f} | {c['mean_bytes_to_sites_per_round']:,.0f} | "
            f"{c['mean_bytes_from_sites_per_round']:,.0f} | {c['mean_wall_s_per_round']:.1f} | {c['total_wall_s']:.0f} |"
        )
    first = next(iter(payload["runs"].values()))
    lines += [
        "",
        f"The model has {first['parameters']:,} parameters ({first['parameter_bytes']:,} bytes as float32); bytes "
        "are the deflated Flower message objects (message, records, array chunks) the server sent and received, "
        "per round, all sites together; wall time runs from the round's first message out to its last reply in.",
        "",
        "## What crossed the wire",
        "",
        f"The server checked {first['wire']['replies_checked']} replies: "
        + (
            "under SecAgg+ the sites sent only the protocol's records (public keys, encrypted key shares, the "
            "masked parameter vector, mask shares), an example count and losses; the server saw the weights "
            "only as their sum, whose shapes it checked against the network's."
            if config["secagg"]
            else "each was the model's parameter arrays (shapes equal to the network's), an example count and "
            "losses, and nothing else."
        )
        + " The distinct reply layouts it received (keys and shapes, never values):",
        "",
        "```",
        *[json.dumps(compact_layout(layout)) for layout in first["wire"]["reply_layouts"]],
        "```",
        "",
        "## Privacy",
        "",
    ]
    privacy = first["privacy"]
    if privacy.get("client_dp"):
        lines.append(
            f"Client-side DP: each site clips its update to L2 norm {privacy['clip_norm']} and adds Gaussian "
            f"noise of std {privacy['noise_multiplier']} x that norm before sending; over "
            f"{privacy['rounds_a_site_took_part_in']} rounds that is (epsilon = {privacy['epsilon']:.2f}, "
            f"delta = {privacy['delta']:g}) site-level DP ({privacy['accountant']})."
        )
    else:
        lines.append("No differential privacy in this run (`--dp-clip C --dp-noise Z` turns it on).")
    lines += ["", *dp_budget_lines(int(config["rounds"]), len(payload["sites"]), int(first["parameters"]))]
    lines.append(
        "Secure aggregation (SecAgg+): "
        + ("on." if config["secagg"] else "off in this run (`--secagg` turns it on).")
    )
    return "\n".join(lines) + "\n"
