"""The food recognizer's self-description (ONNX `metadata_props`, JSON values), parsed and checked.

A model whose metadata is missing or inconsistent is refused at load time with ModelMetadataError,
so a server stops at start-up rather than at the first request.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
REQUIRED_KEYS: tuple[str, ...] = (
    "labels",
    "preprocess",
    "units",
    "version",
    "training_data",
    "metrics",
    "food_threshold",
    "quantiles",
    "weights_sha256",
    "licence",
)


class ModelMetadataError(ValueError):
    """The model file does not carry the metadata this code needs, or it contradicts itself."""


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
    weights_sha256: str
    licence: str

    def to_props(self) -> dict[str, str]:
        """The metadata_props to write into the ONNX file (every value JSON)."""
        labels = [{"name": x.name, "category": x.category, "role": x.role} for x in self.labels]
        return {
            "labels": json.dumps(labels),
            "preprocess": self.preprocess.to_json(),
            "units": json.dumps(self.units),
            "version": json.dumps(self.version),
            "training_data": json.dumps(self.training_data),
            "metrics": json.dumps(self.metrics),
            "food_threshold": json.dumps(self.food_threshold),
            "quantiles": json.dumps(list(self.quantiles)),
            "weights_sha256": json.dumps(self.weights_sha256),
            "licence": json.dumps(self.licence),
        }


def _json(props: Mapping[str, str], key: str) -> Any:
    try:
        return json.loads(props[key])
    except json.JSONDecodeError as err:
        raise ModelMetadataError(f"metadata {key!r} is not valid JSON: {err}") from err


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
    missing = [key for key in REQUIRED_KEYS if key not in props]
    if missing:
        raise ModelMetadataError(
            f"model metadata lacks {missing}; re-export with `mealimpact export recognizer`"
        )
    try:
        preprocess = PreprocessSpec.from_json(props["preprocess"])
    except PreprocessSpecError as err:
        raise ModelMetadataError(str(err)) from err
    threshold = _json(props, "food_threshold")
    if not isinstance(threshold, int | float) or not 0.0 < threshold < 1.0 or math.isnan(threshold):
        raise ModelMetadataError(f"food_threshold must be a number in (0, 1), got {threshold!r}")
    units = _json(props, "units")
    if not isinstance(units, dict) or any(name not in units for name in (INPUT_NAME, *OUTPUT_NAMES)):
        raise ModelMetadataError(
            f"metadata 'units' must name every input and output: {INPUT_NAME}, {OUTPUT_NAMES}"
        )
    quantiles = _json(props, "quantiles")
    if not isinstance(quantiles, list) or tuple(quantiles) != QUANTILE_LEVELS:
        raise ModelMetadataError(f"metadata 'quantiles' must be {list(QUANTILE_LEVELS)}, got {quantiles!r}")
    metrics = _json(props, "metrics")
    if not isinstance(metrics, dict):
        raise ModelMetadataError("metadata 'metrics' must be an object")
    return RecognizerMetadata(
        version=str(_json(props, "version")),
        labels=_labels(_json(props, "labels")),
        preprocess=preprocess,
        food_threshold=float(threshold),
        quantiles=tuple(float(q) for q in quantiles),
        units={str(k): str(v) for k, v in units.items()},
        training_data=_json(props, "training_data"),
        metrics=metrics,
        weights_sha256=str(_json(props, "weights_sha256")),
        licence=str(_json(props, "licence")),
    )
