"""EfficientNet-Lite0: TF "same" padding, strict loading of the packaged ImageNet weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vision.efficientnet_lite import (
    EMBEDDING_DIM,
    EfficientNetLite0,
    WeightsMismatchError,
    _same_padding,
    load_pretrained,
    pretrained_weights_path,
)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(224, 3, 2, (0, 1, 0, 1)), (56, 5, 2, (1, 2, 1, 2)), (14, 5, 1, (2, 2, 2, 2)), (7, 3, 1, (1, 1, 1, 1))],
)
def test_same_padding_matches_tensorflow(
    size: int, kernel: int, stride: int, expected: tuple[int, ...]
) -> None:
    assert _same_padding(size, kernel, stride).padding == expected


def test_shapes() -> None:
    model = EfficientNetLite0().eval()
    x = torch.zeros(1, 3, 224, 224)
    with torch.no_grad():
        assert model.features(x).shape == (1, EMBEDDING_DIM)
        assert model(x).shape == (1, 1000)


def test_packaged_weights_load_strictly_and_every_parameter_is_used() -> None:
    model = load_pretrained()
    state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    assert set(model.state_dict()) == set(state)
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    assert not model.training


def test_a_missing_key_is_refused(tmp_path: Path) -> None:
    state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    del state["_fc.bias"]
    state["_extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(WeightsMismatchError, match=r"_fc\.bias.*_extra\.weight"):
        load_pretrained(path)
