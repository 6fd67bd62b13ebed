"""Federated averaging variants for the forecast model, in-process (no Flower), on one person split.

The Flower demo's forecast federation trails central training; this tries what usually closes such a
gap, with the demo's own sites, split, SiteTrainer-equivalent local training and weighted average:
server momentum (FedAvgM), a proximal term (FedProx), a smaller local learning rate, more rounds.

Run: `python scripts/federated_forecast_variants.py [--rounds 15] [--folds 4 --fold 0 --seed 0]`
(about 30 s per variant on 2 cores). Prints RMSE at +30 min per site and on everyone.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from glucose_model.forecast import QUANTILES
from training.federated.aggregation import weighted_average
from training.federated.sites import demo_sites, load_site
from training.federated.tasks import (
    ForecastTask,
    load_parameter_arrays,
    make_task,
    new_network,
    parameter_arrays,
)
from training.losses import pinball_loss

Arrays = list[npt.NDArray[np.float32]]


@dataclass(frozen=True)
class Variant:
    name: str
    momentum: float = 0.0  # server momentum on the averaged update (FedAvgM)
    proximal_mu: float = 0.0  # FedProx: mu / 2 * |w - w_global|^2 added to the local loss
    learning_rate: float | None = None  # local; None: the forecast recipe's
    rounds_factor: int = 1


VARIANTS = (
    Variant("FedAvg"),
    Variant("FedAvgM 0.5", momentum=0.5),
    Variant("FedAvgM 0.9", momentum=0.9),
    Variant("FedProx 0.1", proximal_mu=0.1),
    Variant("FedProx 1.0", proximal_mu=1.0),
    Variant("local lr 5e-4", learning_rate=5e-4),
    Variant("FedAvg, twice the rounds", rounds_factor=2),
)


def local_epoch(task: ForecastTask, weights: Arrays, variant: Variant, seed: int) -> Arrays:
    """One local epoch as ForecastTask.train (AdamW, cosine to zero), plus the variant's changes."""
    network = new_network("forecast", 0)
    load_parameter_arrays(network, weights)
    anchor = [torch.from_numpy(a.copy()) for a in weights]
    windows, config = task.train_windows, task.config
    optimizer = torch.optim.AdamW(
        network.parameters(),
        lr=variant.learning_rate or config.learning_rate,
        weight_decay=config.weight_decay,
    )
    steps = -(-len(windows) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    cgm, kind = torch.from_numpy(windows.cgm), torch.from_numpy(windows.kind)
    targets = torch.from_numpy(windows.targets)
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(seed))
    network.train()
    for k in range(steps):
        b = order[k * config.batch_size : (k + 1) * config.batch_size]
        loss = pinball_loss(network(cgm[b], kind[b]), targets[b], QUANTILES)
        if variant.proximal_mu:
            drift = sum(((p - a) ** 2).sum() for p, a in zip(network.parameters(), anchor, strict=True))
            loss = loss + variant.proximal_mu / 2 * drift
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    network.eval()
    return parameter_arrays(network)


def federate(tasks: list[ForecastTask], variant: Variant, rounds: int) -> Arrays:
    weights = parameter_arrays(new_network("forecast", 0))
    velocity = [np.zeros_like(a) for a in weights]
    for r in range(1, rounds * variant.rounds_factor + 1):
        local = [local_epoch(t, weights, variant, seed=r) for t in tasks]
        average = weighted_average(local, [len(t.train_windows) for t in tasks])
        velocity = [
            variant.momentum * v + (a - w) for v, a, w in zip(velocity, average, weights, strict=True)
        ]
        weights = [(w + v).astype(np.float32) for w, v in zip(weights, velocity, strict=True)]
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sites = [load_site(s, 0.25, args.seed, args.folds, args.fold) for s in demo_sites(args.data, 3)]
    tasks = [make_task("forecast", s.train, s.test) for s in sites]
    assert all(isinstance(t, ForecastTask) for t in tasks)
    names = [s.name for s in sites]
    for variant in VARIANTS:
        network = new_network("forecast", 0)
        load_parameter_arrays(network, federate(tasks, variant, args.rounds))  # type: ignore[arg-type]
        scored = [t.evaluate(network) for t in tasks]
        total = sum(n for n, _ in scored)
        everyone = np.sqrt(sum(n * m["rmse_30min_mg_dl"] ** 2 for n, m in scored) / total)
        per_site = ", ".join(
            f"{n} {m['rmse_30min_mg_dl']:.2f}" for n, (_, m) in zip(names, scored, strict=True)
        )
        print(f"{variant.name}: RMSE@30 everyone {everyone:.2f} ({per_site})", flush=True)


if __name__ == "__main__":
    main()
