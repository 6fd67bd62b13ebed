"""Client-side DP: clipping bounds the update, the noise has the stated spread, the RDP accountant is sound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.federated.privacy import (
    DpConfig,
    PrivacyConfigError,
    clip_update,
    epsilon,
    l2_norm,
    noise_multiplier_for,
    privatize_update,
)


def exact_gaussian_epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """The tight epsilon of `rounds` composed Gaussian mechanisms: they are mu-GDP with
    mu = sqrt(rounds) / z (Dong, Roth & Su 2019), whose delta(epsilon) is known in closed form."""
    mu = math.sqrt(rounds) / noise_multiplier

    def phi(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2))

    def delta_of(eps: float) -> float:
        return phi(-eps / mu + mu / 2) - math.exp(eps) * phi(-eps / mu - mu / 2)

    low, high = 0.0, 1.0
    while delta_of(high) > delta:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if delta_of(mid) > delta else (low, mid)
    return high


arrays = st.lists(
    st.lists(st.floats(-100, 100, allow_nan=False, width=32), min_size=1, max_size=20), min_size=1, max_size=4
).map(lambda rows: [np.asarray(r, np.float32) for r in rows])


@settings(deadline=None, max_examples=60)
@given(update=arrays, clip=st.floats(0.01, 50))
def test_clipping_bounds_the_norm_and_keeps_the_direction(update: list[np.ndarray], clip: float) -> None:
    clipped, norm_before = clip_update(update, clip)
    assert l2_norm(clipped) <= clip * (1 + 1e-5) + 1e-6
    assert norm_before == pytest.approx(l2_norm(update), rel=1e-6)
    if norm_before <= clip:  # small updates pass unchanged
        for a, b in zip(update, clipped, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    else:
        flat_a = np.concatenate([a.ravel() for a in update]).astype(np.float64)
        flat_b = np.concatenate([b.ravel() for b in clipped]).astype(np.float64)
        cos = flat_a @ flat_b / (np.linalg.norm(flat_a) * np.linalg.norm(flat_b))
        assert cos == pytest.approx(1.0, abs=1e-5)


def test_noise_has_the_stated_standard_deviation() -> None:
    config = DpConfig(clip_norm=0.5, noise_multiplier=1.2)
    zero = [np.zeros(200_000, np.float32)]
    noisy, norm = privatize_update(zero, config, np.random.default_rng(0))
    assert norm == 0.0
    assert float(np.std(noisy[0])) == pytest.approx(0.6, rel=0.01)
    assert abs(float(np.mean(noisy[0]))) < 0.01


@pytest.mark.parametrize(("z", "rounds"), [(0.8, 1), (1.0, 10), (2.0, 30), (5.0, 100), (1.1, 200)])
def test_rdp_epsilon_is_an_upper_bound_close_to_the_exact_one(z: float, rounds: int) -> None:
    exact = exact_gaussian_epsilon(z, rounds, 1e-5)
    rdp = epsilon(z, rounds, 1e-5)
    assert rdp >= exact * (1 - 1e-6)  # sound: never claims more privacy than there is
    assert rdp <= exact * 1.35  # and not uselessly loose


def test_epsilon_grows_with_rounds_and_shrinks_with_noise() -> None:
    assert epsilon(1.0, 5) < epsilon(1.0, 10) < epsilon(1.0, 20)
    assert epsilon(2.0, 10) < epsilon(1.0, 10)
    assert epsilon(1.0, 0) == 0.0
    assert math.isinf(epsilon(0.0, 3))


def test_noise_multiplier_for_a_target_reaches_it() -> None:
    z = noise_multiplier_for(3.0, rounds=20)
    assert epsilon(z, 20) <= 3.0
    assert epsilon(z * 0.99, 20) > 3.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clip_norm": 0.0, "noise_multiplier": 1.0},
        {"clip_norm": 1.0, "noise_multiplier": -1.0},
        {"clip_norm": 1.0, "noise_multiplier": 1.0, "delta": 1.5},
    ],
)
def test_bad_settings_are_named_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(PrivacyConfigError):
        DpConfig(**kwargs)
