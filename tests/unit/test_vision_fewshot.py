"""Personal classes from embeddings: prototypes, scoring, the request parser, merging into a result."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vision.fewshot import (
    MAX_SHOTS,
    FewShotError,
    apply_personal_classes,
    build_prototype,
    make_personal_class,
    parse_personal_classes,
    score_personal_classes,
)
from vision.recognition import FoodGuess, NutrientEstimate, Recognition

DIM = 16


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _recognition(embedding: np.ndarray) -> Recognition:
    guesses = (
        FoodGuess("pizza", "mixed_plates", "mixed plates", "food", 0.2),
        FoodGuess("burrito", "mixed_plates", "mixed plates", "food", 0.1),
    )
    plate = (FoodGuess("plate", "mixed_plates", "mixed plates", "setting", 0.5),)
    estimate = NutrientEstimate(60.0, 30.0, 120.0)
    kcal = NutrientEstimate(600.0, 300.0, 900.0)
    return Recognition(guesses, True, 0.9, estimate, kcal, embedding, settings=plate)


@given(st.integers(1, MAX_SHOTS), st.integers(0, 1000))
def test_prototype_is_unit_length_and_ignores_shot_order(shots: int, seed: int) -> None:
    x = _unit(np.random.default_rng(seed), shots)
    prototype = build_prototype(x)
    assert np.isclose(np.linalg.norm(prototype), 1.0, atol=1e-5)
    assert np.allclose(prototype, build_prototype(x[::-1]), atol=1e-6)


@pytest.mark.parametrize("shots", [0, MAX_SHOTS + 1])
def test_too_few_or_too_many_shots_is_refused(shots: int) -> None:
    with pytest.raises(FewShotError, match="1 to"):
        build_prototype(np.ones((shots, DIM), np.float32))


def test_a_photo_close_to_a_personal_class_takes_its_carbs_and_a_far_one_keeps_the_model() -> None:
    rng = np.random.default_rng(0)
    shots = _unit(rng, 3)
    dumpling = make_personal_class("grandma's dumplings", shots, (40.0, 55.0, 70.0))
    model_probabilities = np.array([0.5, 0.2], np.float32)
    model_carbs = np.array([30.0, 60.0, 120.0], np.float32)
    near = score_personal_classes(model_probabilities, model_carbs, dumpling.prototype, [dumpling])
    far = score_personal_classes(model_probabilities, model_carbs, -dumpling.prototype, [dumpling])
    assert near.personal_probabilities[0] > 0.99 and np.allclose(near.carbs_g, [40, 55, 70], atol=0.5)
    assert far.personal_probabilities[0] < 1e-6 and np.allclose(far.model_probabilities, model_probabilities)
    # Total mass is conserved: w_0 * sum(p) + sum(w_c) with sum(w) = 1.
    assert np.isclose(
        near.model_probabilities.sum() / 0.7 + near.personal_probabilities.sum(), 1.0, atol=1e-5
    )


def test_apply_personal_classes_puts_the_matching_dish_first() -> None:
    rng = np.random.default_rng(1)
    shots = _unit(rng, 5)
    dish = make_personal_class("injera", shots, (30.0, 45.0, 60.0), kcal=350.0, category="bread_bakery")
    result = apply_personal_classes(_recognition(dish.prototype), dish.prototype, [dish])
    assert result.foods[0].name == "injera" and result.foods[0].category_label == "bread and bakery"
    assert len(result.foods) == 2
    assert result.carbs_g.low <= result.carbs_g.estimate <= result.carbs_g.high
    assert abs(result.carbs_g.estimate - 45.0) < 1.0 and abs(result.kcal.estimate - 350.0) < 5.0
    untouched = apply_personal_classes(_recognition(dish.prototype), dish.prototype, [])
    assert untouched.foods[0].name == "pizza" and untouched.settings[0].name == "plate"


def test_prototypes_of_another_model_are_refused() -> None:
    dish = make_personal_class("x", np.ones((1, DIM), np.float32), (1.0, 2.0, 3.0))
    with pytest.raises(FewShotError, match="embedding has"):
        score_personal_classes(
            np.ones(2, np.float32), np.ones(3, np.float32), np.ones(DIM + 1, np.float32), [dish]
        )


def test_parse_personal_classes_accepts_the_documented_shape() -> None:
    raw = [{"name": " Injera ", "prototype": [1.0] + [0.0] * (DIM - 1), "carbs_g": [30, 45, 60], "shots": 4}]
    (dish,) = parse_personal_classes(raw, DIM)
    assert dish.name == "Injera" and dish.shots == 4 and dish.category == "mixed_plates"
    assert np.isclose(np.linalg.norm(dish.prototype), 1.0)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"name": "", "prototype": [1.0] * DIM, "carbs_g": [1, 2, 3]}, "name"),
        ({"name": "a", "prototype": [1.0] * (DIM - 1), "carbs_g": [1, 2, 3]}, f"list of {DIM} numbers"),
        ({"name": "a", "prototype": [0.0] * DIM, "carbs_g": [1, 2, 3]}, "not all zero"),
        ({"name": "a", "prototype": [1.0] * DIM, "carbs_g": [3, 2, 1]}, "ordered"),
        ({"name": "a", "prototype": [1.0] * DIM, "carbs_g": [1, 2, 3], "shots": 11}, "shots"),
        ({"name": "a", "prototype": [1.0] * DIM, "carbs_g": [1, 2, 3], "category": "x"}, "category"),
        # Clinical caps: 1e6 g gave a 345,502 mg/dL peak, 1e308 a null estimate (issue 18).
        ({"name": "a", "prototype": [1.0] * DIM, "carbs_g": [1, 2, 1e6]}, "from 0 to 1000"),
        ({"name": "a", "prototype": [1.0] * DIM, "carbs_g": [1e308, 1e308, 1e308]}, "from 0 to 1000"),
        ({"name": "a", "prototype": [1.0] * DIM, "carbs_g": [1, 2, 3], "kcal": 1e308}, "kcal"),
        # A misspelt optional key is refused, not dropped (it would silently take the default).
        ({"name": "a", "prototype": [1.0] * DIM, "carbs_g": [1, 2, 3], "shot": 3}, "unknown field.*'shot'"),
    ],
)
def test_bad_personal_classes_say_what_is_wrong(item: dict, message: str) -> None:
    with pytest.raises(FewShotError, match=message):
        parse_personal_classes([item], DIM)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_parser_only_ever_raises_its_named_error(raw: object) -> None:
    try:
        classes = parse_personal_classes(raw, DIM)
    except FewShotError as err:
        assert str(err)
        return
    assert all(np.isclose(np.linalg.norm(c.prototype), 1.0) for c in classes)
