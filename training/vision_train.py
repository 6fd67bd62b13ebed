"""Retrain the recognizer's classes: a linear head on cached backbone features, or fine-tuning.

Fine-tuning starts from the fitted linear head (linear probe, then fine-tune) and unfreezes only the
last MBConv blocks; batch-norm statistics stay frozen because the batches of a small photo set are
too small to estimate them. Both modes checkpoint every epoch under `runs/` and resume from there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from tqdm import tqdm

from training.vision_dataset import LabelledPhoto, stratified_split
from training.vision_features import FeatureCache, extract_features
from vision.efficientnet_lite import EMBEDDING_DIM, EfficientNetLite0, load_pretrained
from vision.preprocess import PreprocessSpec

logger = logging.getLogger(__name__)

MODES = ("linear", "finetune")
# Bumped whenever the checkpoint contents change, so an older run's checkpoint is never resumed.
CHECKPOINT_FORMAT = 3


class TrainingSetError(ValueError):
    """The labelled photos cannot train a head (no validation photos, a single class...)."""


@dataclass(frozen=True)
class VisionTrainConfig:
    """Everything that decides a retraining run; saved in the checkpoint and the model metadata."""

    mode: str = "linear"  # "linear": head on frozen features; "finetune": also the last blocks
    epochs: int = 0  # 0: the mode's default (LINEAR_EPOCHS or FINETUNE_EPOCHS)
    seed: int = 0
    batch_size: int = 32
    linear_learning_rate: float = 3e-3  # AdamW on the head over cached features
    finetune_learning_rate: float = 3e-4  # AdamW on the unfrozen blocks and the head
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1  # fine-tuning only; the linear head fits plain cross-entropy
    unfrozen_blocks: int = 2  # MBConv blocks (counted from the last) trained when fine-tuning
    patience_epochs: int = 5  # early stopping: epochs without a better validation loss

    def resolved_epochs(self) -> int:
        return self.epochs or (LINEAR_EPOCHS if self.mode == "linear" else FINETUNE_EPOCHS)


LINEAR_EPOCHS = 200
FINETUNE_EPOCHS = 15
# Augmentation of fine-tuning: random crops keep at least this share of the photo's area.
MIN_CROP_AREA = 0.35


@dataclass(frozen=True)
class TrainedClassifier:
    """The outcome: a head over the 1280 backbone features and, when fine-tuned, the new backbone."""

    labels: tuple[str, ...]
    head_weight: npt.NDArray[np.float32]  # (K, EMBEDDING_DIM)
    head_bias: npt.NDArray[np.float32]  # (K,)
    backbone_state: dict[str, torch.Tensor] | None  # None: the pretrained backbone, unchanged
    best_epoch: int
    val_loss: float
    val_accuracy: float
    seconds: float


def class_weights(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights (mean 1 over photos): each class counts as much as any other."""
    counts = Counter(labels)
    missing = [k for k in range(num_classes) if counts[k] == 0]
    if missing:
        raise TrainingSetError(f"classes {missing} have no training photos.")
    return torch.tensor([len(labels) / (num_classes * counts[k]) for k in range(num_classes)])


