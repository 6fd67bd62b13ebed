"""Meal composition: the reference meal keeps the published rates; fat, protein, fibre only slow."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from glucose_model.simulator import meal_composition as mc

grams = st.floats(min_value=0.0, max_value=150.0, allow_nan=False)


def test_reference_meal_keeps_dalla_mans_rates() -> None:
    scale = mc.emptying_scale(mc.REFERENCE_MEAL_FAT_G, mc.REFERENCE_MEAL_PROTEIN_G, mc.REFERENCE_MEAL_FIBER_G)
    assert float(scale) == 1.0
    assert float(mc.absorption_scale(mc.REFERENCE_GLYCEMIC_INDEX)) == 1.0


def test_carbohydrate_alone_empties_faster_than_the_mixed_meal() -> None:
    assert float(mc.emptying_scale(0.0, 0.0, 0.0)) > 1.5


@given(fat=grams, protein=grams, fiber=grams, extra=st.floats(min_value=0.1, max_value=50.0))
def test_adding_fat_protein_or_fibre_never_speeds_emptying(
    fat: float, protein: float, fiber: float, extra: float
) -> None:
    base = mc.emptying_scale(fat, protein, fiber)
    for more in (
        mc.emptying_scale(fat + extra, protein, fiber),
        mc.emptying_scale(fat, protein + extra, fiber),
        mc.emptying_scale(fat, protein, fiber + extra),
    ):
        assert more <= base
    low, high = mc.EMPTYING_SCALE_RANGE
    assert low <= base <= high


@given(gi=st.floats(min_value=0.0, max_value=110.0), step=st.floats(min_value=0.1, max_value=50.0))
def test_higher_glycaemic_index_never_absorbs_slower(gi: float, step: float) -> None:
    assert mc.absorption_scale(gi + step) >= mc.absorption_scale(gi)
    assert mc.ABSORPTION_SCALE_RANGE[0] <= mc.absorption_scale(gi) <= mc.ABSORPTION_SCALE_RANGE[1]


def test_vectorised_over_meals() -> None:
    scales = mc.emptying_scale(
        np.array([0.0, 35.0, 80.0]), np.array([0.0, 29.0, 60.0]), np.array([0.0, 5.0, 15.0])
    )
    assert scales.shape == (3,) and scales[0] > scales[1] > scales[2]
