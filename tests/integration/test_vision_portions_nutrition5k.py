"""The portion check on the real Nutrition5k files: the published layout parses and the matches exist."""

from __future__ import annotations

from pathlib import Path

from training.vision_portions import (
    DISHES_FILE,
    NUTRITION5K_MATCHES,
    check_portions,
    read_dishes,
    read_ingredient_carbs_per_100g,
)
from vision.recognizer_model import RecognizerCalibration
from vision.taxonomy import load_food_classes


def test_real_nutrition5k_parses_and_every_match_names_a_real_ingredient(shared_data: Path) -> None:
    folder = shared_data / "nutrition5k"
    dishes = read_dishes(folder / DISHES_FILE)
    assert len(dishes) == 4768 and all(d.ingredients for d in dishes)
    known = read_ingredient_carbs_per_100g(folder / "ingredients_metadata.csv")
    missing = [m for matches in NUTRITION5K_MATCHES.values() for m in matches if m not in known]
    assert missing == []
    classes = {f.name for f in load_food_classes()}
    assert set(NUTRITION5K_MATCHES) <= classes


def test_portion_report_covers_the_matched_classes(shared_data: Path) -> None:
    report = check_portions(shared_data / "nutrition5k", load_food_classes(), RecognizerCalibration())
    assert len(report["classes"]) >= 15  # a match with no weighed serving is left out
    for row in report["classes"].values():
        low, median, high = row["carbs_g_class_p10_p50_p90"]
        assert 0 < low < median < high and 0.0 <= row["carbs_interval_coverage"] <= 1.0
    assert report["unnamed_dish"]["meal_sized_dishes"] > 1000
