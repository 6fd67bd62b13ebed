"""Checks the food table's carbohydrate per 100 g and portion spreads against weighed real dishes.

Nutrition5k (Thames et al., CVPR 2021, CC BY 4.0) weighed every ingredient of 4,768 cafeteria dishes.
D1NAMO labels only kcal, so this is the one independent look at carbohydrate amounts on real plates.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from training.vision_calibrate import predict_head
from vision.recognizer_model import RecognizerCalibration
from vision.taxonomy import FoodClass

DISHES_FILE = "dish_metadata_cafe1.csv"
INGREDIENTS_FILE = "ingredients_metadata.csv"
# Taxonomy class -> Nutrition5k ingredient names that are the same food (only unambiguous ones).
NUTRITION5K_MATCHES: dict[str, tuple[str, ...]] = {
    "pizza": ("cheese pizza", "pizza", "pepperoni pizza"),
    "bagel": ("bagels",),
    "pretzel": ("pretzels",),
    "mashed potato": ("mashed potatoes",),
    "broccoli": ("broccoli",),
    "cauliflower": ("cauliflower",),
    "zucchini": ("zucchini",),
    "cucumber": ("cucumbers",),
    "bell pepper": ("bell peppers",),
    "mushroom": ("mushroom",),
    "head cabbage": ("cabbage",),
    "artichoke": ("artichokes",),
    "ear of corn": ("corn on the cob",),
    "guacamole": ("guacamole",),
    "Granny Smith apple": ("apple",),
    "strawberry": ("strawberries",),
    "orange": ("orange", "orange with peel"),
    "banana": ("banana", "banana with peel"),
    "pineapple": ("pineapple",),
    "fig": ("figs",),
    "pomegranate": ("pomegranate",),
    "ice cream": ("ice creams", "soft serve ice creams"),
    "hotdog": ("hot dogs",),
    "cheeseburger": ("cheeseburgers",),
    "burrito": ("burritos",),
    "potpie": ("pot pies",),
    "meat loaf": ("meatloaf",),
}
# The setting that stands for an unnamed mixed dish; whole Nutrition5k dishes are compared with it.
UNNAMED_DISH_CLASS = "plate"
# Dishes from this energy up count as meals when the carbohydrate share of energy is sampled: the
# smaller ones are mostly single side items (Nutrition5k's median dish is 154 kcal, D1NAMO's 484).
MEAL_MIN_KCAL = 300.0
KCAL_PER_G_CARBS = 4.0  # Atwater factor
_DISH_FIELDS = 6  # dish_id, total kcal, total mass, fat, carbs, protein; then groups of 7 per ingredient
_INGREDIENT_FIELDS = 7  # ingr_id, name, grams, kcal, fat, carbs, protein


class Nutrition5kFormatError(ValueError):
    """A Nutrition5k metadata file is missing or not in the published layout."""


@dataclass(frozen=True)
class WeighedDish:
    """One Nutrition5k dish: totals and, per ingredient, its weighed grams and carbohydrate."""

    dish_id: str
    kcal: float
    mass_g: float
    carbs_g: float
    ingredients: tuple[tuple[str, float, float], ...]  # (name, grams, carbs_g)


def read_dishes(path: Path) -> list[WeighedDish]:
    """Parse `dish_metadata_cafe1.csv` (no header; trailing empty fields pad the rows)."""
    if not path.is_file():
        raise Nutrition5kFormatError(f"{path} not found; point --nutrition5k at the Nutrition5k folder")
    dishes = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            fields = [f for f in row if f != ""]
            if len(fields) < _DISH_FIELDS or (len(fields) - _DISH_FIELDS) % _INGREDIENT_FIELDS:
                raise Nutrition5kFormatError(
                    f"{path} line {line}: expected 6 dish fields and groups of 7 per ingredient"
                )
            try:
                groups = range(_DISH_FIELDS, len(fields), _INGREDIENT_FIELDS)
                ingredients = tuple(
                    (fields[i + 1], float(fields[i + 2]), float(fields[i + 5])) for i in groups
                )
                dishes.append(
                    WeighedDish(fields[0], float(fields[1]), float(fields[2]), float(fields[4]), ingredients)
                )
            except ValueError as err:
                raise Nutrition5kFormatError(f"{path} line {line}: {err}") from err
    if not dishes:
        raise Nutrition5kFormatError(f"{path} holds no dishes")
    return dishes


def read_ingredient_carbs_per_100g(path: Path) -> dict[str, float]:
    """Carbohydrate per 100 g of each Nutrition5k ingredient (the file gives grams per gram)."""
    if not path.is_file():
        raise Nutrition5kFormatError(f"{path} not found; point --nutrition5k at the Nutrition5k folder")
    with path.open(newline="", encoding="utf-8") as handle:
        try:
            return {row["ingr"].strip(): 100.0 * float(row["carb(g)"]) for row in csv.DictReader(handle)}
        except (KeyError, ValueError) as err:
            raise Nutrition5kFormatError(f"{path}: expected columns ingr and carb(g): {err}") from err


def class_carbs_intervals_g(
    foods: tuple[FoodClass, ...], calibration: RecognizerCalibration
) -> npt.NDArray[np.float32]:
    """(K, 3) carbohydrate p10/p50/p90 of one portion of each class, through the exported head."""
    _, carbs_g, _ = predict_head(np.eye(len(foods), dtype=np.float32), foods, calibration)
    return carbs_g


def _quantiles(values: Sequence[float] | npt.NDArray[np.float64]) -> list[float]:
    return [round(float(v), 1) for v in np.percentile(values, [10, 50, 90])]


def _coverage(values: npt.NDArray[np.float64], interval: npt.NDArray[np.float32]) -> float:
    return float(((values >= interval[0]) & (values <= interval[2])).mean())


def check_portions(
    nutrition5k_dir: Path, foods: tuple[FoodClass, ...], calibration: RecognizerCalibration
) -> dict[str, Any]:
    """Per matched class: carbs per 100 g and weighed servings against the class's interval."""
    dishes = read_dishes(nutrition5k_dir / DISHES_FILE)
    carbs_per_100g = read_ingredient_carbs_per_100g(nutrition5k_dir / INGREDIENTS_FILE)
    intervals = class_carbs_intervals_g(foods, calibration)
    index = {food.name: k for k, food in enumerate(foods)}
    classes = {}
    for name, matches in NUTRITION5K_MATCHES.items():
        if name not in index:
            continue
        servings = [(g, c) for dish in dishes for n, g, c in dish.ingredients if n in matches and g > 0]
        if not servings:
            continue
        food, interval = foods[index[name]], intervals[index[name]]
        grams = np.array([g for g, _ in servings])
        carbs = np.array([c for _, c in servings])
        classes[name] = {
            "servings": len(servings),
            "carbs_g_per_100g_table": food.carbs_g_per_100g,
            "carbs_g_per_100g_nutrition5k": round(float(np.mean([carbs_per_100g[m] for m in matches])), 2),
            "portion_g_table_x_scale": round(food.portion_g * calibration.portion_scale, 1),
            "serving_g_nutrition5k_p10_p50_p90": _quantiles(grams),
            "carbs_g_class_p10_p50_p90": [round(float(v), 1) for v in interval],
            "carbs_g_nutrition5k_p10_p50_p90": _quantiles(carbs),
            "carbs_interval_coverage": round(_coverage(carbs, interval), 3),
        }
    meals = [d for d in dishes if d.kcal >= MEAL_MIN_KCAL]
    unnamed = intervals[index[UNNAMED_DISH_CLASS]]
    return {
        "dishes": len(dishes),
        "calibration": {"portion_scale": calibration.portion_scale, "extra_log_sd": calibration.extra_log_sd},
        "classes": classes,
        "unnamed_dish": {
            "class": UNNAMED_DISH_CLASS,
            "carbs_g_class_p10_p50_p90": [round(float(v), 1) for v in unnamed],
            "meal_sized_dishes": len(meals),
            "dish_carbs_g_p10_p50_p90": _quantiles([d.carbs_g for d in meals]),
            "dish_mass_g_p10_p50_p90": _quantiles([d.mass_g for d in meals]),
            "carbs_interval_coverage": round(_coverage(np.array([d.carbs_g for d in meals]), unnamed), 3),
            "carbs_energy_share_p10_p50_p90": carbs_energy_share(dishes),
        },
    }


