"""The carb ratio each type 1 subject is prescribed, found the way a clinic titrates it.

A subject's ratio must match its own insulin sensitivity, otherwise every bolus over- or
under-shoots and the cohort is full of lows that no real, stable patient has. The UVA/Padova
simulator ships an "optimal" ratio per virtual patient for the same reason. Here the ratio is
titrated in silico: a 50 g test meal with boluses over a grid of ratios around the 500 rule, and
the ratio whose glucose 4-8 h later is closest to the subject's own fasting value, without going
below 70 mg/dL, is the subject's optimum. A personal error on top (log-normal, CV 15 %) stands
for imperfect titration in real life.
"""

from __future__ import annotations

import numpy as np

from glucose_model.simulator.meal_experiment import simulate_meal_response
from glucose_model.simulator.parameters import PersonParameters

TITRATION_MEAL_CARBS_G = 50.0
TITRATION_MULTIPLIERS = np.geomspace(0.4, 2.5, 13)  # times the 500-rule ratio
TITRATION_ERROR_CV = 0.15
TITRATION_HOURS = 8
_LOW_PENALTY_PER_MG_DL = 5.0


def fit_carb_ratios(people: PersonParameters, rng: np.random.Generator) -> PersonParameters:
    """Subjects with each type 1 carb ratio titrated (others unchanged)."""
    type1 = np.flatnonzero(people.is_type1)
    if type1.size == 0:
        return people
    k = TITRATION_MULTIPLIERS.size
    trial = people.take(np.repeat(type1, k))  # (T1 * k,) every subject under every ratio
    ratio = trial.carb_ratio_g_per_unit * np.tile(TITRATION_MULTIPLIERS, type1.size)
    response = simulate_meal_response(
        trial,
        TITRATION_MEAL_CARBS_G,
        bolus_units=TITRATION_MEAL_CARBS_G / ratio,
        duration_min=TITRATION_HOURS * 60,
        record_every_min=5,
    )
    glucose = response.plasma_glucose_mg_dl  # (T1 * k, 61)
    late = glucose[:, response.minutes >= 240].mean(axis=1)  # 4-8 h: after the bolus's whole tail
    too_low = np.maximum(70.0 - glucose.min(axis=1), 0.0)
    score = np.abs(late - trial.glucose_basal_mg_dl) + _LOW_PENALTY_PER_MG_DL * too_low
    best = np.argmin(score.reshape(type1.size, k), axis=1)
    sigma = np.sqrt(np.log1p(TITRATION_ERROR_CV**2))
    error = np.exp(sigma * rng.standard_normal(type1.size) - 0.5 * sigma * sigma)
    ratios = people.carb_ratio_g_per_unit.copy()
    ratios[type1] = ratio.reshape(type1.size, k)[np.arange(type1.size), best] * error
    return people.with_values(carb_ratio_g_per_unit=ratios)
