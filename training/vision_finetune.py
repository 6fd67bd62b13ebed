"""Fine-tuning the recognizer's last blocks on labelled photos: augmentation, label smoothing, cosine
schedule, early stopping on the validation loss, a checkpoint every epoch.

It starts from the linear head fitted by `training.vision_train` (linear probe, then fine-tune).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2
from tqdm import tqdm

from training.vision_dataset import LabelledPhoto
from training.vision_features import load_photo_pixels
from training.vision_train import (
    MIN_CROP_AREA,
    Checkpoint,
    TrainingProgress,
    VisionTrainConfig,
    class_weights,
    seed_everything,
    split_indices,
)
from vision.decode import decode_image
from vision.efficientnet_lite import EfficientNetLite0
from vision.preprocess import PreprocessSpec, normalize

logger = logging.getLogger(__name__)


def _augmenter(spec: PreprocessSpec) -> nn.Module:
    return v2.Compose(
        [
            v2.RandomResizedCrop(
                spec.crop_px, scale=(MIN_CROP_AREA, 1.0), interpolation=v2.InterpolationMode.BICUBIC
            ),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.2),
        ]
    )


class _AugmentedPhotos(torch.utils.data.Dataset):
    """Training photos decoded on the fly (reduced-scale JPEG decoding keeps this cheap) and augmented."""

    def __init__(self, paths: Sequence[Path], targets: Sequence[int], spec: PreprocessSpec) -> None:
        self.paths, self.targets, self.spec = list(paths), list(targets), spec
        self.augment = _augmenter(spec)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = decode_image(self.paths[i].read_bytes(), min_size_px=self.spec.resize_short_side_px)
        pixels = np.asarray(self.augment(image), dtype=np.uint8)[None]  # (1, crop, crop, 3)
        return torch.from_numpy(normalize(pixels, self.spec)[0]), self.targets[i]


def _freeze_all_but_last(backbone: EfficientNetLite0, unfrozen_blocks: int) -> list[nn.Parameter]:
    for parameter in backbone.parameters():
        parameter.requires_grad = False
    trainable: list[nn.Module] = [*backbone._blocks[len(backbone._blocks) - unfrozen_blocks :]]
    trainable += [backbone._conv_head, backbone._bn1]
    params = [p for module in trainable for p in module.parameters()]
    for parameter in params:
        parameter.requires_grad = True
    return params


def _set_train_mode(backbone: EfficientNetLite0, head: nn.Linear) -> None:
    backbone.train()
    head.train()
    for module in backbone.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()  # frozen statistics: see the module docstring


def finetune(
    backbone: EfficientNetLite0,
    head: nn.Linear,
    photos: Sequence[LabelledPhoto],
    labels: tuple[str, ...],
    spec: PreprocessSpec,
    config: VisionTrainConfig,
    checkpoint: Checkpoint | None,
) -> tuple[int, float, float]:
    """Fine-tune the last blocks and the head in place; returns (best epoch, val loss, val accuracy)."""
    seed_everything(config.seed)
    train_idx, train_y = split_indices(photos, labels, "train")
    val_idx, val_y = split_indices(photos, labels, "val")
    val_x = torch.from_numpy(
        normalize(np.stack([load_photo_pixels(photos[i].path, spec) for i in val_idx]), spec)
    )
    val_t = torch.tensor(val_y)
    params = _freeze_all_but_last(backbone, config.unfrozen_blocks) + list(head.parameters())
    weights = class_weights(train_y, len(labels))
    loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)
    val_loss_fn = nn.CrossEntropyLoss(weight=weights)
    optimiser = torch.optim.AdamW(params, lr=config.finetune_learning_rate, weight_decay=config.weight_decay)
    epochs = config.resolved_epochs()
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    net = nn.ModuleDict({"backbone": backbone, "head": head})
    state = TrainingProgress()
    if checkpoint is not None and (restored := checkpoint.restore(net, optimiser, scheduler)) is not None:
        state, rng_state = restored
        torch.set_rng_state(rng_state)
        logger.info("resuming fine-tuning at epoch %d", state.epoch)
    loader = torch.utils.data.DataLoader(
        _AugmentedPhotos([photos[i].path for i in train_idx], train_y, spec),
        batch_size=config.batch_size,
        shuffle=True,
    )
    for epoch in range(state.epoch, epochs):
        if state.bad_epochs >= config.patience_epochs:
            logger.info("early stop: no better validation loss for %d epochs", state.bad_epochs)
            break
        _set_train_mode(backbone, head)
        bar = tqdm(loader, desc=f"fine-tune {epoch + 1}/{epochs}", unit="batch", disable=None)
        seen, correct, total_loss = 0, 0, 0.0
        for x, y in bar:
            logits = head(backbone.features(x))
            loss = loss_fn(logits, y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            seen += len(y)
            correct += int((logits.argmax(1) == y).sum())
            total_loss += loss.item() * len(y)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.2f}")
        scheduler.step()
        backbone.eval()
        head.eval()
        with torch.no_grad():
            val_logits = head(backbone.features(val_x))
        val_loss = float(val_loss_fn(val_logits, val_t))
        val_acc = float((val_logits.argmax(1) == val_t).float().mean())
        logger.info("epoch %d: val loss %.3f, val accuracy %.3f", epoch + 1, val_loss, val_acc)
        state.record(epoch, val_loss, val_acc, net.state_dict())
        if checkpoint is not None:
            checkpoint.save(net, optimiser, scheduler, state, torch.get_rng_state())
    if state.best_state is not None:
        net.load_state_dict(state.best_state)
    backbone.eval()
    head.eval()
    return state.best_epoch, state.best_loss, state.best_accuracy
