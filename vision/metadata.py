"""The food recognizer's self-description (ONNX `metadata_props`, JSON values), parsed and checked.

The keys are the repository's schema (`mealimpact.model_repository.metadata.RecognizerMetadata`);
this module gives their values meaning (labels, preprocessing). A model whose metadata is missing or
inconsistent is refused at load time with ModelMetadataError, so a server stops at start-up rather
than at the first request.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mealimpact.model_repository import metadata as schema
from mealimpact.model_repository.metadata import ModelMetadataError
from vision.preprocess import PreprocessSpec, PreprocessSpecError
from vision.taxonomy import CATEGORIES, ROLES

MODEL_NAME = "food_recognizer"  # its folder in the model repository and its name in config.pbtxt
INPUT_NAME = "image"
OUTPUT_NAMES: tuple[str, ...] = ("probabilities", "food_probability", "carbs_g", "kcal", "embedding")
QUANTILE_LEVELS: tuple[float, float, float] = (0.1, 0.5, 0.9)  # order of the carbs_g and kcal columns
UNITS: dict[str, str] = {
    "image": "uint8 RGB pixels 0..255, (N, H, W, 3), resized and cropped as `preprocess` says",
    "probabilities": "probability of each taxonomy class (ImageNet softmax restricted to `labels`)",
    "food_probability": "probability that the photo shows food or drink",
    "carbs_g": "grams of carbohydrate in the meal, columns p10, p50, p90",
    "kcal": "kilocalories in the meal, columns p10, p50, p90",
    "embedding": "unitless, L2-normalised image features",
}
__all__ = ["LabelInfo", "ModelMetadataError", "RecognizerMetadata", "parse_metadata"]


@dataclass(frozen=True)
class LabelInfo:
    """One output class as the metadata describes it."""

    name: str
    category: str  # key of taxonomy.CATEGORIES
    role: str  # food, drink or setting

    @property
    def category_label(self) -> str:
        return CATEGORIES[self.category]


@dataclass(frozen=True)
class RecognizerMetadata:
    """Parsed metadata of the food recognizer ONNX model."""

    version: str
    labels: tuple[LabelInfo, ...]
    preprocess: PreprocessSpec
    food_threshold: float
    quantiles: tuple[float, ...]
    units: dict[str, str]
    training_data: Any
    metrics: dict[str, Any]
    weights_sha256: str  # sha256 of the serialised ONNX graph
    licence: str
    training_config: dict[str, Any] | None = None  # retrained versions: the head's training config
    source_weights_sha256: str | None = None  # the packaged ImageNet .pth the backbone came from
    nutrition: list[dict[str, Any]] | None = None  # retrained versions: per class

    def to_props(self) -> dict[str, str]:
        """The metadata_props to write into the ONNX file (the repository schema; every value JSON)."""
        return schema.RecognizerMetadata(
            version=self.version,
            weights_sha256=self.weights_sha256,
            training_config=self.training_config,
            training_data=self.training_data,
            metrics=self.metrics,
            labels=[{"name": x.name, "category": x.category, "role": x.role} for x in self.labels],
            preprocess=json.loads(self.preprocess.to_json()),
            units=self.units,
            food_threshold=self.food_threshold,
            quantiles=list(self.quantiles),
            licence=self.licence,
            source_weights_sha256=self.source_weights_sha256,
            nutrition=self.nutrition,
        ).to_props()


def _labels(raw: Any) -> tuple[LabelInfo, ...]:
    if not isinstance(raw, list) or not raw:
        raise ModelMetadataError("metadata 'labels' must be a non-empty list")
    labels = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not {"name", "category", "role"} <= item.keys():
            raise ModelMetadataError(f"label {i} needs name, category and role")
        if item["category"] not in CATEGORIES or item["role"] not in ROLES:
            raise ModelMetadataError(f"label {i} ({item['name']!r}) has unknown category or role")
        labels.append(LabelInfo(str(item["name"]), str(item["category"]), str(item["role"])))
    if len({x.name for x in labels}) != len(labels):
        raise ModelMetadataError("metadata 'labels' has duplicate names")
    return tuple(labels)


def parse_metadata(props: Mapping[str, str]) -> RecognizerMetadata:
    """Validate ONNX metadata_props (e.g. `session.get_modelmeta().custom_metadata_map`)."""
    record = schema.RecognizerMetadata.from_props(props)
    try:
        preprocess = PreprocessSpec.from_json(json.dumps(record.preprocess))
    except PreprocessSpecError as err:
        raise ModelMetadataError(str(err)) from err
    threshold = record.food_threshold
    if not isinstance(threshold, int | float) or not 0.0 < threshold < 1.0 or math.isnan(threshold):
        raise ModelMetadataError(f"food_threshold must be a number in (0, 1), got {threshold!r}")
    units = record.units
    if not isinstance(units, dict) or any(name not in units for name in (INPUT_NAME, *OUTPUT_NAMES)):
        raise ModelMetadataError(
            f"metadata 'units' must name every input and output: {INPUT_NAME}, {OUTPUT_NAMES}"
        )
    quantiles = record.quantiles
    if not isinstance(quantiles, list) or tuple(quantiles) != QUANTILE_LEVELS:
        raise ModelMetadataError(f"metadata 'quantiles' must be {list(QUANTILE_LEVELS)}, got {quantiles!r}")
    if not isinstance(record.metrics, dict):
        raise ModelMetadataError("metadata 'metrics' must be an object")
    return RecognizerMetadata(
        version=record.version,
        labels=_labels(record.labels),
        preprocess=preprocess,
        food_threshold=float(threshold),
        quantiles=tuple(float(q) for q in quantiles),
        units={str(k): str(v) for k, v in units.items()},
        training_data=record.training_data,
        metrics=record.metrics,
        weights_sha256=record.weights_sha256,
        licence=str(record.licence),
        training_config=record.training_config,
        source_weights_sha256=record.source_weights_sha256,
        nutrition=record.nutrition,
    )
