"""The exported food recognizer as one torch module: uint8 photo in, foods and nutrition out.

Normalisation, the food/non-food head and the carbohydrate and kcal mixture quantiles are all in
the graph, so ONNX Runtime on a server and on a phone compute the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from vision.efficientnet_lite import EfficientNetLite0
from vision.metadata import QUANTILE_LEVELS
from vision.preprocess import PreprocessSpec
from vision.taxonomy import ROLES, FoodClass, role_matrix

QUANTILES = QUANTILE_LEVELS  # the output columns, re-exported for the retraining code
# Mixture quantiles are read off the mixture CDF on this fixed log-spaced grid (per unit),
# interpolated linearly in log space; cells are 2 % wide, and the unit test finds single-class
# quantiles within 1.5 % of the exact log-normal ones.
GRID_POINTS = 512
CARBS_GRID_G = (0.05, 2000.0)
KCAL_GRID = (1.0, 20000.0)
# A class with no carbohydrate would give log(0); this floor keeps it finite and negligible.
MIN_PER_100G = 0.05
_FEATURE_EPS = 1e-4
# The food/non-food head sees two numbers: probability on edible classes and on settings. Finer
# splits (drinks apart) overfit the few calibration photos and rejected a plain cup of coffee.
FEATURE_GROUPS: tuple[tuple[str, ...], ...] = (("food", "drink"), ("setting",))


class RecognizerConfigError(ValueError):
    """Calibration numbers or a food table the exported recognizer cannot be built from."""


@dataclass(frozen=True)
class RecognizerCalibration:
    """Numbers fitted on real photos (see training/vision_calibrate.py), written into the metadata."""

    food_weights: tuple[float, ...] = (1.0, 1.0)  # per FEATURE_GROUPS, on log(summed probability)
    food_bias: float = 0.0
    food_threshold: float = 0.5  # food_probability at or above which a photo is called food
    portion_scale: float = 1.0  # multiplies every class's median portion
    extra_log_sd: float = 0.0  # added in quadrature to every class's log-portion spread

    def __post_init__(self) -> None:
        if len(self.food_weights) != len(FEATURE_GROUPS):
            raise RecognizerConfigError(f"food_weights needs one weight per feature group {FEATURE_GROUPS}")
        if self.portion_scale <= 0 or self.extra_log_sd < 0 or not 0 < self.food_threshold < 1:
            raise RecognizerConfigError("need portion_scale > 0, extra_log_sd >= 0, 0 < food_threshold < 1")

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> RecognizerCalibration:
        """From `dataclasses.asdict` output, as stored in the metadata's `training_data.calibration`."""
        return cls(
            food_weights=tuple(float(w) for w in fields["food_weights"]),
            food_bias=float(fields["food_bias"]),
            food_threshold=float(fields["food_threshold"]),
            portion_scale=float(fields["portion_scale"]),
            extra_log_sd=float(fields["extra_log_sd"]),
        )


def feature_matrix(foods: tuple[FoodClass, ...]) -> torch.Tensor:
    """(K, len(FEATURE_GROUPS)) one-hot: which feature group each class's probability adds to."""
    grouping = np.array([[float(role in group) for group in FEATURE_GROUPS] for role in ROLES])  # (roles, G)
    return torch.from_numpy((role_matrix(foods) @ grouping).astype(np.float32))


def food_features(class_probabilities: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """(N, K) taxonomy probabilities -> (N, len(FEATURE_GROUPS)) log of the summed probability."""
    return torch.log(class_probabilities @ groups + _FEATURE_EPS)


def _mixture_quantiles(
    weights: torch.Tensor, log_median: torch.Tensor, log_sd: torch.Tensor, log_grid: torch.Tensor
) -> torch.Tensor:
    """Quantiles of a mixture of log-normals. weights (N, K), log_median/log_sd (K,), log_grid (G,)."""
    z = (log_grid[None, :] - log_median[:, None]) / log_sd[:, None]  # (K, G)
    cdf_k = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))  # (K, G)
    cdf = weights @ cdf_k  # (N, G), non-decreasing along G
    outs = []
    for q in QUANTILE_LEVELS:
        above = (cdf < q).sum(dim=1, keepdim=True).clamp(1, log_grid.shape[0] - 1)  # (N, 1)
        f0 = torch.gather(cdf, 1, above - 1)
        f1 = torch.gather(cdf, 1, above)
        x0 = log_grid[above - 1]
        x1 = log_grid[above]
        t = ((q - f0) / (f1 - f0).clamp_min(1e-12)).clamp(0.0, 1.0)
        outs.append(torch.exp(x0 + t * (x1 - x0)))  # (N, 1)
    return torch.cat(outs, dim=1)  # (N, 3)


