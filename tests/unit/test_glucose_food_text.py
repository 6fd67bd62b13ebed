"""Parsing Shanghai meal text and summing nutrients from the committed USDA match table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glucose_model.food_text import (
    FoodMatch,
    estimate_meal_nutrients,
    is_meal_text,
    load_match_table,
    measure_match_coverage,
    parse_food_line,
    parse_meal_text,
)

RICE = FoodMatch(
    "rice", "Rice, white, cooked", "survey_fndds_food", 28.0, 0.1, 0.3, 0.3, 2.7, 130.0, 158.0, 0.9
)


@pytest.mark.parametrize(
    ("line", "name", "grams", "count"),
    [
        ("Rice 150 g", "rice", 150.0, None),
        ("米饭150g", "米饭", 150.0, None),
        ("Milk 250 ml", "milk", 250.0, None),
        ("Coarse grain steamed bread \t130 g", "coarse grain steamed bread", 130.0, None),
        ("Steamed bun 1", "steamed bun", None, 1.0),
        ("2 pieces of biscuit", "biscuit", None, 2.0),
        ("Cashew nuts", "cashew nuts", None, 1.0),
        ("杂粮馒头\t140g_x000D__x000D_", "杂粮馒头", 140.0, None),
    ],
)
def test_parse_food_line(line: str, name: str, grams: float | None, count: float | None) -> None:
    item = parse_food_line(line)
    assert item is not None
    assert (item.name, item.grams, item.count) == (name, grams, count)


def test_placeholders_are_not_meals() -> None:
    assert not is_meal_text("data not available")
    assert not is_meal_text("Fasting for medical examination")
    assert is_meal_text("Rice 150 g\nEgg 50 g")
    assert parse_meal_text("Rice 150 g\nEgg 50 g\n") and len(parse_meal_text("Rice 150 g\nEgg 50 g\n")) == 2


def test_sums_scale_with_grams_and_unknown_items_lower_confidence() -> None:
    table = {"rice": RICE}
    n = estimate_meal_nutrients("Rice 200 g", table)
    assert (
        n.carbs_g == pytest.approx(56.0)
        and n.kcal == pytest.approx(260.0)
        and n.confidence == pytest.approx(0.9)
    )
    m = estimate_meal_nutrients("Rice 200 g\nMystery dish 200 g", table)
    assert m.carbs_g == pytest.approx(56.0) and m.confidence == pytest.approx(0.45)
    assert [i.name for i in m.unmatched] == ["mystery dish"]


def test_counted_item_uses_the_usda_portion_at_lower_confidence() -> None:
    n = estimate_meal_nutrients("2 bowls of rice", {"rice": RICE})
    assert n.carbs_g == pytest.approx(2 * 158.0 * 0.28)
    assert n.confidence < RICE.confidence


def test_committed_table_covers_common_items() -> None:
    table = load_match_table()
    for name in ("rice", "milk", "egg", "coarse grain"):
        assert name in table and table[name].carbs_g >= 0 and 0 <= table[name].confidence <= 1


@given(st.text(max_size=200))
def test_parser_never_crashes_on_free_text(text: str) -> None:
    for item in parse_meal_text(text):
        assert item.grams is None or item.grams >= 0


def test_match_coverage_counts_items_and_grams() -> None:
    cover = measure_match_coverage(["Rice 200 g\nMystery dish 100 g", "Rice 100 g"], {"rice": RICE})
    assert (cover.meals, cover.items, cover.good_items) == (2, 3, 2)
    assert cover.gram_share == pytest.approx(300 / 400) and cover.item_share == pytest.approx(2 / 3)


def test_chinese_only_log_is_matched_through_the_word_list() -> None:
    item = parse_food_line("80g米饭")
    assert item is not None and item.grams == 80 and item.name == "米饭"
    n = estimate_meal_nutrients("米饭150g\n鸡蛋50g")
    assert n.carbs_g > 30 and n.confidence > 0.6 and not n.unmatched
    counted = parse_food_line("2块饼干")
    assert counted is not None and (counted.name, counted.count) == ("饼干", 2.0)
