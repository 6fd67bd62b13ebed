"""Weighted federated averaging (McMahan et al. 2017): the global weights are the sites' weights
averaged with each site weighted by the number of training examples it reported; optionally with
server momentum on the averaged update (FedAvgM, Hsu et al. 2019). Numpy only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


class AggregationError(ValueError):
    """The sites' updates cannot be averaged (no sites, no examples, or mismatched shapes)."""


def weighted_average(
    site_weights: Sequence[Sequence[npt.NDArray[np.float32]]], num_examples: Sequence[int]
) -> list[npt.NDArray[np.float32]]:
    """sum_k n_k w_k / sum_k n_k, array by array; accumulates in float64 so order does not matter."""
    if not site_weights:
        raise AggregationError("no site returned weights this round")
    if len(site_weights) != len(num_examples):
        raise AggregationError(f"{len(site_weights)} weight lists but {len(num_examples)} example counts")
    if any(n < 0 for n in num_examples) or sum(num_examples) <= 0:
        raise AggregationError(f"example counts must be >= 0 and not all 0, got {list(num_examples)}")
    shapes = [tuple(a.shape) for a in site_weights[0]]
    for k, weights in enumerate(site_weights):
        if [tuple(a.shape) for a in weights] != shapes:
            raise AggregationError(
                f"site {k} sent arrays of shapes {[a.shape for a in weights]}, expected {shapes}"
            )
    total = float(sum(num_examples))
    averaged: list[npt.NDArray[np.float32]] = []
    for i in range(len(shapes)):
        acc = np.zeros(shapes[i], np.float64)
        for site, n in zip(site_weights, num_examples, strict=True):
            acc += n * site[i].astype(np.float64)
        averaged.append((acc / total).astype(np.float32))
    return averaged


def server_momentum_step(
    current: Sequence[npt.NDArray[np.float32]],
    average: Sequence[npt.NDArray[np.float32]],
    velocity: Sequence[npt.NDArray[np.float32]] | None,
    momentum: float,
) -> tuple[list[npt.NDArray[np.float32]], list[npt.NDArray[np.float32]]]:
    """FedAvgM: velocity = momentum * velocity + (average - current); new = current + velocity.
    Returns (new global weights, new velocity); momentum 0 gives plain FedAvg (new = average)."""
    if not 0.0 <= momentum < 1.0:
        raise AggregationError(f"server momentum must be in [0, 1), got {momentum}")
    if velocity is None:
        velocity = [np.zeros_like(a) for a in current]
    new_velocity = [
        (momentum * v.astype(np.float64) + (a.astype(np.float64) - c.astype(np.float64))).astype(np.float32)
        for v, a, c in zip(velocity, average, current, strict=True)
    ]
    new = [(c + v).astype(np.float32) for c, v in zip(current, new_velocity, strict=True)]
    return new, new_velocity
