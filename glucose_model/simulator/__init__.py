"""Physiological simulator of meals, walks, sleep and insulin for four kinds of people (numpy only).

Public API: `simulate_cohort(CohortConfig)` for whole cohorts (arrays and canonical records),
`simulate_meal_response(people, carbs_g, ...)` for single-meal experiments, `draw_subjects` for
virtual subjects, `write_cohort` for the canonical CSV folder.
"""

from glucose_model.simulator.cohort import (
    CohortConfig,
    SimulatedCohort,
    SimulationConfigError,
    draw_subjects,
    parse_people,
    simulate_cohort,
)
from glucose_model.simulator.cohort_files import write_cohort
from glucose_model.simulator.meal_experiment import MealResponse, simulate_meal_response
from glucose_model.simulator.parameters import PersonParameters, draw_people

__all__ = [
    "CohortConfig",
    "MealResponse",
    "PersonParameters",
    "SimulatedCohort",
    "SimulationConfigError",
    "draw_people",
    "draw_subjects",
    "parse_people",
    "simulate_cohort",
    "simulate_meal_response",
    "write_cohort",
]
