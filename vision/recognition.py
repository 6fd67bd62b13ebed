"""What serving calls: photo or preprocessed batch -> typed food recognition results (numpy only).

The model call is a plain callable, `infer(feeds) -> outputs`, so the same code runs over in-process
ONNX Runtime, a Triton/KServe client, or a test double.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from mealimpact.inference import InferFn
from vision.decode import decode_image
from vision.metadata import INPUT_NAME, OUTPUT_NAMES, RecognizerMetadata, parse_metadata
from vision.preprocess import PreprocessSpec, preprocess_image

DEFAULT_TOP_K = 5
SETTING_ROLE = "setting"
# The most probable food or drink names the dish only from this probability up; below it the photo is
# an unnamed dish (its carbohydrate interval is then the wide one the settings carry). On the 48 D1NAMO
# meal photos the shipped recognizer names 17 this way (pizza 0.84, carbonara 0.63, ...) and leaves 31
# unnamed; "plate" is more probable than every food in 16 of them (scripts/recognizer_roles.py).
NAMED_DISH_MIN_PROBABILITY = 0.2
# Settings seen with less probability than this are not worth telling anyone about.
SETTING_MIN_PROBABILITY = 0.05


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
    """The answer for one photo: the foods apart from the settings they were seen in."""

    foods: tuple[FoodGuess, ...]  # food and drink classes only, most probable first: never a setting
    is_food: bool  # food_probability >= the model's food_threshold
    food_probability: float
    carbs_g: NutrientEstimate
    kcal: NutrientEstimate
    embedding: npt.NDArray[np.float32]  # (D,), L2-normalised
    settings: tuple[
        FoodGuess, ...
    ] = ()  # plates, bowls, trays seen (>= SETTING_MIN_PROBABILITY), most probable first

    @property
    def dish(self) -> FoodGuess | None:
        """The food or drink the photo is named as, or None: an unnamed dish (no food confident enough)."""
        if self.foods and self.foods[0].probability >= NAMED_DISH_MIN_PROBABILITY:
            return self.foods[0]
        return None


def _estimate(row: npt.NDArray[np.float32]) -> NutrientEstimate:
    return NutrientEstimate(estimate=float(row[1]), low=float(row[0]), high=float(row[2]))


def _checked_outputs(
    outputs: Mapping[str, npt.NDArray[np.generic]], batch_size: int, num_labels: int
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


def _guess(metadata: RecognizerMetadata, k: int, probabilities: npt.NDArray[np.float32]) -> FoodGuess:
    label = metadata.labels[k]
    return FoodGuess(label.name, label.category, label.category_label, label.role, float(probabilities[k]))


class Recognizer:
    """Names the food in photos with the recognizer behind `infer` (as `ResponsePredictor`, `Forecaster`).

    `predict(photos)` runs the three steps: `preprocess` each photo as the metadata says, one model
    call, `read` the outputs. A caller that makes the model call itself (the server, through its
    micro-batcher) runs `preprocess` and `read` around it.
    """

    def __init__(
        self, metadata: Mapping[str, str] | RecognizerMetadata, infer: InferFn, top_k: int = DEFAULT_TOP_K
    ) -> None:
        self.metadata = metadata if isinstance(metadata, RecognizerMetadata) else parse_metadata(metadata)
        self._infer = infer
        self.top_k = top_k

    @property
    def version(self) -> str:
        return self.metadata.version

    def preprocess(self, photo: Image.Image | bytes) -> npt.NDArray[np.uint8]:
        """A decoded RGB photo or its uploaded bytes -> the (crop, crop, 3) uint8 model input."""
        spec = self.metadata.preprocess
        return preprocess_photo(photo, spec) if isinstance(photo, bytes) else preprocess_image(photo, spec)

    def predict(self, photos: Sequence[Image.Image | bytes]) -> list[Recognition]:
        """One Recognition per photo; undecodable bytes raise `vision.decode.ImageDecodeError`."""
        crop = self.metadata.preprocess.crop_px
        if not photos:
            return self.predict_batch(np.zeros((0, crop, crop, 3), np.uint8))
        return self.predict_batch(np.stack([self.preprocess(p) for p in photos]))

    def predict_batch(self, images: npt.NDArray[np.uint8]) -> list[Recognition]:
        """Preprocessed (N, crop, crop, 3) uint8 images -> one Recognition each."""
        return self.read(images, self.outputs(images))

    def outputs(self, images: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[np.float32]]:
        """The model's float32 outputs (`metadata.OUTPUT_NAMES`, shapes checked) for preprocessed images."""
        self._check_images(images)
        return _checked_outputs(self._infer({INPUT_NAME: images}), images.shape[0], len(self.metadata.labels))

    def _check_images(self, images: npt.NDArray[np.uint8]) -> None:
        crop = self.metadata.preprocess.crop_px
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (crop, crop, 3):
            raise RecognizerInputError(
                f"images must be uint8 (N, {crop}, {crop}, 3), got {images.dtype} {images.shape}"
            )

    def read(
        self, images: npt.NDArray[np.uint8], outputs: Mapping[str, npt.NDArray[np.generic]]
    ) -> list[Recognition]:
        """The model's `outputs` for (N, crop, crop, 3) `images` -> one Recognition each (shapes checked)."""
        self._check_images(images)
        metadata = self.metadata
        checked = _checked_outputs(outputs, images.shape[0], len(metadata.labels))
        results = []
        is_setting = np.array([label.role == SETTING_ROLE for label in metadata.labels])  # (K,)
        for i in range(images.shape[0]):
            probabilities = checked["probabilities"][i]  # (K,)
            order = np.argsort(-probabilities, kind="stable")

            foods = tuple(_guess(metadata, k, probabilities) for k in order[~is_setting[order]][: self.top_k])
            settings = tuple(
                _guess(metadata, k, probabilities)
                for k in order[is_setting[order]][: self.top_k]
                if probabilities[k] >= SETTING_MIN_PROBABILITY
            )
            food_probability = float(checked["food_probability"][i])
            results.append(
                Recognition(
                    foods=foods,
                    is_food=food_probability >= metadata.food_threshold,
                    food_probability=food_probability,
                    carbs_g=_estimate(checked["carbs_g"][i]),
                    kcal=_estimate(checked["kcal"][i]),
                    embedding=checked["embedding"][i],
                    settings=settings,
                )
            )
        return results


