"""Nutrition5k parsing and the portion / carbohydrate-coverage checks of training/vision_portions.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.vision_portions import (
    MEAL_MIN_KCAL,
    Nutrition5kFormatError,
    WeighedDish,
    carbs_energy_share,
    expected_carbs_coverage,
    read_dishes,
    read_ingredient_carbs_per_100g,
)

_ROW = (
    "dish_1,400.0,350,10.0,50.0,20.0,"
    "ingr_1,white rice,200,260,0.6,56.0,5.4,ingr_2,chicken,150,140,9.4,0.0,14.6" + "," * 10
)


def test_read_dishes_parses_totals_and_ingredients_ignoring_padding(tmp_path: Path) -> None:
    path = tmp_path / "dishes.csv"
    path.write_text(_ROW + "\n", encoding="utf-8")
    (dish,) = read_dishes(path)
    assert (dish.dish_id, dish.kcal, dish.mass_g, dish.carbs_g) == ("dish_1", 400.0, 350.0, 50.0)
    assert dish.ingredients == (("white rice", 200.0, 56.0), ("chicken", 150.0, 0.0))


def test_read_dishes_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "dishes.csv"
    path.write_text(_ROW + "\ndish_2,1,2,3\n", encoding="utf-8")
    with pytest.raises(Nutrition5kFormatError, match="line 2"):
        read_dishes(path)
    with pytest.raises(Nutrition5kFormatError, match="not found"):
        read_dishes(tmp_path / "absent.csv")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.,-abe", max_size=40), min_size=1, max_size=4))
def test_read_dishes_either_parses_or_raises_the_named_error(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    path = tmp_path_factory.mktemp("n5k") / "dishes.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        dishes = read_dishes(path)
    except Nutrition5kFormatError:
        return
    assert len(dishes) == len(lines)  # one dish per line, never a line dropped silently


def test_ingredient_carbs_are_per_100g(tmp_path: Path) -> None:
    path = tmp_path / "ingredients.csv"
    path.write_text("ingr,id,cal/g,fat(g),carb(g),protein(g)\nbanana,55,0.890,0.003,0.230,0.011\n")
    assert read_ingredient_carbs_per_100g(path) == {"banana": pytest.approx(23.0)}
    path.write_text("name,carbs\nbanana,0.2\n")
    with pytest.raises(Nutrition5kFormatError, match="carb"):
        read_ingredient_carbs_per_100g(path)


def _dish(kcal: float, carbs_g: float) -> WeighedDish:
    return WeighedDish("d", kcal, 300.0, carbs_g, ())


def test_expected_coverage_counts_pairs_inside_the_interval() -> None:
    # 0.1 and 0.2 g per kcal: a 500 kcal meal then holds 50 or 100 g; the interval 40..60 g holds one.
    dishes = [_dish(400.0, 40.0), _dish(400.0, 80.0), _dish(MEAL_MIN_KCAL - 1, 500.0)]
    intervals = np.array([[40.0, 50.0, 60.0]], dtype=np.float32)
    assert expected_carbs_coverage(np.array([500.0]), intervals, dishes) == pytest.approx(0.5)
    wide = np.array([[1.0, 50.0, 200.0]], dtype=np.float32)
    assert expected_carbs_coverage(np.array([500.0]), wide, dishes) == pytest.approx(1.0)
    with pytest.raises(Nutrition5kFormatError):
        expected_carbs_coverage(np.array([500.0]), intervals, [_dish(100.0, 10.0)])


def test_carbs_energy_share_uses_meal_sized_dishes_only() -> None:
    shares = carbs_energy_share([_dish(400.0, 50.0), _dish(100.0, 25.0)])
    assert shares == [0.5, 0.5, 0.5]
