"""Fits the recognizer's food/non-food head and portion calibration on real photos, split by person.

Positives are the D1NAMO meal photos (with kcal labels); negatives are real non-food photographs
shipped inside installed packages (scikit-image, matplotlib, scikit-learn), listed in NON_FOOD_PHOTOS.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from training.d1namo_labels import read_meal_photos
from vision.recognizer_model import NutritionHead, RecognizerCalibration, feature_matrix, food_features
from vision.taxonomy import FoodClass

# (package, path inside it, what the photo shows). Real photographs only, no drawings or icons.
NON_FOOD_PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("skimage", "data/astronaut.png", "astronaut portrait"),
    ("skimage", "data/camera.png", "cameraman, grey"),
    ("skimage", "data/chelsea.png", "cat"),
    ("skimage", "data/rocket.jpg", "rocket on launch pad"),
    ("skimage", "data/motorcycle_left.png", "motorcycle"),
    ("skimage", "data/hubble_deep_field.jpg", "Hubble deep field"),
    ("skimage", "data/retina.jpg", "retina fundus photo"),
    ("skimage", "data/brick.png", "brick wall, grey"),
    ("skimage", "data/grass.png", "grass, grey"),
    ("skimage", "data/gravel.png", "gravel, grey"),
    ("skimage", "data/page.png", "scanned book page, grey"),
    ("skimage", "data/moon.png", "moon surface, grey"),
    ("skimage", "data/coins.png", "coins, grey"),
    ("skimage", "data/ihc.png", "immunohistochemistry microscopy"),
    ("skimage", "data/clock_motion.png", "clock, motion-blurred, grey"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "Grace Hopper portrait"),
    ("matplotlib", "mpl-data/sample_data/Minduka_Present_Blue_Pack.png", "blue gift pack"),
    ("sklearn", "datasets/images/china.jpg", "Chinese temple"),
    ("sklearn", "datasets/images/flower.jpg", "flower"),
)
# A cup of coffee: a drink, so it counts as food here; reported on its own, not used to fit.
DRINK_PHOTOS: tuple[tuple[str, str, str], ...] = (("skimage", "data/coffee.png", "cup of coffee"),)
# Real non-food photographs kept out of the fit, so their rejection is measured out of sample.
HELD_OUT_NON_FOOD_PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("skimage", "data/text.png", "handwriting on a blackboard, grey"),
)
TARGET_COVERAGE = 0.8  # p10..p90 should hold 80 % of true values
_EXTRA_LOG_SD_GRID = np.round(np.arange(0.0, 2.01, 0.05), 2)
_NON_FOOD_FOLDS = 4


class CalibrationDataError(ValueError):
    """Photos or labels needed for calibration are missing."""


@dataclass(frozen=True)
class CalibrationPhoto:
    """A calibration photo; `group` keeps one person's photos (or one negative fold) together."""

    path: Path
    group: str
    is_food: bool
    kcal: float | None  # label of a meal photo
    description: str


def d1namo_meal_photos(d1namo_dir: Path) -> list[CalibrationPhoto]:
    """Every photo listed in each person's food.csv, with its kcal label."""
    photos = [
        CalibrationPhoto(meal.path, meal.person, True, meal.kcal, meal.description)
        for meal in read_meal_photos(d1namo_dir)
    ]
    if not photos:
        raise CalibrationDataError(f"no D1NAMO meal photos under {d1namo_dir} (expected <person>/food.csv)")
    return photos


def _package_file(package: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / relative
    return path if path.is_file() else None


def packaged_photos(
    entries: Sequence[tuple[str, str, str]], is_food: bool, *, required: bool = True
) -> list[CalibrationPhoto]:
    """Photos shipped in installed packages; negatives are dealt round-robin into folds.

    With `required` (calibration, evaluation) a missing photo is an error: silently fitting on fewer
    negatives would change the shipped calibration and the reported numbers without saying so.
    """
    photos: list[CalibrationPhoto] = []
    missing = []
    for package, relative, description in entries:
        path = _package_file(package, relative)
        if path is None:
            missing.append(f"{package}/{relative}")
            continue
        group = f"nonfood-{len(photos) % _NON_FOOD_FOLDS}"
        photos.append(CalibrationPhoto(path, group, is_food, None, description))
    if required and missing:
        raise CalibrationDataError(
            f"packaged photos not found: {', '.join(missing)}; install the training extra "
            "(pip install -e '.[train]': scikit-image, matplotlib, scikit-learn)"
        )
    return photos


def fit_food_head(
    probabilities: npt.NDArray[np.float32], is_food: npt.NDArray[np.bool_], foods: tuple[FoodClass, ...]
) -> tuple[tuple[float, ...], float]:
    """Logistic regression on log(summed probability per feature group); classes weighted to balance."""
    features = food_features(torch.from_numpy(probabilities), feature_matrix(foods)).numpy()  # (N, G)
    model = LogisticRegression(C=1.0, class_weight="balanced").fit(features, is_food)
    return tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0])


