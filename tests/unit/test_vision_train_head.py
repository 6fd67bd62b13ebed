"""The linear head on cached features: class weights, fitting, resuming from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from training.vision_train import (
    Checkpoint,
    TrainingProgress,
    TrainingSetError,
    VisionTrainConfig,
    class_weights,
    fit_linear_head,
)
from vision.efficientnet_lite import EMBEDDING_DIM


def _features(seed: int, per_class: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(per_class), EMBEDDING_DIM)) * 2
    x = np.concatenate(
        [c + rng.normal(size=(n, EMBEDDING_DIM)) for c, n in zip(centres, per_class, strict=True)]
    )
    y = np.concatenate([[k] * n for k, n in enumerate(per_class)])
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


def test_class_weights_balance_the_classes() -> None:
    weights = class_weights([0, 0, 0, 1], 2)
    assert torch.allclose(weights, torch.tensor([4 / 6, 4 / 2]))
    assert torch.isclose(weights[0] * 3, weights[1] * 1)  # each class carries the same total weight
    with pytest.raises(TrainingSetError, match="no training photos"):
        class_weights([0, 0], 2)


def test_linear_head_separates_separable_features(tmp_path: Path) -> None:
    x, y = _features(0, [20, 5, 10])  # imbalanced on purpose
    config = VisionTrainConfig(epochs=15, seed=0)
    head, best_epoch, _, val_accuracy = fit_linear_head(x, y, x, y, 3, config, Checkpoint(tmp_path))
    assert val_accuracy == 1.0 and best_epoch >= 0
    assert (head(x).argmax(1) == y).all()


def test_an_interrupted_run_resumes_to_the_same_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _features(1, [8, 8])
    config = VisionTrainConfig(epochs=20, seed=3)
    whole, *_ = fit_linear_head(x, y, x, y, 2, config, None)
    record = TrainingProgress.record

    def killed_at_epoch_15(self: TrainingProgress, epoch: int, *args: object) -> None:
        if epoch == 15:
            raise KeyboardInterrupt
        record(self, epoch, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(TrainingProgress, "record", killed_at_epoch_15)
    with pytest.raises(KeyboardInterrupt):
        fit_linear_head(x, y, x, y, 2, config, Checkpoint(tmp_path))
    monkeypatch.setattr(TrainingProgress, "record", record)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["progress"]["epoch"] == 10
    resumed, *_ = fit_linear_head(x, y, x, y, 2, config, Checkpoint(tmp_path))
    assert torch.allclose(resumed.weight, whole.weight, atol=1e-5)


def test_fine_tuning_trains_only_the_last_blocks_and_keeps_batch_norm_statistics_frozen() -> None:
    from torch import nn

    from training.vision_finetune import _freeze_all_but_last, _set_train_mode
    from vision.efficientnet_lite import EfficientNetLite0

    backbone = EfficientNetLite0()
    head = nn.Linear(EMBEDDING_DIM, 3)
    trainable = {id(p) for p in _freeze_all_but_last(backbone, unfrozen_blocks=2)}
    last_two = {id(p) for block in backbone._blocks[-2:] for p in block.parameters()}
    assert last_two <= trainable
    assert not any(p.requires_grad for block in backbone._blocks[:-2] for p in block.parameters())
    assert all(p.requires_grad for p in backbone._conv_head.parameters())
    _set_train_mode(backbone, head)
    assert head.training and backbone.training
    assert not any(m.training for m in backbone.modules() if isinstance(m, nn.BatchNorm2d))
