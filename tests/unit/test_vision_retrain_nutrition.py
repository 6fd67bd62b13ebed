"""The nutrition file of `train vision --nutrition`: a user-supplied CSV, parsed or refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.vision_version import DEFAULT_PORTION_GSD, NutritionFileError, read_nutrition_file

HEADER = "label,category,carbs_g_per_serving,kcal_per_serving,portion_gsd\n"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "nutrition.csv"
    path.write_text(body, encoding="utf-8")
    return path


def test_per_serving_rows_become_classes_in_label_order(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + "soup,soups_stews,12,180,\nbread,bread_bakery,40,210,1.4\n")
    bread, soup = read_nutrition_file(path, ["bread", "soup"])
    assert (bread.name, bread.carbs_g_per_100g, bread.kcal_per_100g, bread.portion_gsd) == (
        "bread",
        40.0,
        210.0,
        1.4,
    )
    # A serving is 100 g, so the per-100 g figures are the per-serving ones.
    assert soup.portion_g == 100.0 and soup.portion_gsd == DEFAULT_PORTION_GSD
    assert soup.category == "soups_stews" and soup.role == "food"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (HEADER + "bread,bread_bakery,40,210,\n", r"no row for the classes \['soup'\]"),
        (HEADER + "bread,bakery,40,210,\nsoup,soups_stews,1,2,\n", "category must be one of"),
        (
            HEADER + "bread,bread_bakery,lots,210,\nsoup,soups_stews,1,2,\n",
            "carbs_g_per_serving must be a number",
        ),
        (HEADER + "bread,bread_bakery,-4,210,\nsoup,soups_stews,1,2,\n", "must be finite and >= 0"),
        (HEADER + "bread,bread_bakery,4,210,0.5\nsoup,soups_stews,1,2,\n", "portion_gsd > 1"),
    ],
)
def test_bad_rows_are_a_named_error_that_says_what_to_fix(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(NutritionFileError, match=message):
        read_nutrition_file(_write(tmp_path, body), ["bread", "soup"])


_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["bread", "soup"]) | _cell, st.sampled_from(["bread_bakery"]) | _cell
        ).flatmap(lambda head: st.lists(_cell, max_size=3).map(lambda rest: [*head, *rest])),
        max_size=4,
    )
)
def test_any_csv_text_is_parsed_or_refused_with_the_named_error(
    tmp_path_factory, rows: list[list[str]]
) -> None:
    body = HEADER + "\n".join(",".join(cell.replace(",", "") for cell in row) for row in rows) + "\n"
    path = _write(tmp_path_factory.mktemp("nutrition"), body)
    try:
        foods = read_nutrition_file(path, ["bread"])
    except NutritionFileError:
        return
    assert [f.name for f in foods] == ["bread"] and foods[0].carbs_g_per_100g >= 0