def predict_head(
    probabilities: npt.NDArray[np.float32], foods: tuple[FoodClass, ...], calibration: RecognizerCalibration
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """food_probability (N,), carbs_g (N, 3), kcal (N, 3) through the exported head."""
    with torch.no_grad():
        outs = NutritionHead(foods, calibration)(torch.from_numpy(probabilities))
    return outs[0].numpy(), outs[1].numpy(), outs[2].numpy()


def fit_portions(
    probabilities: npt.NDArray[np.float32], kcal_labels: npt.NDArray[np.float64], foods: tuple[FoodClass, ...]
) -> tuple[float, float]:
    """(portion_scale, extra_log_sd): median kcal unbiased, then the narrowest spread covering 80 %."""
    best = (1.0, float(_EXTRA_LOG_SD_GRID[-1]))
    for extra in _EXTRA_LOG_SD_GRID:
        _, _, kcal = predict_head(probabilities, foods, RecognizerCalibration(extra_log_sd=float(extra)))
        # Every portion scales together, so every quantile of the mixture scales by the same factor.
        scale = float(np.exp(np.median(np.log(kcal_labels) - np.log(kcal[:, 1]))))
        covered = (kcal_labels >= scale * kcal[:, 0]) & (kcal_labels <= scale * kcal[:, 2])
        if covered.mean() >= TARGET_COVERAGE:
            return scale, float(extra)
        best = (scale, float(extra))
    return best


def fit_calibration(
    probabilities: npt.NDArray[np.float32], photos: Sequence[CalibrationPhoto], foods: tuple[FoodClass, ...]
) -> RecognizerCalibration:
    """All calibration numbers from these photos (food and non-food, kcal labels of the meals)."""
    is_food = np.array([p.is_food for p in photos])
    weights, bias = fit_food_head(probabilities, is_food, foods)
    labelled = np.array([p.kcal is not None and p.kcal > 0 for p in photos])
    kcal_labels = np.array([p.kcal for p in photos if p.kcal is not None and p.kcal > 0], dtype=np.float64)
    scale, extra = fit_portions(probabilities[labelled], kcal_labels, foods)
    return RecognizerCalibration(
        food_weights=weights, food_bias=bias, portion_scale=scale, extra_log_sd=extra
    )


def cross_validated_outputs(
    probabilities: npt.NDArray[np.float32], photos: Sequence[CalibrationPhoto], foods: tuple[FoodClass, ...]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Head outputs for each photo from a calibration fitted without its group (person or fold)."""
    groups = sorted({p.group for p in photos})
    food_probability = np.zeros(len(photos), dtype=np.float32)
    carbs_g = np.zeros((len(photos), 3), dtype=np.float32)
    kcal = np.zeros((len(photos), 3), dtype=np.float32)
    for group in groups:
        held = np.array([p.group == group for p in photos])
        fitted = fit_calibration(
            probabilities[~held], [p for p, h in zip(photos, held, strict=True) if not h], foods
        )
        fp, cg, kc = predict_head(probabilities[held], foods, fitted)
        food_probability[held], carbs_g[held], kcal[held] = fp, cg, kc
    return food_probability, carbs_g, kcal


def recognition_metrics(
    photos: Sequence[CalibrationPhoto],
    food_probability: npt.NDArray[np.float32],
    kcal: npt.NDArray[np.float32],
    food_threshold: float,
) -> dict[str, float]:
    """The numbers the model card reports."""
    is_food = np.array([p.is_food for p in photos])
    meals = np.array([p.kcal is not None and p.kcal > 0 for p in photos])
    labels = np.array([p.kcal or 0.0 for p in photos])[meals]
    predicted = kcal[meals]
    error = np.abs(predicted[:, 1] - labels)
    accepted = food_probability >= food_threshold
    return {
        "meal_photos": int(is_food.sum()),
        "meal_photos_recognised_as_food": float(accepted[is_food].mean()),
        "non_food_photos": int((~is_food).sum()),
        "non_food_photos_rejected": float((~accepted[~is_food]).mean()) if (~is_food).any() else float("nan"),
        "kcal_median_abs_error": float(np.median(error)),
        "kcal_share_within_30pct": float((error <= 0.3 * labels).mean()),
        "kcal_p10_p90_coverage": float(((labels >= predicted[:, 0]) & (labels <= predicted[:, 2])).mean()),
        "kcal_median_label": float(np.median(labels)),
    }


def collect_probabilities(
    photos: Sequence[CalibrationPhoto],
    predict: Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]],
    load: Callable[[Path], npt.NDArray[np.uint8]],
    batch_size: int = 16,
) -> npt.NDArray[np.float32]:
    """Taxonomy probabilities (N, K) for the photos, batched, with a progress bar."""
    chunks = []
    for start in tqdm(range(0, len(photos), batch_size), desc="photos", unit="batch"):
        batch = np.stack([load(p.path) for p in photos[start : start + batch_size]])  # (B, 224, 224, 3)
        chunks.append(predict(batch))
    return np.concatenate(chunks).astype(np.float32)
