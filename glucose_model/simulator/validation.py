"""The simulator against published numbers, as a table anyone can regenerate (`mealimpact check-simulator`).

The same response metrics are used by the unit tests (which assert the ranges) and by this report
(which prints the measured values beside the literature), so the numbers in docs come from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from glucose_model.metrics import positive_incremental_auc
from glucose_model.records import DiabetesKind
from glucose_model.simulator.cohort import CohortConfig, draw_subjects, simulate_cohort
from glucose_model.simulator.meal_experiment import MealResponse, simulate_meal_response

FloatArray = npt.NDArray[np.float64]

TYPICAL_MEAL_CARBS_G = 60.0  # mixed meal; simulate_meal_response's default composition
WALK_START_MIN = 20.0  # a 15-min brisk walk right after a 10-min meal
WALK_DURATION_MIN = 15.0


def rise_mg_dl(response: MealResponse) -> FloatArray:
    """(P,) peak of the noise-free CGM (interstitial) trace above its value at the meal start."""
    g = response.interstitial_glucose_mg_dl
    return g.max(axis=1) - g[:, 0]


def time_to_peak_min(response: MealResponse) -> FloatArray:
    return response.minutes[np.argmax(response.interstitial_glucose_mg_dl, axis=1)].astype(np.float64)


def iauc_3h_mg_dl_min(response: MealResponse) -> FloatArray:
    """(P,) positive incremental area over the whole response (3 h by default), as `metrics` defines it."""
    minutes = response.minutes.astype(np.float64)
    return np.array(
        [positive_incremental_auc(minutes, g, float(g[0])) for g in response.interstitial_glucose_mg_dl]
    )


def split_by_kind(
    response: MealResponse, kinds: list[DiabetesKind], each: int
) -> dict[DiabetesKind, MealResponse]:
    """Cut a response of `each` subjects per kind (in the order of `kinds`) into one per kind."""
    return {
        kind: MealResponse(
            response.minutes,
            response.plasma_glucose_mg_dl[i * each : (i + 1) * each],
            response.interstitial_glucose_mg_dl[i * each : (i + 1) * each],
            response.baseline_mg_dl[i * each : (i + 1) * each],
        )
        for i, kind in enumerate(kinds)
    }


@dataclass(frozen=True)
class Check:
    """One published number and what the simulator gives."""

    what: str
    source: str
    expected: str
    low: float
    high: float
    measured: float

    @property
    def passed(self) -> bool:
        return self.low <= self.measured <= self.high


def run_checks(subjects_per_kind: int = 30, seed: int = 11) -> list[Check]:
    """Simulate the published experiments on fresh virtual subjects and compare."""
    kinds = [DiabetesKind.NONE, DiabetesKind.PREDIABETES, DiabetesKind.TYPE2]
    people = draw_subjects([k for k in kinds for _ in range(subjects_per_kind)], seed=seed)
    sitting = split_by_kind(simulate_meal_response(people, TYPICAL_MEAL_CARBS_G), kinds, subjects_per_kind)
    walking = split_by_kind(
        simulate_meal_response(
            people, TYPICAL_MEAL_CARBS_G, walk_start_min=WALK_START_MIN, walk_duration_min=WALK_DURATION_MIN
        ),
        kinds,
        subjects_per_kind,
    )
    healthy = sitting[DiabetesKind.NONE]
    checks = [
        Check(
            "healthy: median CGM rise, 60 g mixed meal (mg/dL)",
            "Zignoli 2024",
            "~30",
            22,
            40,
            float(np.median(rise_mg_dl(healthy))),
        ),
        Check(
            "healthy: median time to peak (min)",
            "Zignoli 2024",
            "~50",
            35,
            70,
            float(np.median(time_to_peak_min(healthy))),
        ),
    ]
    for kind, low in ((DiabetesKind.PREDIABETES, 40.0), (DiabetesKind.TYPE2, 70.0)):
        checks.append(
            Check(
                f"{kind.value}: median CGM rise (mg/dL)",
                "Dalla Man 2007; Hall 2018",
                "above the kind before",
                low,
                200,
                float(np.median(rise_mg_dl(sitting[kind]))),
            )
        )
    for kind in kinds:
        reduction = 1.0 - iauc_3h_mg_dl_min(walking[kind]).sum() / iauc_3h_mg_dl_min(sitting[kind]).sum()
        checks.append(
            Check(
                f"{kind.value}: 3-h iAUC lower with a 15-min walk (%)",
                "Reynolds 2016",
                "12-22",
                9,
                25,
                100.0 * reduction,
            )
        )
    type1 = draw_subjects([DiabetesKind.TYPE1] * subjects_per_kind, seed=seed)
    bolused = simulate_meal_response(type1, TYPICAL_MEAL_CARBS_G)
    unbolused = simulate_meal_response(type1, TYPICAL_MEAL_CARBS_G, bolus_units=0.0)
    checks += [
        Check(
            "type1: median rise without bolus (mg/dL)",
            "no insulin at all (no published single value)",
            "large: > 90",
            90,
            200,
            float(np.median(rise_mg_dl(unbolused))),
        ),
        Check(
            "type1: median rise with own carb ratio (mg/dL)",
            "rapid insulin lags absorption (no published single value)",
            "clearly smaller: < 80",
            30,
            80,
            float(np.median(rise_mg_dl(bolused))),
        ),
    ]
    day = simulate_cohort(CohortConfig(people=tuple((k, 5) for k in DiabetesKind), days=1, seed=seed))
    mard = np.mean(np.abs(day.cgm_mg_dl - day.plasma_glucose_mg_dl) / day.plasma_glucose_mg_dl)
    checks.append(
        Check(
            "CGM MARD against plasma glucose (%)",
            "Dexcom G6 9.0 %, Libre 2 9.2 %",
            "8-10",
            7,
            12,
            100.0 * float(mard),
        )
    )
    return checks


def format_checks(checks: list[Check]) -> str:
    """A markdown table of the checks."""
    lines = ["| check | source | published | simulated | within |", "| --- | --- | --- | --- | --- |"]
    for c in checks:
        lines.append(
            f"| {c.what} | {c.source} | {c.expected} | {c.measured:.1f} | "
            f"{'yes' if c.passed else 'NO'} ({c.low:g}-{c.high:g}) |"
        )
    return "\n".join(lines)