def run_key(config: VisionTrainConfig, photos: Sequence[LabelledPhoto]) -> str:
    """Names the checkpoint folder: the same config on the same photos resumes, anything else starts anew."""
    listing = json.dumps(
        [CHECKPOINT_FORMAT, asdict(config), [(str(p.path), p.label, p.split) for p in photos]]
    )
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Checkpoint:
    """Per-epoch state in `folder/checkpoint.pt`; written atomically, so a kill never corrupts it."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "checkpoint.pt"

    def save(
        self,
        model: nn.Module,
        optimiser: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        progress: TrainingProgress,
        rng_state: torch.Tensor,
    ) -> None:
        state = {
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(),
            "progress": progress.to_dict(),
            "rng": rng_state,
        }
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.path)

    def restore(
        self,
        model: nn.Module,
        optimiser: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
    ) -> tuple[TrainingProgress, torch.Tensor] | None:
        """Load the saved state into the given objects; returns the progress and the random state."""
        if not self.path.is_file():
            return None
        saved = torch.load(self.path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        scheduler.load_state_dict(saved["scheduler"])
        return TrainingProgress.from_dict(saved["progress"]), saved["rng"]


def split_indices(
    photos: Sequence[LabelledPhoto], labels: tuple[str, ...], split: str
) -> tuple[list[int], list[int]]:
    indices = [i for i, p in enumerate(photos) if p.split == split]
    return indices, [labels.index(photos[i].label) for i in indices]


def fit_linear_head(
    train_x: torch.Tensor,  # (N, EMBEDDING_DIM)
    train_y: torch.Tensor,  # (N,)
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    num_classes: int,
    config: VisionTrainConfig,
    checkpoint: Checkpoint | None,
) -> tuple[nn.Linear, int, float, float]:
    """A linear head by AdamW with class-weighted cross-entropy; best epoch by validation loss."""
    seed_everything(config.seed)
    head = nn.Linear(EMBEDDING_DIM, num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(train_y.tolist(), num_classes))
    optimiser = torch.optim.AdamW(
        head.parameters(), lr=config.linear_learning_rate, weight_decay=config.weight_decay
    )
    epochs = config.resolved_epochs()
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    state = TrainingProgress()
    generator = torch.Generator().manual_seed(config.seed)
    if checkpoint is not None and (restored := checkpoint.restore(head, optimiser, scheduler)) is not None:
        state, rng_state = restored
        generator.set_state(rng_state)
        logger.info("resuming the linear head at epoch %d", state.epoch)
    bar = tqdm(range(state.epoch, epochs), desc="linear head", unit="epoch", disable=None)
    for epoch in bar:
        if state.bad_epochs >= config.patience_epochs * 10:
            break  # full-batch-like epochs are cheap; stopping is judged over a longer window
        head.train()
        order = torch.randperm(len(train_y), generator=generator)
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = loss_fn(head(train_x[batch]), train_y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        scheduler.step()
        with torch.no_grad():
            train_logits = head(train_x)
            val_logits = head(val_x)
            train_acc = float((train_logits.argmax(1) == train_y).float().mean())
            val_loss = float(loss_fn(val_logits, val_y))
            val_acc = float((val_logits.argmax(1) == val_y).float().mean())
        state.record(epoch, val_loss, val_acc, head.state_dict())
        bar.set_postfix(
            loss=f"{float(loss_fn(train_logits, train_y)):.3f}",
            acc=f"{train_acc:.2f}",
            val_acc=f"{val_acc:.2f}",
        )
        if checkpoint is not None and (epoch % 10 == 9 or epoch == epochs - 1):
            checkpoint.save(head, optimiser, scheduler, state, generator.get_state())
    head.load_state_dict(state.best_state or head.state_dict())
    return head, state.best_epoch, state.best_loss, state.best_accuracy


class TrainingProgress:
    """Epoch counter and the best validation result so far (with its weights), for early stopping."""

    def __init__(self) -> None:
        self.epoch = 0
        self.best_loss = math.inf
        self.best_accuracy = 0.0
        self.best_epoch = -1
        self.bad_epochs = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def record(
        self, epoch: int, val_loss: float, val_accuracy: float, state: dict[str, torch.Tensor]
    ) -> None:
        self.epoch = epoch + 1
        if val_loss < self.best_loss:
            self.best_loss, self.best_accuracy, self.best_epoch, self.bad_epochs = (
                val_loss,
                val_accuracy,
                epoch,
                0,
            )
            self.best_state = {k: v.detach().clone() for k, v in state.items()}
        else:
            self.bad_epochs += 1

    def to_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "best_loss": self.best_loss,
            "best_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "best_state": self.best_state or {},
        }

    @classmethod
    def from_dict(cls, saved: dict) -> TrainingProgress:
        progress = cls()
        progress.epoch, progress.best_loss = int(saved["epoch"]), float(saved["best_loss"])
        progress.best_accuracy, progress.best_epoch = float(saved["best_accuracy"]), int(saved["best_epoch"])
        progress.bad_epochs = int(saved["bad_epochs"])
        progress.best_state = dict(saved["best_state"]) or None
        return progress


def train_classifier(
    photos: Sequence[LabelledPhoto],
    labels: tuple[str, ...],
    spec: PreprocessSpec,
    config: VisionTrainConfig,
    runs_dir: Path,
) -> TrainedClassifier:
    """Fit the head (and, in finetune mode, the last blocks) on the train split, early-stopped on val."""
    if config.mode not in MODES:
        raise TrainingSetError(f"mode must be one of {MODES}, got {config.mode!r}.")
    if len(labels) < 2:
        raise TrainingSetError(f"Need at least two classes to train a classifier, got {list(labels)}.")
    train_idx, train_y = split_indices(photos, labels, "train")
    val_idx, val_y = split_indices(photos, labels, "val")
    if not val_idx:
        raise TrainingSetError(
            "No validation photos: add DIR/val/<class>/ or leave the split to the command."
        )
    started = time.perf_counter()
    backbone = load_pretrained()
    features = extract_features(
        backbone, photos, spec, FeatureCache(runs_dir / "feature_cache", backbone, spec)
    )
    run_dir = runs_dir / f"vision-{config.mode}-{run_key(config, photos)}"
    linear_config = config if config.mode == "linear" else VisionTrainConfig(seed=config.seed)
    head, best_epoch, val_loss, val_acc = fit_linear_head(
        torch.from_numpy(features[train_idx]),
        torch.tensor(train_y),
        torch.from_numpy(features[val_idx]),
        torch.tensor(val_y),
        len(labels),
        linear_config,
        Checkpoint(run_dir / "linear"),
    )
    backbone_state = None
    if config.mode == "finetune":
        from training.vision_finetune import finetune  # here: vision_finetune imports this module

        best_epoch, val_loss, val_acc = finetune(
            backbone, head, photos, labels, spec, config, Checkpoint(run_dir / "finetune")
        )
        backbone_state = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
    return TrainedClassifier(
        labels=labels,
        head_weight=head.weight.detach().numpy().astype(np.float32),
        head_bias=head.bias.detach().numpy().astype(np.float32),
        backbone_state=backbone_state,
        best_epoch=best_epoch,
        val_loss=val_loss,
        val_accuracy=val_acc,
        seconds=time.perf_counter() - started,
    )


def classifier_backbone(trained: TrainedClassifier) -> EfficientNetLite0:
    """The backbone the classifier's head was fitted on (pretrained, or the fine-tuned state)."""
    backbone = load_pretrained()
    if trained.backbone_state is not None:
        backbone.load_state_dict(trained.backbone_state)
    return backbone.eval()


