"""Client-side differential privacy: clip a site's model update, add Gaussian noise, account epsilon.

Numpy only. Each site clips its whole update (local weights minus the global weights it received)
to an L2 norm and adds Gaussian noise before anything leaves the hospital, so the guarantee holds
against the server too and covers the site's whole data set (site-level DP), hence every patient in it.
The accountant is Rényi DP of the Gaussian mechanism (Mironov 2017) composed over the rounds a site
took part in, converted to (epsilon, delta) with the tighter conversion of Balle et al. 2020; no
sampling amplification is claimed (sites are few and their selection is not secret).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Rényi orders searched for the best conversion (the usual grid of DP libraries).
RDP_ORDERS = (
    1.25,
    1.5,
    1.75,
    2.0,
    2.5,
    3.0,
    4.0,
    5.0,
    6.0,
    8.0,
    10.0,
    12.0,
    16.0,
    20.0,
    32.0,
    64.0,
    128.0,
    256.0,
)
DEFAULT_DELTA = 1e-5


class PrivacyConfigError(ValueError):
    """A differential-privacy setting is out of its valid range."""


@dataclass(frozen=True)
class DpConfig:
    clip_norm: float  # L2 bound of one site's update per round (same units as the weights)
    noise_multiplier: float  # Gaussian noise std as a multiple of clip_norm
    delta: float = DEFAULT_DELTA  # the delta of the reported (epsilon, delta)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise PrivacyConfigError(f"clip norm must be a positive number, got {self.clip_norm}")
        if not (math.isfinite(self.noise_multiplier) and self.noise_multiplier >= 0):
            raise PrivacyConfigError(f"noise multiplier must be >= 0, got {self.noise_multiplier}")
        if not 0 < self.delta < 1:
            raise PrivacyConfigError(f"delta must be in (0, 1), got {self.delta}")


Arrays = Sequence[npt.NDArray[np.float32]]


def l2_norm(arrays: Arrays) -> float:
    """The L2 norm of all arrays taken as one flat vector."""
    return float(math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))


def clip_update(update: Arrays, clip_norm: float) -> tuple[list[npt.NDArray[np.float32]], float]:
    """Scale `update` down to L2 norm <= clip_norm; returns (clipped arrays, the norm before clipping)."""
    norm = l2_norm(update)
    scale = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    return [(a * scale).astype(np.float32) for a in update], norm


def add_gaussian_noise(
    update: Arrays, config: DpConfig, rng: np.random.Generator
) -> list[npt.NDArray[np.float32]]:
    """Add N(0, (noise_multiplier * clip_norm)^2) to every coordinate."""
    std = config.noise_multiplier * config.clip_norm
    return [(a + rng.normal(0.0, std, size=a.shape)).astype(np.float32) for a in update]


def privatize_update(
    update: Arrays, config: DpConfig, rng: np.random.Generator
) -> tuple[list[npt.NDArray[np.float32]], float]:
    """Clip then add noise: the only form in which a site's update leaves it. Returns (update, pre-clip norm)."""
    clipped, norm = clip_update(update, config.clip_norm)
    return add_gaussian_noise(clipped, config, rng), norm


def gaussian_rdp(noise_multiplier: float, order: float) -> float:
    """Rényi DP of one Gaussian mechanism with sensitivity 1 and std `noise_multiplier`: alpha / (2 z^2)."""
    if noise_multiplier <= 0:
        return math.inf
    return order / (2.0 * noise_multiplier**2)


def epsilon(noise_multiplier: float, rounds: int, delta: float = DEFAULT_DELTA) -> float:
    """(epsilon, delta)-DP of `rounds` Gaussian releases of a clipped update (RDP accountant)."""
    if rounds <= 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    best = math.inf
    for order in RDP_ORDERS:
        rdp = rounds * gaussian_rdp(noise_multiplier, order)
        # Balle et al. 2020, Prop. 12: tighter than the classic rdp + log(1/delta) / (order - 1).
        eps = rdp + math.log1p(-1.0 / order) - (math.log(delta) + math.log(order)) / (order - 1.0)
        best = min(best, eps)
    return max(best, 0.0)


def noise_multiplier_for(target_epsilon: float, rounds: int, delta: float = DEFAULT_DELTA) -> float:
    """The smallest noise multiplier (to 0.1 %) whose `rounds` releases stay within target_epsilon."""
    if not (math.isfinite(target_epsilon) and target_epsilon > 0):
        raise PrivacyConfigError(f"target epsilon must be a positive number, got {target_epsilon}")
    low, high = 1e-3, 1.0
    while epsilon(high, rounds, delta) > target_epsilon:
        high *= 2.0
    while (high - low) / high > 1e-3:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if epsilon(mid, rounds, delta) > target_epsilon else (low, mid)
    return high
