"""Contract of the torch response network: shapes, finite outputs, gradients everywhere, and the
monotone inputs monotone by construction even untrained (random weights)."""

from __future__ import annotations

import pytest
import torch

from glucose_model.features import CARBS_INDEX, CGM_POINTS, INSULIN_INDEX, N_FEATURES, WALK_INDEX
from glucose_model.response_network import NetworkConfig, ResponseNetwork, parameter_count


def random_batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cgm = torch.randn(n, CGM_POINTS, generator=g) * 20
    mask = (torch.rand(n, CGM_POINTS, generator=g) > 0.2).float()
    features = torch.rand(n, N_FEATURES, generator=g) * 100
    return cgm * mask, mask, features


def test_shapes_finite_outputs_and_quantiles_in_order() -> None:
    network = ResponseNetwork().eval()
    rise, spike, slope = network(*random_batch(8, 0))
    assert rise.shape == (8, 37, 3) and spike.shape == (8, 1) and slope.shape == (8, 1)
    assert torch.isfinite(rise).all() and ((spike >= 0) & (spike <= 1)).all() and (slope > 0).all()
    assert (rise[:, :, 0] <= rise[:, :, 1]).all() and (rise[:, :, 1] <= rise[:, :, 2]).all()
    assert parameter_count(network) < 1_000_000


def test_gradients_reach_every_parameter() -> None:
    network = ResponseNetwork(NetworkConfig(4, 8, 16))
    rise, logit, _ = network.forward_logits(*random_batch(16, 1))
    (rise.sum() + logit.sum()).backward()
    missing = [name for name, p in network.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("column", "direction"), [(CARBS_INDEX, 1), (WALK_INDEX, -1), (INSULIN_INDEX, -1)])
def test_untrained_networks_are_monotone_where_they_must_be(seed: int, column: int, direction: int) -> None:
    torch.manual_seed(seed)
    network = ResponseNetwork().eval()
    cgm, mask, features = random_batch(1, seed)
    levels = torch.linspace(0, 150, 16)
    features = features.repeat(16, 1)
    features[:, column] = levels
    with torch.no_grad():
        rise, spike, _ = network(cgm.repeat(16, 1), mask.repeat(16, 1), features)
    p50 = rise[:, :, 1]  # every minute, not only the peak
    assert (direction * p50.diff(dim=0) >= -1e-4).all()
    assert (direction * spike[:, 0].diff() >= -1e-6).all()
