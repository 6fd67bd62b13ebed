"""Personal food classes taught from 1-10 photos, without retraining: prototypes in embedding space.

Plain numpy, so the service (and, by the same arithmetic, the phone) can apply them to the recognizer's
L2-normalised `embedding` output. The arithmetic is written out in the model card:

    m_c = normalise(mean of the shots' embeddings)            prototype of personal class c
    s_c = (e . m_c) / T,  s_0 = THRESHOLD / T                 scores; s_0 stands for "none of them"
    w   = softmax(s_0, s_1, ..., s_C)
    p'_k = w_0 * p_k  (model class k),   p'_c = w_c  (personal class c)
    carbs' = w_0 * carbs_model + sum_c w_c * carbs_c         per quantile (p10, median, p90)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from vision.recognition import FoodGuess, NutrientEstimate, Recognition
from vision.taxonomy import CATEGORIES

MAX_SHOTS = 10
# Cosine similarities of this recognizer's embeddings sit in a narrow band (same dish ~0.45, different
# dishes ~0.38 on the D1NAMO photos), so a small temperature is needed to make a match decisive.
FEWSHOT_TEMPERATURE = 0.02
# A personal class takes over from the model only when the photo is at least this close to it. Chosen
# on the D1NAMO meal photos (`mealimpact evaluate fewshot`): at 0.6 a dish taught from 5 photos wins on
# 64 % of its other photos and on 22 % of other meals; at 0.5 those were 95 % and 58 %.
FEWSHOT_THRESHOLD = 0.6
MAX_PERSONAL_CLASSES = 50
# Per serving: no dish holds more (1 kg of carbohydrate is ~4,000 kcal of it); beyond, the glucose model
# is far outside its data. The same caps as a meal's carbs_g in the API.
MAX_SERVING_CARBS_G = 1000.0
MAX_SERVING_KCAL = 10_000.0
PERSONAL_ROLE = "food"
DEFAULT_PERSONAL_CATEGORY = "mixed_plates"
# The keys of one personal class in a request; any other key is refused, not ignored.
PERSONAL_CLASS_FIELDS = ("name", "prototype", "carbs_g", "kcal", "shots", "category")


class FewShotError(ValueError):
    """A personal class (or the photos to build one) is unusable; the message says how to fix it."""


@dataclass(frozen=True)
class PersonalClass:
    """A dish the model does not know, taught by its owner; `carbs_g` is (p10, median, p90) per serving."""

    name: str
    prototype: npt.NDArray[np.float32]  # (D,), unit length
    carbs_g: tuple[float, float, float]
    kcal: float | None = None  # per serving; None: the model's own kcal estimate stands in
    shots: int = 1
    category: str = DEFAULT_PERSONAL_CATEGORY  # key of taxonomy.CATEGORIES


@dataclass(frozen=True)
class PersonalScores:
    """The model's probabilities re-weighted with the personal classes (see the module docstring)."""

    model_probabilities: npt.NDArray[np.float32]  # (K,) = w_0 * p
    personal_probabilities: npt.NDArray[np.float32]  # (C,) = w_1..w_C
    carbs_g: npt.NDArray[np.float32]  # (3,) p10, median, p90