def expected_carbs_coverage(
    kcal_labels: npt.NDArray[np.float64],
    carbs_intervals_g: npt.NDArray[np.float32],
    dishes: Sequence[WeighedDish],
) -> float:
    """Share of (photo, dish) pairs whose carbs fall in the photo's p10..p90 interval.

    A photo's true carbohydrate is taken as its kcal label times the carbs-per-kcal of a
    meal-sized Nutrition5k dish: an estimate of coverage where only kcal is labelled, assuming
    those meals vary in carbohydrate share of energy as the weighed dishes do.
    kcal_labels (N,), carbs_intervals_g (N, 3) -> fraction in [0, 1].
    """
    carbs_per_kcal = np.array([d.carbs_g / d.kcal for d in dishes if d.kcal >= MEAL_MIN_KCAL])  # (M,)
    if carbs_per_kcal.size == 0 or kcal_labels.size == 0:
        raise Nutrition5kFormatError("no meal-sized dishes or no labelled photos to estimate coverage")
    true_g = kcal_labels[:, None] * carbs_per_kcal[None, :]  # (N, M)
    inside = (true_g >= carbs_intervals_g[:, :1]) & (true_g <= carbs_intervals_g[:, 2:])
    return float(inside.mean())


def carbs_energy_share(dishes: Sequence[WeighedDish]) -> list[float]:
    """p10/p50/p90 of the share of energy from carbohydrate in meal-sized dishes."""
    shares = [KCAL_PER_G_CARBS * d.carbs_g / d.kcal for d in dishes if d.kcal >= MEAL_MIN_KCAL]
    return [round(float(v), 2) for v in np.percentile(shares, [10, 50, 90])]