@dataclass(frozen=True)
class RepeatedSplits:
    """Test accuracy of the linear head over several random stratified splits of the same photos."""

    repeats: int
    mean_test_accuracy: float
    sd_test_accuracy: float
    mean_test_photos: float


def linear_head_over_splits(
    photos: Sequence[LabelledPhoto],
    labels: tuple[str, ...],
    spec: PreprocessSpec,
    config: VisionTrainConfig,
    runs_dir: Path,
    repeats: int,
) -> RepeatedSplits:
    """Refit the linear head on `repeats` fresh stratified splits (seeds seed+1...): on a small set one
    split's test accuracy moves a whole photo at a time, the spread over splits shows by how much."""
    backbone = load_pretrained()
    features = extract_features(
        backbone, photos, spec, FeatureCache(runs_dir / "feature_cache", backbone, spec)
    )
    targets = np.array([labels.index(p.label) for p in photos])
    accuracies, sizes = [], []
    for seed in range(config.seed + 1, config.seed + 1 + repeats):
        splits = np.array(stratified_split([p.label for p in photos], seed=seed, with_test=True))
        x = {s: torch.from_numpy(features[splits == s]) for s in ("train", "val", "test")}
        y = {s: torch.from_numpy(targets[splits == s]) for s in ("train", "val", "test")}
        head, *_ = fit_linear_head(
            x["train"], y["train"], x["val"], y["val"], len(labels), replace(config, seed=seed), None
        )
        with torch.no_grad():
            accuracies.append(float((head(x["test"]).argmax(1) == y["test"]).float().mean()))
        sizes.append(len(y["test"]))
    return RepeatedSplits(
        repeats, float(np.mean(accuracies)), float(np.std(accuracies)), float(np.mean(sizes))
    )
