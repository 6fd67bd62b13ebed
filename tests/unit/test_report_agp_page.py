"""The person's own text on the pages: whatever they typed draws (no math mode, no control characters)."""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, datetime

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from glucose_model.meal_summary import MealOutcome, MealSlot
from glucose_model.metrics import MealResponse
from glucose_model.records import Meal
from glucose_model.report.agp_page import plain_text
from glucose_model.report.meal_pages import draw_meal_table_page
from glucose_model.report.units import DisplayUnit


@given(st.text())
def test_plain_text_is_one_line_without_control_characters(text: str) -> None:
    out = plain_text(text)
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in out)
    assert out == out.strip() and "  " not in out


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # unusual scripts draw as boxes, not errors
@settings(max_examples=6, deadline=None)
@given(st.text(min_size=1, max_size=60))
def test_any_meal_description_draws(description: str) -> None:
    meal = Meal(time=datetime(2024, 1, 1, 8, tzinfo=UTC), carbs_g=40.0, description=description)
    response = MealResponse(120.0, 190.0, 70.0, 60.0, 4000.0)
    outcome = MealOutcome(
        meal, MealSlot.BREAKFAST, np.arange(-180, 181, 5), np.full(73, 120.0), response, None, None, True
    )
    fig = Figure(figsize=(8.27, 11.69))
    FigureCanvasAgg(fig)
    with matplotlib.rc_context({"text.parse_math": False}):  # as render_report draws
        printed = draw_meal_table_page(fig, [outcome], DisplayUnit.MG_DL, first_row=1)
        fig.savefig(io.BytesIO(), format="png", dpi=20)
    assert printed == {"meal_1_peak": "190", "meal_1_rise": "+70"}
