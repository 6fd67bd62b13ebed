"""The committed food table: coverage, consistency and parsing errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vision.taxonomy import (
    CATEGORIES,
    FOOD_TABLE_COLUMNS,
    FOOD_TABLE_PATH,
    ROLES,
    TaxonomyError,
    load_food_classes,
    role_matrix,
)


def test_committed_table_loads_with_every_role() -> None:
    foods = load_food_classes()
    assert len(foods) >= 80
    assert {f.role for f in foods} == set(ROLES)
    assert all(f.category in CATEGORIES for f in foods)


def test_table_names_imagenet_food_and_the_settings_that_signal_a_dish() -> None:
    by_name = {f.name: f for f in load_food_classes()}
    assert by_name["pizza"].imagenet_index == 963 and by_name["pizza"].role == "food"
    for setting in ("plate", "soup bowl", "frying pan", "dining table", "mixing bowl"):
        assert by_name[setting].role == "setting"
    assert by_name["espresso"].category == "drinks"
    assert by_name["bolete"].category == "vegetables_salads"  # mushrooms are food evidence


def test_nutrition_is_plausible() -> None:
    for food in load_food_classes():
        assert 0 <= food.carbs_g_per_100g <= 100
        assert food.sugars_g_per_100g <= food.carbs_g_per_100g + 1e-6
        macros_kcal = 4 * food.carbs_g_per_100g + 9 * food.fat_g_per_100g + 4 * food.protein_g_per_100g
        if food.category != "drinks":  # wine and beer: alcohol carries most of their energy
            # Atwater factors agree within 25 % (fibre and rounding explain the rest).
            assert abs(macros_kcal - food.kcal_per_100g) <= 0.25 * food.kcal_per_100g + 15, food.name
        assert food.fdc_descriptions and all(food.fdc_descriptions)


def test_settings_have_wider_portions_than_named_foods() -> None:
    foods = load_food_classes()
    settings = [f.portion_gsd for f in foods if f.role == "setting"]
    named = [f.portion_gsd for f in foods if f.role == "food"]
    assert np.median(settings) > np.median(named)


def test_role_matrix_is_one_hot() -> None:
    foods = load_food_classes()
    matrix = role_matrix(foods)
    assert matrix.shape == (len(foods), len(ROLES))
    np.testing.assert_array_equal(matrix.sum(axis=1), 1.0)


def _write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "table.csv"
    path.write_text(",".join(FOOD_TABLE_COLUMNS) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


_GOOD = "rice bowl,rice_grain,food,,28,0,0.4,0.3,2.7,130,200,1.5,retrained,survey_fndds_food,Rice"


def test_appended_retrained_class_without_imagenet_index_parses(tmp_path: Path) -> None:
    (food,) = load_food_classes(_write(tmp_path, [_GOOD]))
    assert (
        food.imagenet_index is None
        and food.source == "retrained"
        and food.category_label == "rice and grain dishes"
    )


@pytest.mark.parametrize(
    "bad",
    [
        _GOOD.replace("rice_grain", "rice"),  # unknown category
        _GOOD.replace(",food,", ",meal,"),  # unknown role
        _GOOD.replace(",200,1.5,", ",200,0.9,"),  # spread must exceed 1
        _GOOD.replace(",28,", ",lots,"),  # not a number
    ],
)
def test_bad_rows_are_named_errors(tmp_path: Path, bad: str) -> None:
    with pytest.raises(TaxonomyError, match="line 2"):
        load_food_classes(_write(tmp_path, [bad]))


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="duplicate"):
        load_food_classes(_write(tmp_path, [_GOOD, _GOOD]))


def test_missing_table_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="build-food-table"):
        load_food_classes(tmp_path / "absent.csv")


def test_default_path_is_the_packaged_csv() -> None:
    assert FOOD_TABLE_PATH.is_file() and FOOD_TABLE_PATH.parent.name == "data"
