"""Exercise and sleep effects: heart rate from steps, Breton's activation, sleep-loss factor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glucose_model.simulator import lifestyle


def test_one_short_night_costs_about_a_fifth_of_insulin_sensitivity() -> None:
    """Donga 2010: 4 h of sleep lowered peripheral insulin sensitivity by ~21 %; 7 h or more: none."""
    assert float(lifestyle.sleep_sensitivity_factor(4.0)) == pytest.approx(0.79)
    assert float(lifestyle.sleep_sensitivity_factor(7.0)) == 1.0
    assert float(lifestyle.sleep_sensitivity_factor(9.0)) == 1.0


@given(hours=st.floats(min_value=0.0, max_value=14.0), more=st.floats(min_value=0.0, max_value=5.0))
def test_more_sleep_never_lowers_sensitivity(hours: float, more: float) -> None:
    assert lifestyle.sleep_sensitivity_factor(hours + more) >= lifestyle.sleep_sensitivity_factor(hours)


def test_brisk_walk_raises_heart_rate_by_about_thirty() -> None:
    assert 25.0 <= float(lifestyle.heart_rate_rise_from_steps(110.0)) <= 35.0
    assert float(lifestyle.heart_rate_rise_from_steps(-5.0)) == 0.0


def test_effort_activation_is_half_at_threshold_and_monotone() -> None:
    rises = np.linspace(0.0, 80.0, 50)
    activation = lifestyle.effort_activation(rises)
    assert activation[0] == 0.0 and np.all(np.diff(activation) >= 0) and activation[-1] < 1.0
    assert float(lifestyle.effort_activation(lifestyle.EFFORT_HALF_ACTIVATION_BPM)) == pytest.approx(0.5)
