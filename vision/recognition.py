"""What serving calls: photo or preprocessed batch -> typed food recognition results (numpy only).

The model call is a plain callable, `infer(feeds) -> outputs`, so the same code runs over in-process
ONNX Runtime, a Triton/KServe client, or a test double.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from vision.decode import decode_image
from vision.metadata import INPUT_NAME, OUTPUT_NAMES, RecognizerMetadata
from vision.preprocess import PreprocessSpec, preprocess_image

Infer = Callable[[dict[str, npt.NDArray[np.generic]]], dict[str, npt.NDArray[np.generic]]]
DEFAULT_TOP_K = 5


class RecognizerInputError(ValueError):
    """The batch handed to the model is not the uint8 (N, crop, crop, 3) its metadata asks for."""


class RecognizerOutputError(RuntimeError):
    """The model returned outputs of the wrong names or shapes for its metadata."""


@dataclass(frozen=True)
class FoodGuess:
    """One candidate class for the photo."""

    name: str
    category: str  # key, e.g. "mixed_plates"
    category_label: str  # for people, e.g. "mixed plates"
    role: str  # food, drink or setting (a plate or bowl: the dish itself is not named)
    probability: float


@dataclass(frozen=True)
class NutrientEstimate:
    """Median and the p10..p90 interval of a meal's nutrient."""

    estimate: float  # p50
    low: float  # p10
    high: float  # p90


@dataclass(frozen=True)
class Recognition:
    """The answer for one photo."""

    foods: tuple[FoodGuess, ...]  # most probable first
    is_food: bool  # food_probability >= the model's food_threshold
    food_probability: float
    carbs_g: NutrientEstimate
    kcal: NutrientEstimate
    embedding: npt.NDArray[np.float32]  # (D,), L2-normalised


def _estimate(row: npt.NDArray[np.float32]) -> NutrientEstimate:
    return NutrientEstimate(estimate=float(row[1]), low=float(row[0]), high=float(row[2]))


def _checked_outputs(
    outputs: dict[str, npt.NDArray[np.generic]], batch_size: int, num_labels: int
) -> dict[str, npt.NDArray[np.float32]]:
    expected = {
        "probabilities": (batch_size, num_labels),
        "food_probability": (batch_size,),
        "carbs_g": (batch_size, 3),
        "kcal": (batch_size, 3),
    }
    checked = {}
    for name in OUTPUT_NAMES:
        if name not in outputs:
            raise RecognizerOutputError(f"model output {name!r} missing; got {sorted(outputs)}")
        array = np.asarray(outputs[name], dtype=np.float32)
        want = expected.get(name)
        if (want is not None and array.shape != want) or array.shape[0] != batch_size:
            raise RecognizerOutputError(f"model output {name!r} has shape {array.shape}, expected {want}")
        checked[name] = array
    return checked


def recognize_batch(
    images: npt.NDArray[np.uint8], infer: Infer, metadata: RecognizerMetadata, top_k: int = DEFAULT_TOP_K
) -> list[Recognition]:
    """Preprocessed (N, crop, crop, 3) uint8 images -> one Recognition each."""
    crop = metadata.preprocess.crop_px
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (crop, crop, 3):
        raise RecognizerInputError(
            f"images must be uint8 (N, {crop}, {crop}, 3), got {images.dtype} {images.shape}"
        )
    outputs = _checked_outputs(infer({INPUT_NAME: images}), images.shape[0], len(metadata.labels))
    results = []
    for i in range(images.shape[0]):
        probabilities = outputs["probabilities"][i]  # (K,)
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        foods = tuple(
            FoodGuess(
                name=metadata.labels[k].name,
                category=metadata.labels[k].category,
                category_label=metadata.labels[k].category_label,
                role=metadata.labels[k].role,
                probability=float(probabilities[k]),
            )
            for k in order
        )
        food_probability = float(outputs["food_probability"][i])
        results.append(
            Recognition(
                foods=foods,
                is_food=food_probability >= metadata.food_threshold,
                food_probability=food_probability,
                carbs_g=_estimate(outputs["carbs_g"][i]),
                kcal=_estimate(outputs["kcal"][i]),
                embedding=outputs["embedding"][i],
            )
        )
    return results


def recognize_image(
    image: Image.Image, infer: Infer, metadata: RecognizerMetadata, top_k: int = DEFAULT_TOP_K
) -> Recognition:
    """A decoded RGB photo -> Recognition, preprocessed as the model's metadata says."""
    batch = preprocess_image(image, metadata.preprocess)[None]  # (1, crop, crop, 3)
    return recognize_batch(batch, infer, metadata, top_k)[0]


def preprocess_photo(data: bytes, spec: PreprocessSpec) -> npt.NDArray[np.uint8]:
    """Photo bytes -> (crop, crop, 3) uint8 model input; decoding at reduced scale where possible."""
    return preprocess_image(decode_image(data, min_size_px=spec.resize_short_side_px), spec)


def recognize_photo(
    data: bytes, infer: Infer, metadata: RecognizerMetadata, top_k: int = DEFAULT_TOP_K
) -> Recognition:
    """Uploaded photo bytes -> Recognition; decode errors raise `vision.decode.ImageDecodeError`."""
    return recognize_batch(preprocess_photo(data, metadata.preprocess)[None], infer, metadata, top_k)[0]
