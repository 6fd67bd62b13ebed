"""The food taxonomy: classes the recognizer outputs, their coarse category and nutrition.

Rows live in `vision/data/food_classes.csv` (built by `mealimpact build-food-table`); classes added
by retraining are appended as new rows with `source` other than "imagenet" and no ImageNet index.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FOOD_TABLE_PATH = Path(__file__).parent / "data" / "food_classes.csv"
# Class names in other languages people read answers in: one `food_names_<language>.csv` each
# (name,name_<language>); a class without a row keeps its English name.
FOOD_NAMES_DIR = Path(__file__).parent / "data"

# Coarse categories a dietitian recognises; dishes the network cannot name land in one of these
# through a setting class (plate, soup bowl...) that carries a wide portion spread.
CATEGORIES: dict[str, str] = {
    "bread_bakery": "bread and bakery",
    "rice_grain": "rice and grain dishes",
    "noodles_pasta": "noodles and pasta",
    "soups_stews": "soups and stews",
    "meat_fish_eggs": "meat, fish and eggs",
    "vegetables_salads": "vegetables and salads",
    "fruit": "fruit",
    "dairy": "dairy",
    "desserts_sweets": "desserts and sweets",
    "drinks": "drinks",
    "snacks": "snacks and packaged food",
    "mixed_plates": "mixed plates",
}
CATEGORY_LABELS_KO: dict[str, str] = {
    "bread_bakery": "빵과 제과",
    "rice_grain": "밥과 곡물 요리",
    "noodles_pasta": "면과 파스타",
    "soups_stews": "국과 찌개",
    "meat_fish_eggs": "고기, 생선, 달걀",
    "vegetables_salads": "채소와 샐러드",
    "fruit": "과일",
    "dairy": "유제품",
    "desserts_sweets": "디저트와 단것",
    "drinks": "음료",
    "snacks": "간식과 포장 식품",
    "mixed_plates": "여러 음식이 담긴 접시",
}
# food: an edible item; drink; setting: tableware, kitchen or shop seen with an unnamed dish.
ROLES: tuple[str, ...] = ("food", "drink", "setting")
FOOD_TABLE_COLUMNS: tuple[str, ...] = (
    "name",
    "category",
    "role",
    "imagenet_index",
    "carbs_g_per_100g",
    "sugars_g_per_100g",
    "fibre_g_per_100g",
    "fat_g_per_100g",
    "protein_g_per_100g",
    "kcal_per_100g",
    "portion_g",
    "portion_gsd",
    "source",
    "fdc_data_types",
    "fdc_descriptions",
)


class TaxonomyError(ValueError):
    """The food table is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class FoodClass:
    """One output class of the recognizer with its per-100 g nutrition and typical portion."""

    name: str
    category: str  # key of CATEGORIES
    role: str  # one of ROLES
    imagenet_index: int | None  # None for classes added by retraining
    carbs_g_per_100g: float
    sugars_g_per_100g: float
    fibre_g_per_100g: float
    fat_g_per_100g: float
    protein_g_per_100g: float
    kcal_per_100g: float
    portion_g: float  # median serving
    portion_gsd: float  # geometric standard deviation of the serving, > 1
    source: str  # "imagenet" or where a retrained class came from
    fdc_descriptions: tuple[str, ...]  # FoodData Central provenance

    @property
    def category_label(self) -> str:
        return CATEGORIES[self.category]


def _parse_row(row: dict[str, str], line: int) -> FoodClass:
    try:
        food = FoodClass(
            name=row["name"],
            category=row["category"],
            role=row["role"],
            imagenet_index=int(row["imagenet_index"]) if row["imagenet_index"] else None,
            carbs_g_per_100g=float(row["carbs_g_per_100g"]),
            sugars_g_per_100g=float(row["sugars_g_per_100g"]),
            fibre_g_per_100g=float(row["fibre_g_per_100g"]),
            fat_g_per_100g=float(row["fat_g_per_100g"]),
            protein_g_per_100g=float(row["protein_g_per_100g"]),
            kcal_per_100g=float(row["kcal_per_100g"]),
            portion_g=float(row["portion_g"]),
            portion_gsd=float(row["portion_gsd"]),
            source=row["source"],
            fdc_descriptions=tuple(row["fdc_descriptions"].split("|")),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise TaxonomyError(f"food table line {line}: {err}") from err
    if food.category not in CATEGORIES or food.role not in ROLES:
        raise TaxonomyError(
            f"food table line {line}: unknown category {food.category!r} or role {food.role!r}"
        )
    numbers = (food.carbs_g_per_100g, food.kcal_per_100g, food.portion_g, food.portion_gsd)
    if not all(math.isfinite(v) and v >= 0 for v in numbers) or food.portion_g <= 0 or food.portion_gsd <= 1:
        raise TaxonomyError(f"food table line {line}: need finite nutrients, portion_g > 0, portion_gsd > 1")
    return food


def load_food_classes(path: Path = FOOD_TABLE_PATH) -> tuple[FoodClass, ...]:
    """Read and validate the food table, in output order."""
    if not path.is_file():
        raise TaxonomyError(f"food table {path} not found; run `mealimpact build-food-table`.")
    with path.open(newline="", encoding="utf-8") as handle:
        foods = tuple(_parse_row(row, i + 2) for i, row in enumerate(csv.DictReader(handle)))
    names = [f.name for f in foods]
    if len(set(names)) != len(names):
        raise TaxonomyError("food table has duplicate class names")
    indices = [f.imagenet_index for f in foods if f.imagenet_index is not None]
    if len(set(indices)) != len(indices):
        raise TaxonomyError("food table maps one ImageNet class twice")
    return foods


def role_matrix(foods: tuple[FoodClass, ...]) -> npt.NDArray[np.float32]:
    """(K, len(ROLES)) one-hot: which role each class has; sums class probabilities per role."""
    matrix = np.zeros((len(foods), len(ROLES)), dtype=np.float32)
    for k, food in enumerate(foods):
        matrix[k, ROLES.index(food.role)] = 1.0
    return matrix


def load_food_names(language: str, folder: Path = FOOD_NAMES_DIR) -> dict[str, str]:
    """English class name -> its name in `language` ("ko"); empty for English or a language without a table."""
    path = folder / f"food_names_{language}.csv"
    if language == "en" or not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    column = f"name_{language}"
    if rows and column not in rows[0]:
        raise TaxonomyError(f"{path.name}: no {column!r} column")
    return {row["name"]: row[column] for row in rows if row.get(column)}
