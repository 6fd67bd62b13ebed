"""Exact Shapley values over the factor groups and the coalition batch built against the reference meal."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from glucose_model.explanation import (
    N_COALITIONS,
    N_GROUPS,
    ReferenceMeal,
    ReferenceMealError,
    coalition_inputs,
    reference_meal_metadata,
    shapley_values,
)
from glucose_model.features import CGM_POINTS, FEATURE_INDEX, N_FEATURES, ModelInputs


@functools.cache
def brute_force_weights() -> np.ndarray:
    """(N_GROUPS, N_COALITIONS): the textbook definition (average marginal contribution over all
    orderings of the groups) written out once as the linear map it is, so each example is one product."""
    weights = np.zeros((N_GROUPS, N_COALITIONS))
    for order in itertools.permutations(range(N_GROUPS)):
        coalition = 0
        for g in order:
            weights[g, coalition | (1 << g)] += 1.0
            weights[g, coalition] -= 1.0
            coalition |= 1 << g
    return weights / math.factorial(N_GROUPS)


def brute_force_shapley(value: np.ndarray) -> np.ndarray:
    return np.asarray(brute_force_weights() @ value)


@given(hnp.arrays(np.float64, N_COALITIONS, elements=st.floats(-500, 500)))
def test_shapley_values_match_the_definition_and_sum_to_all_minus_none(values: np.ndarray) -> None:
    phi = shapley_values(values)
    np.testing.assert_allclose(phi, brute_force_shapley(values), atol=1e-6)
    assert phi.sum() == pytest.approx(values[-1] - values[0], abs=1e-6)


def test_an_additive_value_function_gets_its_own_terms_back() -> None:
    terms = np.array([10.0, -3.0, 5.0, 0.0, 2.5, -7.0])
    values = np.array([sum(terms[g] for g in range(N_GROUPS) if c >> g & 1) for c in range(N_COALITIONS)])
    np.testing.assert_allclose(shapley_values(values), terms, atol=1e-9)


def test_coalitions_run_from_the_reference_to_the_actual_meal() -> None:
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 100, (1, N_FEATURES)).astype(np.float32)
    for kind in ("none", "prediabetes", "type1"):
        features[0, FEATURE_INDEX[f"kind_{kind}"]] = 0.0
    features[0, FEATURE_INDEX["kind_type2"]] = 1.0
    actual = ModelInputs(
        rng.normal(0, 10, (1, CGM_POINTS)).astype(np.float32), np.ones((1, CGM_POINTS), np.float32), features
    )
    reference = ReferenceMeal.from_metadata(reference_meal_metadata())
    batch = coalition_inputs(actual, reference)
    assert batch.features.shape == (N_COALITIONS, N_FEATURES)
    np.testing.assert_array_equal(batch.features[-1], actual.features[0])
    np.testing.assert_array_equal(batch.cgm_rel_mg_dl[-1], actual.cgm_rel_mg_dl[0])
    assert batch.features[0, FEATURE_INDEX["carbs_g"]] == 50.0
    assert batch.features[0, FEATURE_INDEX["baseline_glucose_mg_dl"]] == 140.0  # type 2's reference level
    assert (batch.cgm_rel_mg_dl[0] == 0).all()  # a flat reference trace
    # The person's kind and threshold are kept in every coalition.
    assert (batch.features[:, FEATURE_INDEX["kind_type2"]] == 1.0).all()


def test_a_reference_without_every_feature_is_refused() -> None:
    entry = reference_meal_metadata()
    del entry["features"]["carbs_g"]  # type: ignore[attr-defined]
    with pytest.raises(ReferenceMealError, match="carbs_g"):
        ReferenceMeal.from_metadata(entry)