def _log_grid(bounds: tuple[float, float]) -> torch.Tensor:
    low, high = bounds
    return torch.linspace(math.log(low), math.log(high), GRID_POINTS, dtype=torch.float32)


class NutritionHead(nn.Module):
    """Taxonomy probabilities (N, K) -> food_probability (N,), carbs_g (N, 3), kcal (N, 3)."""

    groups: torch.Tensor  # (K, len(FEATURE_GROUPS))
    food_weights: torch.Tensor  # (len(FEATURE_GROUPS),)
    food_bias: torch.Tensor  # ()
    log_carbs_g: torch.Tensor  # (K,) log median carbohydrate of a portion
    log_kcal: torch.Tensor  # (K,)
    log_sd: torch.Tensor  # (K,) log-normal spread of a portion
    carbs_grid: torch.Tensor  # (GRID_POINTS,) log grams
    kcal_grid: torch.Tensor  # (GRID_POINTS,) log kcal

    def __init__(self, foods: tuple[FoodClass, ...], calibration: RecognizerCalibration) -> None:
        super().__init__()
        f32 = torch.float32
        self.register_buffer("groups", feature_matrix(foods))
        self.register_buffer("food_weights", torch.tensor(calibration.food_weights, dtype=f32))
        self.register_buffer("food_bias", torch.tensor(calibration.food_bias, dtype=f32))
        portion_g = np.array([f.portion_g for f in foods]) * calibration.portion_scale
        carbs = np.maximum([f.carbs_g_per_100g for f in foods], MIN_PER_100G) * portion_g / 100.0
        kcal = np.maximum([f.kcal_per_100g for f in foods], MIN_PER_100G) * portion_g / 100.0
        log_sd = np.sqrt(np.log([f.portion_gsd for f in foods]) ** 2 + calibration.extra_log_sd**2)
        self.register_buffer("log_carbs_g", torch.tensor(np.log(carbs), dtype=f32))
        self.register_buffer("log_kcal", torch.tensor(np.log(kcal), dtype=f32))
        self.register_buffer("log_sd", torch.tensor(log_sd, dtype=f32))
        self.register_buffer("carbs_grid", _log_grid(CARBS_GRID_G))
        self.register_buffer("kcal_grid", _log_grid(KCAL_GRID))

    def forward(self, probabilities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = food_features(probabilities, self.groups) @ self.food_weights + self.food_bias  # (N,)
        food_probability = torch.sigmoid(z)
        # The meal's class mixture: taxonomy probabilities renormalised to sum to one.
        mixture = probabilities / probabilities.sum(dim=1, keepdim=True).clamp_min(1e-12)  # (N, K)
        carbs_g = _mixture_quantiles(mixture, self.log_carbs_g, self.log_sd, self.carbs_grid)
        kcal = _mixture_quantiles(mixture, self.log_kcal, self.log_sd, self.kcal_grid)
        return food_probability, carbs_g, kcal


class FoodRecognizer(nn.Module):
    """image uint8 (N, 224, 224, 3) -> probabilities, food_probability, carbs_g, kcal, embedding."""

    mean: torch.Tensor  # (1, 3, 1, 1)
    std: torch.Tensor  # (1, 3, 1, 1)
    class_index: torch.Tensor  # (K,) ImageNet index of each taxonomy class

    def __init__(
        self,
        backbone: EfficientNetLite0,
        foods: tuple[FoodClass, ...],
        spec: PreprocessSpec,
        calibration: RecognizerCalibration,
    ) -> None:
        super().__init__()
        if any(f.imagenet_index is None for f in foods):
            raise RecognizerConfigError(
                "every class needs an ImageNet index; retrained classes need their own head"
            )
        self.backbone = backbone
        self.head = NutritionHead(foods, calibration)
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("class_index", torch.tensor([f.imagenet_index for f in foods], dtype=torch.long))

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) -> float (N, 3, H, W), as preprocess.normalize does in numpy."""
        pixels = image.permute(0, 3, 1, 2).to(torch.float32) / 255.0  # (N, 3, H, W)
        return (pixels - self.mean) / self.std

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.backbone.features(self.normalise(image))  # (N, 1280)
        imagenet = torch.softmax(self.backbone._fc(features), dim=1)  # (N, 1000)
        probabilities = imagenet[:, self.class_index]  # (N, K)
        food_probability, carbs_g, kcal = self.head(probabilities)
        embedding = features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)  # (N, 1280)
        return probabilities, food_probability, carbs_g, kcal, embedding
