"""The plots an engineer looks at first in a simulated cohort: one day per kind, mean meal response.

Reads the canonical folder through `cohorts.load_canonical` (the same reader training uses), so the
plots show what the models will see. Bare matplotlib Figures written to PNG; nothing is shown on screen.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from glucose_model.cohorts import load_canonical
from glucose_model.records import DiabetesKind, InsulinKind, Recording
from glucose_model.windows import meal_windows

DAY_PLOT_FILE = "simulated_day_per_kind.png"
RESPONSE_PLOT_FILE = "mean_meal_response_per_kind.png"
MAIN_MEAL_MIN_CARBS_G = 30.0  # snacks and rescue carbohydrate are left out of the mean response
WALK_MIN_STEPS_PER_15_MIN = 750.0  # a 15-min bin with at least this many steps is drawn as walking
KIND_COLOURS = {
    DiabetesKind.NONE: "tab:green",
    DiabetesKind.PREDIABETES: "tab:orange",
    DiabetesKind.TYPE2: "tab:red",
    DiabetesKind.TYPE1: "tab:blue",
}


def plot_cohort_folder(folder: Path, out_dir: Path, day: int = 1) -> list[Path]:
    """Write both plots for the canonical cohort in `folder` into `out_dir`; returns their paths.

    `day` (0-based) is clamped to the days the cohort has, so a one-day cohort plots its only day.
    """
    recordings = load_canonical(folder)
    span_s = max(
        int(r.glucose.times_utc_s[-1] - r.glucose.times_utc_s[0]) for r in recordings if len(r.glucose)
    )
    day = min(max(day, 0), span_s // 86400)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        plot_day_per_kind(recordings, out_dir / DAY_PLOT_FILE, day),
        plot_mean_response_per_kind(recordings, out_dir / RESPONSE_PLOT_FILE),
    ]


def _first_of_each_kind(recordings: list[Recording]) -> list[Recording]:
    chosen: dict[DiabetesKind, Recording] = {}
    for r in recordings:
        if r.kind is not None and r.kind not in chosen:
            chosen[r.kind] = r
    return [chosen[k] for k in DiabetesKind if k in chosen]


def plot_day_per_kind(recordings: list[Recording], path: Path, day: int = 1) -> Path:
    """One panel per kind: a day of CGM with meals (carbs), walks, sleep and boluses marked."""
    chosen = _first_of_each_kind(recordings)
    fig = Figure(figsize=(11, 2.6 * len(chosen)))
    axes = fig.subplots(len(chosen), 1, sharex=True, squeeze=False)
    for ax, rec in zip(axes[:, 0], chosen, strict=True):
        start = rec.glucose.datetime_at(0).replace(hour=0, minute=0) + timedelta(days=day)
        end = start + timedelta(days=1)

        def hours(t: object, start: object = start) -> float:
            return (t - start).total_seconds() / 3600.0  # type: ignore[operator]

        series = rec.glucose.between(start, end)
        times = [hours(series.datetime_at(i)) for i in range(len(series))]
        ax.plot(times, series.glucose_mg_dl, ".", ms=2.5, color=KIND_COLOURS[rec.kind or DiabetesKind.NONE])
        for s in rec.sleep:
            if s.end > start and s.start < end:
                ax.axvspan(max(hours(s.start), 0), min(hours(s.end), 24), color="0.85", lw=0, label="_sleep")
        for a in rec.activity:
            if start <= a.time < end and (a.steps or 0) >= WALK_MIN_STEPS_PER_15_MIN:
                ax.axvspan(
                    hours(a.time), hours(a.time) + a.duration_min / 60, color="tab:cyan", alpha=0.35, lw=0
                )
        for m in rec.meals:
            if start <= m.time < end:
                ax.axvline(hours(m.time), color="k", lw=0.8, ls="--")
                ax.text(
                    hours(m.time),
                    0.97,
                    f"{m.carbs_g:.0f} g",
                    transform=ax.get_xaxis_transform(),
                    fontsize=7,
                    va="top",
                    ha="left",
                )
        boluses = [d for d in rec.insulin if d.kind is InsulinKind.RAPID and start <= d.time < end]
        ax.plot([hours(d.time) for d in boluses], [45] * len(boluses), "v", color="tab:purple", ms=6)
        for limit in (70, 180):
            ax.axhline(limit, color="0.6", lw=0.6)
        ax.set_ylim(40, max(260, float(np.nanmax(series.glucose_mg_dl, initial=0)) + 20))
        ax.set_ylabel("CGM mg/dL")
        kind = rec.kind.value if rec.kind else "?"
        ax.set_title(f"{rec.person_id} ({kind}), {start.date()}", fontsize=9, loc="left")
    axes[-1, 0].set_xlim(0, 24)
    axes[-1, 0].set_xticks(range(0, 25, 3))
    axes[-1, 0].set_xlabel(
        "local time (h); dashed: meals (carbs); cyan: walks; grey: sleep; purple triangles: insulin boluses"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def mean_response_per_kind(recordings: list[Recording]) -> dict[DiabetesKind, np.ndarray]:
    """(meals, 37) CGM rise above the meal-start value at 0..180 min for every main meal, per kind."""
    out: dict[DiabetesKind, list[np.ndarray]] = {}
    for rec in recordings:
        if rec.kind is None:
            continue
        for w in meal_windows(rec):
            if w.meal.carbs_g < MAIN_MEAL_MIN_CARBS_G:
                continue
            post = w.post_meal_glucose_mg_dl
            if np.isfinite(post).all():
                out.setdefault(rec.kind, []).append(post - post[0])
    return {k: np.stack(v) for k, v in out.items()}


def plot_mean_response_per_kind(recordings: list[Recording], path: Path) -> Path:
    """Mean CGM rise after main meals (>= 30 g carbs) per kind, with the interquartile band."""
    responses = mean_response_per_kind(recordings)
    minutes = np.arange(0, 181, 5)
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for kind in DiabetesKind:
        if kind not in responses:
            continue
        rises = responses[kind]
        q25, q75 = np.percentile(rises, [25, 75], axis=0)
        colour = KIND_COLOURS[kind]
        ax.fill_between(minutes, q25, q75, color=colour, alpha=0.15, lw=0)
        ax.plot(
            minutes, rises.mean(axis=0), color=colour, lw=2, label=f"{kind.value} ({rises.shape[0]} meals)"
        )
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("minutes after the start of the meal")
    ax.set_ylabel("CGM rise above meal start (mg/dL)")
    ax.set_title("Mean response to main meals (>= 30 g carbohydrate), band: 25-75th percentile", fontsize=9)
    ax.set_xticks(range(0, 181, 30))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
