"""The D1NAMO meal photos (each person's food.csv, read here only) and their class labels, derived
from the free-text descriptions.

A small committed rule table (`data/d1namo_label_rules.csv`) names each photo's dominant food: the rules
are tried in order and the first whose pattern occurs in the description wins.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from training.vision_dataset import DatasetLayoutError, LabelledPhoto, keep_classes_with

RULES_CSV = Path(__file__).parent / "data" / "d1namo_label_rules.csv"
# Fewer photos than this cannot give one to train, validation and test and still leave two to train on.
MIN_PHOTOS_PER_CLASS = 4


@dataclass(frozen=True)
class MealPhoto:
    """One row of a person's food.csv whose photo is on disk."""

    path: Path
    person: str  # the person's folder name, e.g. "001"
    description: str  # as logged, not stripped
    kcal: float | None  # the calories column; None when blank


def read_meal_photos(d1namo_dir: Path) -> list[MealPhoto]:
    """Every photo listed in `<person>/food.csv` under `d1namo_dir` that exists, in folder and row order."""
    photos = []
    for food_csv in sorted(d1namo_dir.glob("*/food.csv")):
        person = food_csv.parent.name
        with food_csv.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if "picture" not in row or "description" not in row:
                    raise DatasetLayoutError(f"{food_csv} lacks the picture or description column.")
                path = food_csv.parent / "food_pictures" / row["picture"].strip()
                kcal = float(row["calories"]) if (row.get("calories") or "").strip() else None
                if path.is_file():
                    photos.append(MealPhoto(path, person, row["description"], kcal))
    return photos


@dataclass(frozen=True)
class LabelRule:
    """A regular expression over the lower-cased description and the class it implies."""

    pattern: re.Pattern[str]
    label: str


def read_label_rules(path: Path = RULES_CSV) -> list[LabelRule]:
    with path.open(newline="") as f:
        return [LabelRule(re.compile(row["pattern"]), row["label"]) for row in csv.DictReader(f)]


def label_description(description: str, rules: list[LabelRule]) -> str | None:
    """The label of the first rule matching the description, or None when none does."""
    text = description.lower()
    return next((rule.label for rule in rules if rule.pattern.search(text)), None)


def read_d1namo_photos(d1namo_dir: Path, *, min_photos: int = MIN_PHOTOS_PER_CLASS) -> list[LabelledPhoto]:
    """Every labelled D1NAMO photo of a class with >= min_photos photos; split left to the caller.

    The split is stratified, not by person: one person took half of the photos and several classes
    (yogurt, bread) come from one person only, so a person split would test classes never trained on.
    """
    rules = read_label_rules()
    photos = []
    for meal in read_meal_photos(d1namo_dir):
        label = label_description(meal.description, rules)
        if label is not None:
            photos.append(LabelledPhoto(meal.path, label, "", kcal=meal.kcal, group=meal.person))
    return keep_classes_with(photos, min_photos)
