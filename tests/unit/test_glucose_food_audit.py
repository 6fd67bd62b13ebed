"""The Shanghai meal-label audit: flags, carbohydrate totals, overrides and the change count."""

from __future__ import annotations

import csv
from pathlib import Path

from glucose_model.food_audit import apply_overrides, audit, carb_change, load_overrides
from glucose_model.food_text import MATCH_TABLE_PATH, FoodMatch, estimate_meal_nutrients, load_match_table


def _match(name: str, description: str, carbs: float, data_type: str = "survey_fndds_food") -> FoodMatch:
    return FoodMatch(name, description, data_type, carbs, None, None, 1.0, 1.0, 100.0, None, 0.9)


def test_audit_sums_carbs_and_flags_wrong_matches() -> None:
    table = {
        "glucose": _match("glucose", "Fluid replacement, 5% glucose in water", 0.12),
        "rice": _match("rice", "Rice, white, cooked, no added fat", 28.0),
        "milk": _match("milk", "Milk, NFS", 4.8),
        "braised pork in brown sauce": _match(
            "braised pork in brown sauce", "composite: Pork, NFS | Sugar, brown", 49.0, "composite"
        ),
        "mandarin fish": _match("mandarin fish", "Mandarin, seedless, peeled, raw", 13.4),
    }
    meals = [
        ("a", "Rice 100 g\nGlucose 20 g"),
        ("b", "Rice 50 g\nMilk 250 ml\nBraised pork in brown sauce 40 g\nMandarin fish 100 g"),
    ]
    rows = {r.name: r for r in audit(meals, table)}
    assert rows["rice"].carbs_g == 42.0 and rows["rice"].meals == 2 and len(rows["rice"].people) == 2
    assert "glucose_or_sugar" in rows["glucose"].flags and "implausible_carbs" in rows["glucose"].flags
    assert {"drink", "ml_unit"} <= set(rows["milk"].flags)
    assert {"sauce", "implausible_carbs"} <= set(rows["braised pork in brown sauce"].flags)
    assert "different_food" in rows["mandarin fish"].flags
    assert rows["rice"].flags == []
    order = [r.name for r in audit(meals, table)]
    assert order[0] == "rice"  # the largest contributor first


def test_overrides_rewrite_only_their_rows(tmp_path: Path) -> None:
    table_path = tmp_path / "table.csv"
    table_path.write_text(MATCH_TABLE_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    before = list(csv.DictReader(table_path.open(encoding="utf-8")))
    overrides = tmp_path / "overrides.csv"
    with overrides.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*before[0].keys(), "reason"])
        writer.writeheader()
        writer.writerow({**before[0], "carbs_g_per_100g": "77.000", "reason": "test"})
    assert apply_overrides(table_path, overrides) == 1
    after = list(csv.DictReader(table_path.open(encoding="utf-8")))
    assert after[0]["carbs_g_per_100g"] == "77.000"
    assert after[1:] == before[1:]
    assert apply_overrides(table_path, overrides) == 0  # rerunnable: nothing left to change
    load_match_table.cache_clear()


def test_committed_table_has_the_hand_checked_glucose_rows() -> None:
    table = load_match_table()
    overrides = load_overrides()
    assert {"glucose", "sugar pills equal to 30 g glucose", "braised pork in brown sauce"} <= set(overrides)
    for name, row in overrides.items():
        assert table[name].carbs_g == float(row["carbs_g_per_100g"]), name
    assert estimate_meal_nutrients("Glucose 20 g").carbs_g == 20.0
    assert estimate_meal_nutrients("2 sugar pills (equal to 30 g glucose)").carbs_g == 30.0
    old = {"glucose": _match("glucose", "drip", 0.12)}
    change = carb_change([("a", "Glucose 20 g"), ("b", "Rice 10 g")], old, dict(table))
    assert change.changed == 2 and change.meals == 2  # rice is unmatched in `old`
