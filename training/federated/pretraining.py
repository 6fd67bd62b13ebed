"""The simulated-cohort pre-trained network every federated, central and local-only model starts from.

Central training of the shipped response model pre-trains on the simulator first; the federation
and its baselines start from the same weights so the comparison is fair. Cached: sites never redo it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from glucose_model.records import equal_kind_shares
from glucose_model.simulator.cohort import CohortConfig, simulate_cohort
from training.federated.tasks import TaskError, new_network, parameter_arrays, parameter_names
from training.glucose_train import TrainConfig, fit_network, meal_examples

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    people: int = 80  # as the shipped response model (models/glucose_response card): 20 per kind
    days: int = 7
    seed: int = 0


def pretrained_path(cache_dir: Path, config: PretrainConfig) -> Path:
    return cache_dir / f"pretrained-response-p{config.people}-d{config.days}-s{config.seed}.npz"


def pretrained_weights(cache_dir: Path, config: PretrainConfig = PretrainConfig()) -> Path:
    """The .npz of the response network pre-trained on a simulated cohort (made once, then cached)."""
    path = pretrained_path(cache_dir, config)
    if path.exists():
        return path
    if config.people < 4:
        raise TaskError(f"pre-training needs at least 4 simulated people (one per kind), got {config.people}")
    people = equal_kind_shares(config.people)
    logger.info("simulating %d people x %d days for pre-training", config.people, config.days)
    cohort = simulate_cohort(CohortConfig(people=people, days=config.days, seed=config.seed))
    examples = meal_examples(cohort.recordings())
    train_config = TrainConfig(seed=config.seed)
    network = new_network("response", config.seed)
    fit_network(
        network,  # type: ignore[arg-type]
        examples,
        train_config.pretrain_epochs,
        train_config.learning_rate,
        train_config,
        "pre-train (simulated)",
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    arrays = dict(zip(parameter_names(network), parameter_arrays(network), strict=True))
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def load_weights(path: Path, names: list[str]) -> list[npt.NDArray[np.float32]]:
    """The arrays of `path` in the order of `names` (a network's parameter_names)."""
    with np.load(path) as stored:
        missing = [n for n in names if n not in stored.files]
        if missing:
            raise TaskError(f"{path} lacks parameters {missing[:3]}...; re-create it for this network")
        return [stored[n].astype(np.float32) for n in names]
