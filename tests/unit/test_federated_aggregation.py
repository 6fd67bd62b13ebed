"""Weighted FedAvg: sites weighted by their example counts, shapes checked, errors named."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.federated.aggregation import AggregationError, server_momentum_step, weighted_average


def test_sites_are_weighted_by_their_example_counts() -> None:
    a = [np.array([0.0, 0.0], np.float32), np.array([[1.0]], np.float32)]
    b = [np.array([4.0, 8.0], np.float32), np.array([[5.0]], np.float32)]
    out = weighted_average([a, b], [3, 1])
    np.testing.assert_allclose(out[0], [1.0, 2.0])
    np.testing.assert_allclose(out[1], [[2.0]])
    assert out[0].dtype == np.float32


@settings(deadline=None, max_examples=50)
@given(
    values=st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=6),
    counts=st.lists(st.integers(1, 1000), min_size=6, max_size=6),
)
def test_average_lies_between_the_sites_and_ignores_their_order(
    values: list[float], counts: list[int]
) -> None:
    sites = [[np.full(3, v, np.float32)] for v in values]
    n = counts[: len(values)]
    out = weighted_average(sites, n)[0]
    assert min(values) - 1e-4 <= out[0] <= max(values) + 1e-4
    reversed_out = weighted_average(sites[::-1], n[::-1])[0]
    np.testing.assert_allclose(out, reversed_out, rtol=1e-6, atol=1e-6)
    expected = sum(v * k for v, k in zip(values, n, strict=True)) / sum(n)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_identical_sites_give_the_same_weights_back() -> None:
    w = [np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)]
    np.testing.assert_allclose(weighted_average([w, w, w], [7, 1, 30])[0], w[0], rtol=1e-6)


@pytest.mark.parametrize(
    ("sites", "counts"),
    [
        ([], []),
        ([[np.zeros(2, np.float32)]], [0]),
        ([[np.zeros(2, np.float32)], [np.zeros(3, np.float32)]], [1, 1]),
        ([[np.zeros(2, np.float32)]], [1, 2]),
    ],
)
def test_bad_rounds_are_named_errors(sites: list[list[np.ndarray]], counts: list[int]) -> None:
    with pytest.raises(AggregationError):
        weighted_average(sites, counts)


def test_server_momentum_zero_is_plain_fedavg() -> None:
    current, average = [np.zeros(3, np.float32)], [np.array([1.0, -2.0, 0.5], np.float32)]
    new, velocity = server_momentum_step(current, average, None, 0.0)
    np.testing.assert_allclose(new[0], average[0])
    np.testing.assert_allclose(velocity[0], average[0])


def test_server_momentum_carries_the_last_update_forward() -> None:
    w = [np.zeros(2, np.float32)]
    v: list[np.ndarray] | None = None
    steps = []
    for _ in range(3):  # the sites keep pulling the average 1.0 above the current weights
        w, v = server_momentum_step(w, [w[0] + 1.0], v, 0.5)
        steps.append(float(w[0][0]))
    assert steps == pytest.approx([1.0, 2.5, 4.25])  # steps of 1, 1.5, 1.75: momentum accumulates
    assert v is not None and v[0].dtype == np.float32


def test_server_momentum_out_of_range_is_refused() -> None:
    with pytest.raises(AggregationError, match="momentum"):
        server_momentum_step([np.zeros(1, np.float32)], [np.ones(1, np.float32)], None, 1.0)
