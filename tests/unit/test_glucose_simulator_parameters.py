"""Virtual subjects: drawn parameters, the solved basal state, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from glucose_model.records import DiabetesKind, RecordError
from glucose_model.simulator.parameters import (
    FASTING_GLUCOSE_MG_DL,
    POPULATION_PARAMETERS,
    draw_people,
    solve_basal,
)

KINDS = [k for k in DiabetesKind for _ in range(40)]


def test_same_seed_same_people_and_different_seed_different_people() -> None:
    a = draw_people(KINDS, np.random.default_rng(1))
    b = draw_people(KINDS, np.random.default_rng(1))
    c = draw_people(KINDS, np.random.default_rng(2))
    assert np.array_equal(a.vmx, b.vmx) and np.array_equal(a.glucose_basal_mg_dl, b.glucose_basal_mg_dl)
    assert not np.array_equal(a.vmx, c.vmx)


def test_fasting_glucose_stays_in_each_kinds_diagnostic_band() -> None:
    people = draw_people(KINDS, np.random.default_rng(0))
    for kind, (_, _, low, high) in FASTING_GLUCOSE_MG_DL.items():
        rows = np.array([k is kind for k in people.kind])
        assert np.all((people.glucose_basal_mg_dl[rows] >= low) & (people.glucose_basal_mg_dl[rows] <= high))


def test_log_normal_draws_are_positive_and_centred_on_the_published_mean() -> None:
    """Median of 400 draws within 10 % of the mean (cv <= 0.4 gives a median ~2-7 % below the mean)."""
    people = draw_people([DiabetesKind.TYPE2] * 400, np.random.default_rng(0))
    for name in ("vmx", "kp3", "kabs", "k_sec"):
        mean = POPULATION_PARAMETERS[DiabetesKind.TYPE2][name][0]
        values = getattr(people, name)
        assert np.all(values > 0)
        assert abs(np.mean(values) / mean - 1.0) < 0.1


def test_only_type1_has_basal_infusion_and_carb_ratio_and_no_secretion() -> None:
    people = draw_people(KINDS, np.random.default_rng(0))
    t1 = people.is_type1
    assert np.all(people.basal_infusion[t1] > 0) and np.all(people.basal_infusion[~t1] == 0)
    assert np.all(np.isfinite(people.carb_ratio_g_per_unit[t1])) and np.all(
        np.isnan(people.carb_ratio_g_per_unit[~t1])
    )
    assert np.all(people.secretion_basal[t1] == 0) and np.all(people.secretion_basal[~t1] > 0)
    # Plausible total basal insulin of adults with type 1: 10-80 U/day.
    assert np.all((people.basal_units_per_day[t1] > 10) & (people.basal_units_per_day[t1] < 80))


def test_dalla_man_normal_means_reproduce_the_published_derived_values() -> None:
    """With the 2007 normal means (Gb 91.76 mg/dL, Ib 25.49 pmol/L, EGPb 1.92), Vm0 ~2.50 and Sb ~1.54.

    Table I of Dalla Man 2007 lists Vm0 = 2.50 mg/kg/min; m4 = 0.194 = 2/5 Sb/Ipb (1 - HEb) gives Sb.
    Tolerance 2 %: the published values are rounded to 3 digits.
    """
    normal = {name: np.array([mean]) for name, (mean, _) in POPULATION_PARAMETERS[DiabetesKind.NONE].items()}
    normal.update(
        vmx=np.array([0.047]),
        glucose_basal_mg_dl=np.array([91.76]),
        insulin_basal_pmol_l=np.array([25.49]),
        egp_basal=np.array([1.92]),
        sensor_lag_min=np.array([7.0]),
        heart_rate_rest_bpm=np.array([65.0]),
        carb_ratio_g_per_unit=np.array([np.nan]),
    )
    people = solve_basal([DiabetesKind.NONE], normal)
    assert people.vm0[0] == pytest.approx(2.50, rel=0.02)
    assert people.secretion_basal[0] == pytest.approx(0.194 * 25.49 * 0.05 / (0.4 * 0.4), rel=0.02)


def test_no_steady_state_is_a_named_error() -> None:
    drawn = {name: np.array([mean]) for name, (mean, _) in POPULATION_PARAMETERS[DiabetesKind.NONE].items()}
    drawn.update(
        glucose_basal_mg_dl=np.array([90.0]),
        egp_basal=np.array([0.5]),  # below the brain's 1 mg/kg/min: nothing left for the tissues
        sensor_lag_min=np.array([7.0]),
        heart_rate_rest_bpm=np.array([65.0]),
        carb_ratio_g_per_unit=np.array([np.nan]),
    )
    with pytest.raises(RecordError, match="steady state"):
        solve_basal([DiabetesKind.NONE], drawn)


def test_no_people_is_a_named_error() -> None:
    with pytest.raises(RecordError, match="at least one"):
        draw_people([], np.random.default_rng(0))
