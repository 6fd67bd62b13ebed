"""Evaluates the shipped food recognizer ONNX on real photos: D1NAMO meals (kcal labels) and non-food.

Reports the shipped model (calibrated on these same photos, so in-sample for its head) and, honestly,
a person-wise cross-validation that refits the head and portion calibration without each person.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from mealimpact.inference import session_infer
from mealimpact.model_repository.sessions import open_session
from training.vision_calibrate import (
    DRINK_PHOTOS,
    HELD_OUT_NON_FOOD_PHOTOS,
    NON_FOOD_PHOTOS,
    CalibrationPhoto,
    cross_validated_outputs,
    d1namo_meal_photos,
    packaged_photos,
    predict_head,
    recognition_metrics,
)
from training.vision_portions import DISHES_FILE, check_portions, expected_carbs_coverage, read_dishes
from vision.metadata import OUTPUT_NAMES, RecognizerMetadata
from vision.recognition import Recognizer
from vision.recognizer_model import RecognizerCalibration
from vision.taxonomy import load_food_classes

_BATCH = 16
_WIDER_LOG_SD = (0.0, 0.3, 0.6)  # what-if spreads for the carbohydrate coverage (not shipped)


def _run_onnx(
    model_path: Path, photos: list[CalibrationPhoto]
) -> tuple[RecognizerMetadata, dict[str, npt.NDArray[np.float32]]]:
    session = open_session(model_path)
    recognizer = Recognizer(session.get_modelmeta().custom_metadata_map, session_infer(session))
    chunks: dict[str, list[npt.NDArray[np.float32]]] = {name: [] for name in OUTPUT_NAMES}
    for start in tqdm(range(0, len(photos), _BATCH), desc="photos", unit="batch"):
        batch = np.stack([recognizer.preprocess(p.path.read_bytes()) for p in photos[start : start + _BATCH]])
        for name, value in recognizer.outputs(batch).items():
            chunks[name].append(value)
    return recognizer.metadata, {name: np.concatenate(parts) for name, parts in chunks.items()}


def _baselines(
    photos: list[CalibrationPhoto], probabilities: npt.NDArray[np.float32], metadata: RecognizerMetadata
) -> dict[str, float]:
    """What the head is measured against: plain probability sums and a constant kcal guess."""
    is_food = np.array([p.is_food for p in photos])
    edible = np.array([label.role in ("food", "drink") for label in metadata.labels])
    edible_sum = probabilities[:, edible].sum(axis=1)
    all_sum = probabilities.sum(axis=1)
    meals = [p for p in photos if p.kcal]
    errors, within = [], []
    for person in sorted({p.group for p in meals}):
        # Constant prediction: the median kcal of the other people's meals.
        guess = float(np.median([p.kcal for p in meals if p.group != person]))
        for p in meals:
            if p.group == person and p.kcal:
                errors.append(abs(guess - p.kcal))
                within.append(abs(guess - p.kcal) <= 0.3 * p.kcal)
    return {
        "edible_class_sum_at_0.5_meals_passed": float((edible_sum[is_food] >= 0.5).mean()),
        "edible_class_sum_at_0.5_non_food_rejected": float((edible_sum[~is_food] < 0.5).mean()),
        "all_taxonomy_sum_at_0.5_meals_passed": float((all_sum[is_food] >= 0.5).mean()),
        "all_taxonomy_sum_at_0.5_non_food_rejected": float((all_sum[~is_food] < 0.5).mean()),
        "constant_median_kcal_median_abs_error": float(np.median(errors)),
        "constant_median_kcal_share_within_30pct": float(np.mean(within)),
    }


def _nutrition5k_checks(
    nutrition5k_dir: Path,
    metadata: RecognizerMetadata,
    photos: list[CalibrationPhoto],
    probabilities: npt.NDArray[np.float32],
    carbs_g: npt.NDArray[np.float32],
) -> dict[str, Any]:
    """Portions against weighed dishes, and the carbohydrate coverage D1NAMO's kcal labels imply.

    Also what a wider interval would give (extra log-sd added to the shipped one), without shipping it.
    """
    calibration = RecognizerCalibration.from_dict(metadata.training_data["calibration"])
    foods = load_food_classes()
    results = check_portions(nutrition5k_dir, foods, calibration)
    meals = np.array([p.kcal is not None and p.kcal > 0 for p in photos])
    kcal_labels = np.array([p.kcal for p in photos if p.kcal], dtype=np.float64)
    dishes = read_dishes(nutrition5k_dir / DISHES_FILE)
    results["d1namo_expected_carbs_p10_p90_coverage"] = round(
        expected_carbs_coverage(kcal_labels, carbs_g[meals], dishes), 3
    )
    wider = {}
    for added in _WIDER_LOG_SD:
        extra = float(np.hypot(calibration.extra_log_sd, added))
        _, carbs, _ = predict_head(probabilities[meals], foods, replace(calibration, extra_log_sd=extra))
        wider[str(added)] = {
            "expected_carbs_p10_p90_coverage": round(expected_carbs_coverage(kcal_labels, carbs, dishes), 3),
            "median_p90_over_p10": round(float(np.median(carbs[:, 2] / carbs[:, 0])), 1),
        }
    results["d1namo_if_carbs_log_sd_wider_by"] = wider
    return results


def evaluate_recognizer(
    model_path: Path, d1namo_dir: Path, nutrition5k_dir: Path | None = None
) -> dict[str, Any]:
    """All numbers of the model card, plus one row per photo (and the Nutrition5k checks if given)."""
    photos = d1namo_meal_photos(d1namo_dir) + packaged_photos(NON_FOOD_PHOTOS, is_food=False)
    held_out = packaged_photos(DRINK_PHOTOS, is_food=True) + packaged_photos(
        HELD_OUT_NON_FOOD_PHOTOS, is_food=False
    )
    metadata, outputs = _run_onnx(model_path, photos + held_out)
    n = len(photos)
    foods = load_food_classes()
    probabilities = outputs["probabilities"][:n]
    cv_food, _, cv_kcal = cross_validated_outputs(probabilities, photos, foods)
    threshold = metadata.food_threshold
    rows = []
    for i, photo in enumerate(photos + held_out):
        top = int(np.argmax(outputs["probabilities"][i]))
        rows.append(
            {
                "photo": f"{photo.path.parent.parent.name}/{photo.path.name}"
                if photo.kcal
                else photo.description,
                "is_food_label": photo.is_food,
                "kcal_label": photo.kcal,
                "top_class": metadata.labels[top].name,
                "food_probability": round(float(outputs["food_probability"][i]), 4),
                "carbs_g_p10_p50_p90": [round(float(v), 1) for v in outputs["carbs_g"][i]],
                "kcal_p10_p50_p90": [round(float(v), 1) for v in outputs["kcal"][i]],
            }
        )
    nutrition5k: dict[str, Any] | str = "skipped: no Nutrition5k folder given"
    if nutrition5k_dir is not None:
        nutrition5k = _nutrition5k_checks(
            nutrition5k_dir, metadata, photos, probabilities, outputs["carbs_g"][:n]
        )
    return {
        "model": str(model_path),
        "model_version": metadata.version,
        "food_threshold": threshold,
        "shipped_model_in_sample": recognition_metrics(
            photos, outputs["food_probability"][:n], outputs["kcal"][:n], threshold
        ),
        "person_wise_cross_validated": recognition_metrics(photos, cv_food, cv_kcal, threshold),
        "baselines_person_wise": _baselines(photos, probabilities, metadata),
        "drink_photos_food_probability": {
            p.description: float(outputs["food_probability"][n + i])
            for i, p in enumerate(held_out)
            if p.is_food
        },
        "held_out_non_food_food_probability": {
            p.description: float(outputs["food_probability"][n + i])
            for i, p in enumerate(held_out)
            if not p.is_food
        },
        "nutrition5k": nutrition5k,
        "photos": rows,
    }
