"""Clarke error grid zones on points whose zone is known from the published grid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glucose_model.clarke import ZONES, clarke_zones, zone_percentages


@pytest.mark.parametrize(
    ("reference", "predicted", "zone"),
    [
        (100, 100, "A"),
        (100, 119, "A"),  # within 20 %
        (50, 65, "A"),  # both hypoglycaemic
        (100, 130, "B"),  # 30 % high, benign
        (300, 200, "B"),
        (200, 50, "E"),  # a high read as a low
        (50, 200, "E"),  # a low read as a high
        (100, 250, "C"),  # overcorrection of a normal value
        (150, 20, "C"),
        (300, 100, "D"),  # a high missed
        (50, 100, "D"),  # a low missed
        (65, 90, "D"),
    ],
)
def test_known_points_fall_in_their_zone(reference: float, predicted: float, zone: str) -> None:
    assert clarke_zones([reference], [predicted])[0] == zone


def test_percentages_count_each_pair_once() -> None:
    got = zone_percentages([100, 200, 300, 50], [100, 50, 100, np.nan])
    assert got == pytest.approx({"A": 100 / 3, "B": 0.0, "C": 0.0, "D": 100 / 3, "E": 100 / 3})


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="one shape"):
        clarke_zones([100, 120], [100])


@given(st.lists(st.tuples(st.floats(20, 500), st.floats(20, 500)), min_size=1, max_size=30))
def test_percentages_sum_to_100(pairs: list[tuple[float, float]]) -> None:
    ref, pred = np.array(pairs).T
    got = zone_percentages(ref, pred)
    assert set(got) == set(ZONES)
    assert sum(got.values()) == pytest.approx(100.0)


@given(st.floats(20, 500))
def test_a_perfect_prediction_is_zone_a(glucose: float) -> None:
    assert clarke_zones([glucose], [glucose])[0] == "A"
