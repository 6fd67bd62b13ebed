"""The logged meal of a report and the impact request's meal are one schema: same fields, same bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.schemas.meals import MealIn
from serving.schemas.reports import LoggedMeal

MEAL = {"time": "2026-03-01T12:00:00+00:00", "carbs_g": 60}


@pytest.mark.parametrize("field", ["sugars_g", "fiber_g", "fat_g", "protein_g", "carbs_g"])
def test_logged_meal_takes_exactly_the_bounds_of_the_impact_meal(field: str) -> None:
    top = MealIn.model_fields[field].metadata
    assert LoggedMeal.model_fields[field].metadata == top
    LoggedMeal.model_validate({**MEAL, field: 300})  # fibre 300 g: refused by reports before, never by impact
    with pytest.raises(ValidationError):
        LoggedMeal.model_validate({**MEAL, field: 1001})
    with pytest.raises(ValidationError):
        MealIn.model_validate({**MEAL, field: 1001 if field != "fiber_g" else 501})


def test_logged_meal_keeps_its_description() -> None:
    assert LoggedMeal.model_validate({**MEAL, "description": "rice"}).description == "rice"
    with pytest.raises(ValidationError):
        LoggedMeal.model_validate({**MEAL, "description": "x" * 201})
