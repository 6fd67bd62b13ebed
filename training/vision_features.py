"""Backbone features of labelled photos, cached on disk by photo hash and backbone hash.

The linear head trains on these in seconds; extracting them is the slow part, and done once per photo.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from tqdm import tqdm

from mealimpact.model_repository.checksums import file_sha256
from training.vision_dataset import LabelledPhoto
from vision.efficientnet_lite import EMBEDDING_DIM, EfficientNetLite0
from vision.preprocess import PreprocessSpec, normalize
from vision.recognition import preprocess_photo

logger = logging.getLogger(__name__)


def backbone_sha256(model: EfficientNetLite0) -> str:
    """A hash of every weight and buffer: two backbones share cached features only if this matches."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_photo_pixels(path: Path, spec: PreprocessSpec) -> npt.NDArray[np.uint8]:
    """A photo file -> the model input (crop, crop, 3) uint8, through the one decoder and preprocessing."""
    return preprocess_photo(path.read_bytes(), spec)


class FeatureCache:
    """One .npy per (backbone, preprocessing, photo bytes) under `folder`; a changed photo misses."""

    def __init__(self, folder: Path, model: EfficientNetLite0, spec: PreprocessSpec) -> None:
        key = hashlib.sha256((backbone_sha256(model) + spec.to_json()).encode()).hexdigest()[:16]
        self.folder = folder / key
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, photo_sha: str) -> Path:
        return self.folder / f"{photo_sha}.npy"

    def get(self, photo_sha: str) -> npt.NDArray[np.float32] | None:
        path = self._path(photo_sha)
        return np.load(path).astype(np.float32) if path.is_file() else None

    def put(self, photo_sha: str, features: npt.NDArray[np.float32]) -> None:
        tmp = self.folder / f"{photo_sha}.tmp.npy"
        np.save(tmp, features.astype(np.float32))
        tmp.replace(self._path(photo_sha))  # atomic: an interrupted run leaves no half-written entry


@torch.no_grad()
def extract_features(
    model: EfficientNetLite0,
    photos: Sequence[LabelledPhoto],
    spec: PreprocessSpec,
    cache: FeatureCache | None,
    *,
    batch_size: int = 16,
) -> npt.NDArray[np.float32]:
    """Pooled backbone features (before L2 normalisation) of every photo: (N, EMBEDDING_DIM)."""
    model.eval()
    features = np.zeros((len(photos), EMBEDDING_DIM), dtype=np.float32)
    shas = [file_sha256(p.path) for p in photos]
    missing = []
    for i, sha in enumerate(shas):
        cached = cache.get(sha) if cache is not None else None
        if cached is None:
            missing.append(i)
        else:
            features[i] = cached
    logger.info("features: %d cached, %d to compute", len(photos) - len(missing), len(missing))
    for start in tqdm(range(0, len(missing), batch_size), desc="features", unit="batch", disable=None):
        chunk = missing[start : start + batch_size]
        pixels = np.stack([load_photo_pixels(photos[i].path, spec) for i in chunk])  # (B, H, W, 3)
        batch = model.features(torch.from_numpy(normalize(pixels, spec))).numpy()  # (B, EMBEDDING_DIM)
        for i, row in zip(chunk, batch, strict=True):
            features[i] = row
            if cache is not None:
                cache.put(shas[i], row)
    return features
