"""Writes a simulated cohort as a canonical cohort folder (read back by `cohorts.load_canonical`).

people.csv, cgm.csv, meals.csv, activity.csv, insulin.csv, sleep.csv with ISO 8601 times carrying
their UTC offset, plus a README.md stating what was drawn, from which seed, and how long it took.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from glucose_model.records import DiabetesKind
from glucose_model.simulator import daily_life, lifestyle, meal_composition, parameters, sensor, simulation
from glucose_model.simulator.cohort import SimulatedCohort, activity_bins

CGM_COLUMNS = ("person_id", "time", "glucose_mg_dl")
MEAL_COLUMNS = ("person_id", "time", "carbs_g", "sugars_g", "fiber_g", "fat_g", "protein_g", "glycemic_index")
ACTIVITY_COLUMNS = ("person_id", "time", "duration_min", "steps", "heart_rate_bpm")
INSULIN_COLUMNS = ("person_id", "time", "units", "kind")
SLEEP_COLUMNS = ("person_id", "start", "end")


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    count = 0
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _iso(cohort: SimulatedCohort, minute: float) -> str:
    return cohort.time_at(minute).isoformat(timespec="minutes")


def write_cohort(cohort: SimulatedCohort, folder: Path, command: str = "") -> dict[str, int]:
    """Write every table and the README into `folder` (created); returns rows written per table."""
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    columns = cohort.people.as_columns()
    counts["people"] = _write(
        folder / "people.csv",
        ("person_id", "kind", *columns),
        (
            (pid, cohort.people.kind[p].value, *(f"{columns[name][p]:.6g}" for name in columns))
            for p, pid in enumerate(cohort.person_ids)
        ),
    )
    cgm_times = [_iso(cohort, m) for m in cohort.times_min]
    counts["cgm"] = _write(
        folder / "cgm.csv",
        CGM_COLUMNS,
        (
            (pid, cgm_times[i], int(cohort.cgm_mg_dl[p, i]))
            for p, pid in enumerate(cohort.person_ids)
            for i in range(len(cgm_times))
        ),
    )
    meals = cohort.all_meals()
    counts["meals"] = _write(
        folder / "meals.csv",
        MEAL_COLUMNS,
        (
            (
                cohort.person_ids[meals.person[i]],
                _iso(cohort, meals.start_min[i]),
                *(f"{getattr(meals, name)[i]:.1f}" for name in MEAL_COLUMNS[2:]),
            )
            for i in range(len(meals))
        ),
    )
    counts["activity"] = _write(folder / "activity.csv", ACTIVITY_COLUMNS, _activity_rows(cohort))
    counts["insulin"] = _write(
        folder / "insulin.csv",
        INSULIN_COLUMNS,
        (
            (pid, dose.time.isoformat(timespec="minutes"), f"{dose.units:.1f}", dose.kind.value)
            for p, pid in enumerate(cohort.person_ids)
            for dose in cohort.insulin_of(p)
        ),
    )
    s = cohort.schedule.sleeps
    counts["sleep"] = _write(
        folder / "sleep.csv",
        SLEEP_COLUMNS,
        (
            (cohort.person_ids[s.person[i]], _iso(cohort, s.start_min[i]), _iso(cohort, s.end_min[i]))
            for i in np.lexsort((s.start_min, s.person))
        ),
    )
    (folder / "README.md").write_text(describe(cohort, counts, command))
    return counts


def _activity_rows(cohort: SimulatedCohort) -> Iterable[Sequence[object]]:
    for p, pid in enumerate(cohort.person_ids):
        steps, heart_rate = activity_bins(cohort.schedule, cohort.people, p)
        for i in np.flatnonzero(steps > 0):
            yield (
                pid,
                _iso(cohort, float(i * daily_life.ACTIVITY_BIN_MIN)),
                daily_life.ACTIVITY_BIN_MIN,
                int(steps[i]),
                f"{heart_rate[i]:.1f}",
            )


def describe(cohort: SimulatedCohort, counts: dict[str, int], command: str = "") -> str:
    """The cohort README: how it was made, what was drawn, counts and speed (one template, read as one)."""
    config = cohort.config
    people_days = len(cohort.person_ids) * config.days
    speed = people_days / cohort.wall_time_s if cohort.wall_time_s > 0 else float("nan")
    lines = [
        "# Simulated CGM cohort",
        "",
        "Made by the mealimpact simulator (`glucose_model/simulator`): the Dalla Man 2007 meal model of the",
        "glucose-insulin system (UVA/Padova family) with four kinds of virtual subjects. **Simulated, not",
        "recorded from anyone.**",
        "",
        f"- command: `{command or 'simulate_cohort(config)'}`",
        f"- seed: {config.seed}; days: {config.days}; start: {config.start_local.isoformat()}",
        f"- people: {', '.join(f'{kind.value} {n}' for kind, n in config.people)} ({len(cohort.person_ids)} in all)",
        f"- simulation time: {cohort.wall_time_s:.1f} s wall, {cohort.cpu_time_s:.1f} s CPU for {people_days} "
        f"person-days ({speed:.1f} person-days/s of wall time; this machine, one process, simulation only, "
        "CSV writing excluded)",
        "",
        "## Files and rows",
        "",
        "| file | rows |",
        "| --- | --- |",
        *(f"| {name}.csv | {n} |" for name, n in counts.items()),
        "",
        "CGM every 5 min; times ISO 8601 with their UTC offset. `kind` is `none` (healthy), `prediabetes`,",
        "`type2` or `type1`. Insulin: type 1 only; rapid boluses as given, the basal insulin (a continuous",
        "infusion in the model) written as one daily total at local midnight. Meals include the 15 g",
        "rescue carbohydrate type 1 subjects take below 70 mg/dL (glycemic_index 100).",
        "",
        "## What was drawn",
        "",
        "Physiological parameters: log-normal around the published means of each kind (Dalla Man et al.",
        "2007 normal and type 2; UVA/Padova adult type 1 as in simglucose; pre-diabetes between healthy and",
        "type 2 with lower insulin sensitivity and first-phase secretion), coefficient of variation per",
        "parameter in `glucose_model/simulator/parameters.py`; every subject's basal state solved from its",
        "own fasting glucose. All drawn and solved values are in people.csv.",
        "",
        "| kind | fasting glucose mg/dL (mean, sd, range) |",
        "| --- | --- |",
        *(
            f"| {kind.value} | {m:.0f}, {sd:.0f}, {lo:.0f}-{hi:.0f} |"
            for kind, (m, sd, lo, hi) in parameters.FASTING_GLUCOSE_MG_DL.items()
        ),
        "",
        "Daily life (`glucose_model/simulator/daily_life.py`):",
        "",
        *(
            f"- {name}: probability {prob:.2f}, carbs median {median:.0f} g (log-sd {log_sd})"
            + (
                " 30-60 min after waking"
                if mean < 0
                else f" around {int(mean // 60):02d}:{int(mean % 60):02d} ± {sd:.0f} min"
            )
            for name, mean, sd, prob, median, log_sd in daily_life.MEAL_SLOTS
        ),
        f"- main meals {daily_life.MAIN_MEAL_CARBS_RANGE_G[0]:.0f}-{daily_life.MAIN_MEAL_CARBS_RANGE_G[1]:.0f} g "
        f"carbohydrate, snacks {daily_life.SNACK_CARBS_RANGE_G[0]:.0f}-{daily_life.SNACK_CARBS_RANGE_G[1]:.0f} g; "
        "sugars 10-50 %, fibre 2-12 % of carbohydrate; fat and protein 0.1-0.6 g per g carbohydrate; GI 35-95",
        f"- walk after a main meal with probability {daily_life.WALK_PROBABILITY_AFTER_MAIN_MEAL}, "
        f"{daily_life.WALK_DURATION_MIN_RANGE[0]:.0f}-{daily_life.WALK_DURATION_MIN_RANGE[1]:.0f} min at "
        f"~{daily_life.WALK_CADENCE_STEPS_PER_MIN[0]:.0f} steps/min; background steps per 15 min while awake",
        f"- sleep {daily_life.SLEEP_HOURS_MEAN_SD_RANGE[2]:.0f}-{daily_life.SLEEP_HOURS_MEAN_SD_RANGE[3]:.0f} h a "
        f"night; a short night lowers insulin sensitivity the next day ({lifestyle.SLEEP_LOSS_AT_4H:.0%} after 4 h)",
        f"- type 1 boluses: carbohydrate miscounted with CV {parameters.CARB_COUNT_ERROR_CV:.0%}, "
        f"{daily_life.BOLUS_MISSED_PROBABILITY:.0%} missed, given {daily_life.BOLUS_TIMING_RANGE_MIN[0]:.0f} to "
        f"+{daily_life.BOLUS_TIMING_RANGE_MIN[1]:.0f} min around the meal; rescue {simulation.RESCUE_CARBS_G:.0f} g "
        f"below {simulation.RESCUE_THRESHOLD_MG_DL:.0f} mg/dL",
        f"- meal composition slows emptying (fat {meal_composition.FAT_HALF_EMPTYING_G:.0f} g, protein "
        f"{meal_composition.PROTEIN_HALF_EMPTYING_G:.0f} g, fibre {meal_composition.FIBER_HALF_EMPTYING_G:.0f} g "
        "each halve it on their own); GI scales gut absorption",
        f"- CGM: interstitial lag 5-10 min, calibration gain sd {sensor.CALIBRATION_GAIN_SD:.0%}, AR(1) noise "
        f"{sensor.NOISE_RELATIVE_SD:.0%} (coefficient {sensor.NOISE_AR1_COEFFICIENT}), readings clipped to "
        f"{sensor.SENSOR_RANGE_MG_DL[0]:.0f}-{sensor.SENSOR_RANGE_MG_DL[1]:.0f} mg/dL"
        + (
            "; people cycle through the sensor profiles "
            + ", ".join(p.name for p in sensor.SENSOR_VARIETY)
            + " (sensor.SENSOR_VARIETY: noise, its correlation and firmware smoothing differ)"
            if config.sensor_variety
            else ""
        ),
        "",
        "## Glucose by kind (CGM)",
        "",
        "| kind | people | mean mg/dL | time 70-180 | time > 180 | time < 70 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in DiabetesKind:
        rows = np.array([k is kind for k in cohort.people.kind])
        if not rows.any():
            continue
        g = cohort.cgm_mg_dl[rows]
        lines.append(
            f"| {kind.value} | {int(rows.sum())} | {g.mean():.0f} | {np.mean((g >= 70) & (g <= 180)):.0%} "
            f"| {np.mean(g > 180):.0%} | {np.mean(g < 70):.1%} |"
        )
    return "\n".join(lines) + "\n"