def normalise_embedding(embedding: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length (what the recognizer's `embedding` output already is)."""
    norms = np.linalg.norm(embedding, axis=-1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise FewShotError("An embedding is zero or not finite; send the model's `embedding` output.")
    return (embedding / norms).astype(np.float32)


def build_prototype(shots: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(S, D) embeddings of 1..MAX_SHOTS photos of one dish -> its (D,) unit prototype."""
    if shots.ndim != 2 or not 1 <= shots.shape[0] <= MAX_SHOTS:
        raise FewShotError(
            f"Teach a dish with 1 to {MAX_SHOTS} photos; got embeddings of shape {shots.shape}."
        )
    return normalise_embedding(normalise_embedding(shots).mean(axis=0))


def make_personal_class(
    name: str,
    shots: npt.NDArray[np.float32],
    carbs_g: tuple[float, float, float],
    kcal: float | None = None,
    category: str = DEFAULT_PERSONAL_CATEGORY,
) -> PersonalClass:
    """A personal class from its photos' embeddings (S, D) and its carbohydrate per serving."""
    if category not in CATEGORIES:
        raise FewShotError(f"{name!r}: category must be one of {sorted(CATEGORIES)}.")
    prototype = build_prototype(shots)
    return PersonalClass(name, prototype, _check_carbs(name, carbs_g), kcal, shots.shape[0], category)


def _check_carbs(name: str, carbs_g: Sequence[float]) -> tuple[float, float, float]:
    if len(carbs_g) != 3 or not all(math.isfinite(c) and 0 <= c <= MAX_SERVING_CARBS_G for c in carbs_g):
        raise FewShotError(
            f"{name!r}: carbs_g must be three numbers from 0 to {MAX_SERVING_CARBS_G:g} g (p10, median, p90)."
        )
    low, median, high = (float(c) for c in carbs_g)
    if not low <= median <= high:
        raise FewShotError(f"{name!r}: carbs_g must be ordered p10 <= median <= p90, got {carbs_g}.")
    return low, median, high


def score_personal_classes(
    model_probabilities: npt.NDArray[np.float32],  # (K,)
    model_carbs_g: npt.NDArray[np.float32],  # (3,)
    embedding: npt.NDArray[np.float32],  # (D,)
    classes: Sequence[PersonalClass],
    *,
    temperature: float = FEWSHOT_TEMPERATURE,
    threshold: float = FEWSHOT_THRESHOLD,
) -> PersonalScores:
    """Combine one photo's model output with personal classes (arithmetic in the module docstring)."""
    if not classes:
        return PersonalScores(model_probabilities.astype(np.float32), np.zeros(0, np.float32), model_carbs_g)
    unit = normalise_embedding(embedding.astype(np.float32))
    prototypes = np.stack([c.prototype for c in classes])  # (C, D)
    if prototypes.shape[1] != unit.shape[-1]:
        raise FewShotError(
            f"Personal prototypes have {prototypes.shape[1]} values but this model's embedding has "
            f"{unit.shape[-1]}; rebuild them from this model's embedding output."
        )
    scores = np.concatenate([[threshold], prototypes @ unit]) / temperature  # (1 + C,)
    weights = np.exp(scores - scores.max())
    weights /= weights.sum()
    options_carbs = np.concatenate([model_carbs_g[None, :], [c.carbs_g for c in classes]])  # (1 + C, 3)
    return PersonalScores(
        model_probabilities=(weights[0] * model_probabilities).astype(np.float32),
        personal_probabilities=weights[1:].astype(np.float32),
        carbs_g=(weights @ options_carbs).astype(np.float32),
    )


def parse_personal_classes(raw: Any, embedding_dim: int) -> list[PersonalClass]:
    """Validate the `personal_classes` list of a request (JSON) into PersonalClass objects.

    Each item: {"name": str, "prototype": [D floats], "carbs_g": [p10, median, p90], "kcal": float?,
    "shots": int?, "category": str?}. The prototype is re-normalised here, so the app may send an unnormalised mean.
    """
    if not isinstance(raw, list):
        raise FewShotError("personal_classes must be a list of objects.")
    if len(raw) > MAX_PERSONAL_CLASSES:
        raise FewShotError(f"At most {MAX_PERSONAL_CLASSES} personal classes per request, got {len(raw)}.")
    classes = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise FewShotError(f"personal_classes[{i}] must be an object.")
        unknown = [str(key) for key in item if key not in PERSONAL_CLASS_FIELDS]
        if unknown:
            raise FewShotError(
                f"personal_classes[{i}] has the unknown field(s) {', '.join(map(repr, unknown))}; "
                f"the fields are {', '.join(PERSONAL_CLASS_FIELDS)}."
            )
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise FewShotError(f"personal_classes[{i}].name must be a non-empty string of <= 100 characters.")
        prototype = _parse_vector(item.get("prototype"), embedding_dim, f"personal_classes[{i}].prototype")
        carbs = item.get("carbs_g")
        if not isinstance(carbs, list) or not all(_is_number(c) for c in carbs):
            raise FewShotError(f"personal_classes[{i}].carbs_g must be [p10, median, p90] in grams.")
        kcal = item.get("kcal")
        if kcal is not None and (
            not _is_number(kcal) or not math.isfinite(kcal) or not 0 <= kcal <= MAX_SERVING_KCAL
        ):
            raise FewShotError(f"personal_classes[{i}].kcal must be a number from 0 to {MAX_SERVING_KCAL:g}.")
        shots = item.get("shots", 1)
        if not isinstance(shots, int) or isinstance(shots, bool) or not 1 <= shots <= MAX_SHOTS:
            raise FewShotError(f"personal_classes[{i}].shots must be an integer from 1 to {MAX_SHOTS}.")
        category = item.get("category", DEFAULT_PERSONAL_CATEGORY)
        if category not in CATEGORIES:
            raise FewShotError(f"personal_classes[{i}].category must be one of {sorted(CATEGORIES)}.")
        carbs_g = _check_carbs(name, carbs)
        kcal_value = None if kcal is None else float(kcal)
        classes.append(PersonalClass(name.strip(), prototype, carbs_g, kcal_value, shots, str(category)))
    return classes


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_vector(value: Any, dim: int, where: str) -> npt.NDArray[np.float32]:
    if not isinstance(value, list) or len(value) != dim or not all(_is_number(v) for v in value):
        raise FewShotError(f"{where} must be a list of {dim} numbers (this model's embedding size).")
    vector = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(vector)) or not np.any(vector):
        raise FewShotError(f"{where} must be finite and not all zero.")
    return normalise_embedding(vector.astype(np.float32))


def apply_personal_classes(
    result: Recognition,
    embedding: npt.NDArray[np.float32],  # (D,) the photo's `embedding` output
    classes: Sequence[PersonalClass],
    *,
    temperature: float = FEWSHOT_TEMPERATURE,
    threshold: float = FEWSHOT_THRESHOLD,
) -> Recognition:
    """The recognition with a person's own classes merged in (arithmetic in the module docstring).

    Model guesses are scaled by w_0, personal classes enter with w_c, the list is re-sorted and cut to
    its original length; carbohydrate (and kcal) intervals are the w-weighted mix of the options.
    """
    if not classes:
        return result
    guesses = result.foods
    model_carbs = np.array([result.carbs_g.low, result.carbs_g.estimate, result.carbs_g.high], np.float32)
    model_kcal = np.array([result.kcal.low, result.kcal.estimate, result.kcal.high], np.float32)
    scores = score_personal_classes(
        np.array([g.probability for g in guesses], np.float32),
        model_carbs,
        embedding,
        classes,
        temperature=temperature,
        threshold=threshold,
    )
    weights = np.concatenate([[1.0 - scores.personal_probabilities.sum()], scores.personal_probabilities])
    kcal_options = [model_kcal] + [
        model_kcal if c.kcal is None else np.full(3, c.kcal, np.float32) for c in classes
    ]
    kcal = weights @ np.stack(kcal_options)  # (3,)
    personal = [
        FoodGuess(c.name, c.category, CATEGORIES[c.category], PERSONAL_ROLE, float(p))
        for c, p in zip(classes, scores.personal_probabilities, strict=True)
    ]
    scaled = [
        replace(g, probability=float(p)) for g, p in zip(guesses, scores.model_probabilities, strict=True)
    ]
    merged = sorted(scaled + personal, key=lambda g: -g.probability)[: max(len(guesses), 1)]
    return replace(
        result,
        foods=tuple(merged),
        carbs_g=NutrientEstimate(
            float(scores.carbs_g[1]), float(scores.carbs_g[0]), float(scores.carbs_g[2])
        ),
        kcal=NutrientEstimate(float(kcal[1]), float(kcal[0]), float(kcal[2])),
    )
