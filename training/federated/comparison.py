"""The federated model beside central training and each site's local-only model, on held-out people.

Pooling every site's data here is what a real federation cannot do; the demo does it only to
measure what federation costs and buys. Every model starts from the same initial weights and gets
the same number of passes over its data (rounds x local epochs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from glucose_model.records import Recording
from training.federated.sites import SiteRecordings
from training.federated.tasks import (
    PRIMARY_METRIC,
    REPORTED_METRICS,
    ModelTask,
    load_parameter_arrays,
    make_task,
)

CENTRAL = "central"
FEDERATED = "federated"
LOCAL_PREFIX = "local:"
ALL_SITES = "all"


@dataclass(frozen=True)
class Comparison:
    """{model: {evaluation set: metrics}}; evaluation sets are site names, 'all', and 'not:<site>'.
    Every set's metrics include 'examples', the held-out examples they were computed on."""

    scores: dict[str, dict[str, dict[str, float]]]
    primary_metric: str
    epochs: int  # passes over the data each model got
    metrics: tuple[str, ...] = ()  # every metric the report shows, the primary first
    # {model: {set: {pseudonym: {metric: [sum of per-example errors, examples]}}}}: what a bootstrap
    # over people needs (sweep.py); response model only, for 'all' and each 'not:<site>'.
    per_person: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = field(default_factory=dict)


def _train_copy(
    task: ModelTask, initial: Sequence[npt.NDArray[np.float32]], epochs: int, seed: int
) -> nn.Module:
    network = task.new_network(seed)
    load_parameter_arrays(network, initial)
    task.train(network, epochs, seed)
    return network


def _pooled(model: str, sites: Sequence[SiteRecordings], names: Sequence[str]) -> ModelTask:
    train: list[Recording] = []
    test: list[Recording] = []
    for site in sites:
        if site.name in names:
            train.extend(site.train)
            test.extend(site.test)
    return make_task(model, train, test)


def compare(
    model: str,
    sites: Sequence[SiteRecordings],
    initial: Sequence[npt.NDArray[np.float32]],
    federated: Sequence[npt.NDArray[np.float32]],
    epochs: int,
    seed: int = 0,
) -> Comparison:
    """Train central and local-only models from `initial`, score all three kinds on every held-out set."""
    torch.set_num_threads(1)  # small networks: one thread avoids spin-waiting on a shared CPU
    names = [s.name for s in sites]
    per_site = {s.name: make_task(model, s.train, s.test) for s in sites}
    everyone = _pooled(model, sites, names)
    others = {n: _pooled(model, sites, [m for m in names if m != n]) for n in names}

    networks: dict[str, nn.Module] = {}
    fed = everyone.new_network(seed)
    load_parameter_arrays(fed, federated)
    networks[FEDERATED] = fed
    networks[CENTRAL] = _train_copy(everyone, initial, epochs, seed)
    for name, task in per_site.items():
        networks[LOCAL_PREFIX + name] = _train_copy(task, initial, epochs, seed)

    scores: dict[str, dict[str, dict[str, float]]] = {}
    per_person: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = {}
    for label, network in networks.items():
        sets: dict[str, dict[str, float]] = {ALL_SITES: _scored(everyone, network)}
        for name in names:
            sets[name] = _scored(per_site[name], network)
            sets["not:" + name] = _scored(others[name], network)
        scores[label] = sets
        totals = {ALL_SITES: person_totals(everyone, network)}
        totals.update({"not:" + n: person_totals(others[n], network) for n in names})
        if any(totals.values()):
            per_person[label] = totals
    return Comparison(scores, PRIMARY_METRIC[model], epochs, REPORTED_METRICS[model], per_person)


def pseudonym(person: str) -> str:
    """A stable stand-in for a person's id (the same person gets the same one in every fold)."""
    return hashlib.sha256(person.encode()).hexdigest()[:12]


def person_totals(task: ModelTask, network: nn.Module) -> dict[str, dict[str, list[float]]]:
    """{pseudonym: {metric: [sum of the person's per-example errors, examples scored]}}; empty for
    a task without per-example errors (the forecast model)."""
    meal_errors = getattr(task, "meal_errors", None)
    if meal_errors is None:
        return {}
    people, errors = meal_errors(network)
    out: dict[str, dict[str, list[float]]] = {}
    for person in sorted(set(people.tolist())):
        mine = people == person
        out[pseudonym(person)] = {
            metric: [float(np.nansum(values[mine])), float(np.isfinite(values[mine]).sum())]
            for metric, values in errors.items()
        }
    return out


def _scored(task: ModelTask, network: nn.Module) -> dict[str, float]:
    n, metrics = task.evaluate(network)
    return {**metrics, "examples": float(n)}


@dataclass(frozen=True)
class Verdict:
    """The issue's two claims under one metric, each with its numbers."""

    beats_every_local_elsewhere: bool
    other_sites: list[
        dict[str, object]
    ]  # per local model: its error and the federated one on the others' people
    within_central_margin: bool
    federated_error: float
    central_error: float
    margin: float  # allowed relative excess of the federated error over central
    metric: str = ""


def judge(comparison: Comparison, margin: float, metric: str | None = None) -> Verdict:
    """The claims under `metric` (default: the comparison's primary metric)."""
    metric = metric or comparison.primary_metric
    s = comparison.scores
    rows: list[dict[str, object]] = []
    for label in sorted(k for k in s if k.startswith(LOCAL_PREFIX)):
        site = label.removeprefix(LOCAL_PREFIX)
        local = s[label]["not:" + site].get(metric)
        fed = s[FEDERATED]["not:" + site].get(metric)
        better = local is not None and fed is not None and fed < local
        rows.append({"local_site": site, "local": local, "federated": fed, "federated_better": better})
    fed_all = s[FEDERATED][ALL_SITES][metric]
    central_all = s[CENTRAL][ALL_SITES][metric]
    return Verdict(
        all(bool(r["federated_better"]) for r in rows),
        rows,
        fed_all <= central_all * (1.0 + margin),
        fed_all,
        central_all,
        margin,
        metric,
    )


def site_sizes(model: str, sites: Sequence[SiteRecordings]) -> list[Mapping[str, object]]:
    """People and examples per site and split, for the report (counts only)."""
    out: list[Mapping[str, object]] = []
    for site in sites:
        task = make_task(model, site.train, site.test)
        out.append(
            {
                "site": site.name,
                "train_people": len({r.person_id for r in site.train}),
                "test_people": len(site.test_people),
                "train_examples": _count(task, train=True),
                "test_examples": _count(task, train=False),
            }
        )
    return out


def _count(task: ModelTask, train: bool) -> int:
    examples = getattr(task, "train_examples" if train else "test_examples", None)
    if examples is None:
        examples = getattr(task, "train_windows" if train else "test_windows")
    return len(examples)
