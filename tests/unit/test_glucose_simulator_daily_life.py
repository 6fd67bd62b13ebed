"""Simulated daily life: meals while awake, walks after meals, sleep 5-9 h, boluses for type 1 only."""

from __future__ import annotations

import numpy as np
import pytest

from glucose_model.records import DiabetesKind
from glucose_model.simulator import daily_life
from glucose_model.simulator.parameters import draw_people

DAYS = 7


@pytest.fixture(scope="module")
def schedule_and_people() -> tuple[daily_life.LifeSchedule, object]:
    people = draw_people([k for k in DiabetesKind for _ in range(10)], np.random.default_rng(4))
    return daily_life.draw_schedule(people, DAYS, np.random.default_rng(4)), people


def test_meals_fall_while_awake_and_have_plausible_composition(schedule_and_people) -> None:
    schedule, _ = schedule_and_people
    meals, sleeps = schedule.meals, schedule.sleeps
    for i in range(len(meals)):
        asleep = (
            (sleeps.person == meals.person[i])
            & (sleeps.start_min <= meals.start_min[i])
            & (meals.start_min[i] < sleeps.end_min)
        )
        assert not asleep.any()
    assert np.all((meals.carbs_g >= 8.0) & (meals.carbs_g <= 120.0))
    assert np.all(meals.sugars_g <= meals.carbs_g) and np.all(meals.fiber_g <= meals.carbs_g)
    assert np.all((meals.glycemic_index >= 35) & (meals.glycemic_index <= 95))
    per_day = len(meals) / (40 * DAYS)
    assert 3.0 <= per_day <= 5.0  # three meals (rarely skipped) plus ~1 snack


def test_sleep_is_five_to_nine_hours(schedule_and_people) -> None:
    schedule, _ = schedule_and_people
    assert np.all((schedule.sleeps.hours >= 5.0 - 1e-9) & (schedule.sleeps.hours <= 9.0 + 1e-9))


def test_walks_follow_main_meals_and_last_ten_to_thirty_minutes(schedule_and_people) -> None:
    schedule, _ = schedule_and_people
    walks, meals = schedule.walks, schedule.meals
    assert walks.person.size > 0
    assert np.all((walks.duration_min >= 10) & (walks.duration_min <= 30))
    for i in range(walks.person.size):
        own = meals.start_min[meals.person == walks.person[i]]
        since_meal = walks.start_min[i] - own[own <= walks.start_min[i]].max()
        assert 0 < since_meal <= 30 + 20 + 1  # after eating (<= 20 min) and a delay of <= 30 min


def test_only_type1_gets_boluses_and_roughly_carbs_over_ratio(schedule_and_people) -> None:
    schedule, people = schedule_and_people
    b = schedule.boluses
    assert np.all(people.is_type1[b.person])
    t1_meals = int(people.is_type1[schedule.meals.person].sum())
    assert 0.85 * t1_meals <= b.person.size <= t1_meals  # ~5 % missed
    assert np.all(b.units > 0) and np.all(b.units * 2 == np.round(b.units * 2))


def test_background_steps_only_while_awake_and_walks_raise_heart_rate(schedule_and_people) -> None:
    schedule, _ = schedule_and_people
    steps = schedule.background_steps_per_min
    assert steps.shape == (40, DAYS * 1440 // daily_life.ACTIVITY_BIN_MIN)
    night_bin = (3 * 60) // daily_life.ACTIVITY_BIN_MIN  # 03:00 on day 0: everyone is asleep
    assert np.all(steps[:, night_bin] == 0)
    w = 0
    start = int(schedule.walks.start_min[w])
    hr = daily_life.heart_rate_rise_per_minute(schedule, start, 5, 40)
    assert hr[:, schedule.walks.person[w]].min() > 15.0