def recognize_batch(
    images: npt.NDArray[np.uint8], infer: InferFn, metadata: RecognizerMetadata, top_k: int = DEFAULT_TOP_K
) -> list[Recognition]:
    """Preprocessed (N, crop, crop, 3) uint8 images -> one Recognition each (`Recognizer.predict_batch`)."""
    return Recognizer(metadata, infer, top_k).predict_batch(images)


def recognize_image(
    image: Image.Image, infer: InferFn, metadata: RecognizerMetadata, top_k: int = DEFAULT_TOP_K
) -> Recognition:
    """A decoded RGB photo -> Recognition, preprocessed as the model's metadata says."""
    return Recognizer(metadata, infer, top_k).predict([image])[0]


def preprocess_photo(data: bytes, spec: PreprocessSpec) -> npt.NDArray[np.uint8]:
    """Photo bytes -> (crop, crop, 3) uint8 model input; decoding at reduced scale where possible."""
    return preprocess_image(decode_image(data, min_size_px=spec.resize_short_side_px), spec)


def recognize_photo(
    data: bytes, infer: InferFn, metadata: RecognizerMetadata, top_k: int = DEFAULT_TOP_K
) -> Recognition:
    """Uploaded photo bytes -> Recognition; decode errors raise `vision.decode.ImageDecodeError`."""
    return Recognizer(metadata, infer, top_k).predict([data])[0]
