"""`mealimpact evaluate glucose`, the person part: each unseen person's meals predicted with 0, 5, 10
and 20 of the same person's EARLIER meals (the most recent ones) as history, by the shipped model and
by the previous version (population network + ridge calibration), beside the carbs-only and
population-average baselines, on the same meals. Plus the ceiling the data sets: the same person
eating the same logged meal twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from glucose_model.baselines import CarbsOnlyRegression, PopulationAverageResponse
from glucose_model.features import MealContext, context_from_window
from glucose_model.food_text import normalize_food_name
from glucose_model.impact import PastMeal, ResponsePredictor, iauc_2h
from glucose_model.metrics import meal_response, peak_rise
from glucose_model.personal import person_row, recording_medication
from glucose_model.records import GlucoseSeries, Meal, RecordError, Recording
from glucose_model.windows import MealWindow, meal_windows
from mealimpact.model_repository.layout import model_path, versions
from mealimpact.model_repository.sessions import open_session
from training.glucose_train import pearson_r

logger = logging.getLogger(__name__)

HISTORY_SIZES = (0, 5, 10, 20)
PERSONAL = "model"  # the shipped model, the person inside it
PREVIOUS = "previous_model_with_ridge"  # the version before, with its ridge calibration
HISTORY_BASELINES = ("carbs_only", "population_average")
# The bar, on unseen Shanghai T2DM people with at least 10 earlier meals.
TARGET_COHORT, TARGET_HISTORY, TARGET_R, TARGET_MAE_MG_DL = "shanghai_t2dm", 10, 0.6, 28.0


@dataclass
class PersonMeal:
    """One evaluated meal of a person, with what the history of a later meal needs."""

    person: str
    time_s: int
    context: MealContext
    past: PastMeal
    person_fields: npt.NDArray[np.float32]
    carbs_g: float
    description: str
    change_mg_dl: npt.NDArray[np.float64]  # (37,) measured minus baseline, 0..180 min
    baseline_mg_dl: float
    peak_rise_mg_dl: float
    iauc_2h: float
    spiked: bool


@dataclass
class HistoryScores:
    figures: dict[str, Any] = field(default_factory=dict)


def _measured_series(window: MealWindow) -> GlucoseSeries:
    """The window's CGM (-180..180 min, measured points only) as a series, for a PastMeal."""
    centre_s = int(np.floor(window.meal.time.timestamp() / 300 + 0.5)) * 300
    keep = np.isfinite(window.glucose_mg_dl)
    offset_min = int(window.meal.time.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    return GlucoseSeries(
        centre_s + window.minutes[keep] * 60,
        np.full(int(keep.sum()), offset_min, np.int16),
        window.glucose_mg_dl[keep],
        "window",
    )


def person_meals(recordings: Sequence[Recording]) -> list[PersonMeal]:
    """Every meal `collect_meals` would score (known carbs, gap-free 0..120 min), in time order per person."""
    out: list[PersonMeal] = []
    for recording in recordings:
        insulin_recorded = len(recording.insulin) > 0
        fields = person_row(medication=recording_medication(recording))
        for window in meal_windows(recording):
            if window.meal.carbs_confidence == 0.0:
                continue
            try:
                measured = meal_response(window.minutes, window.glucose_mg_dl)
                context = context_from_window(window, insulin_recorded)
            except RecordError:
                continue
            change = window.post_meal_glucose_mg_dl - measured.baseline_mg_dl
            # As history, the meal is what an app sends for it (serving.request_records.past_meals):
            # its numbers, and its CGM split at the meal time into before (context) and after.
            series = _measured_series(window)
            before = series.times_utc_s < int(window.meal.time.timestamp())
            parts = [
                GlucoseSeries(
                    series.times_utc_s[m], series.utc_offset_min[m], series.glucose_mg_dl[m], "window"
                )
                for m in (before, ~before)
            ]
            meal = window.meal
            as_sent = Meal(meal.time, meal.carbs_g, meal.sugars_g, meal.fiber_g, meal.fat_g, meal.protein_g)
            out.append(
                PersonMeal(
                    person=recording.person_id,
                    time_s=int(window.meal.time.timestamp()),
                    context=context,
                    past=PastMeal(MealContext(meal=as_sent, glucose=parts[0], kind=context.kind), parts[1]),
                    person_fields=fields,
                    carbs_g=window.meal.carbs_g,
                    description=window.meal.description or "",
                    change_mg_dl=change,
                    baseline_mg_dl=measured.baseline_mg_dl,
                    peak_rise_mg_dl=measured.peak_rise_mg_dl,
                    iauc_2h=measured.iauc_2h_mg_dl_min,
                    spiked=measured.baseline_mg_dl + measured.peak_rise_mg_dl
                    > (context.kind.spike_threshold_mg_dl if context.kind else 140.0),
                )
            )
    out.sort(key=lambda m: (m.person, m.time_s))
    return out


def _scores(
    predicted_peak: npt.NDArray[np.float64],
    predicted_iauc: npt.NDArray[np.float64],
    spike_score: npt.NDArray[np.float64],
    meals: Sequence[PersonMeal],
) -> dict[str, float | None]:
    peak = np.array([m.peak_rise_mg_dl for m in meals])
    iauc = np.array([m.iauc_2h for m in meals])
    spiked = np.array([m.spiked for m in meals])
    return {
        "peak_rise_mae_mg_dl": float(np.mean(np.abs(predicted_peak - peak))),
        "peak_rise_pearson_r": pearson_r(predicted_peak, peak),
        "iauc_2h_pearson_r": pearson_r(predicted_iauc, iauc),
        "spike_auroc": float(roc_auc_score(spiked, spike_score)) if 0 < spiked.sum() < len(spiked) else None,
    }


def _baseline_curves(
    meals: Sequence[PersonMeal], fit: Sequence[PersonMeal]
) -> dict[str, npt.NDArray[np.float64]]:
    """Carbs-only and population-average rises for `meals`, fitted on `fit` (other people)."""
    carbs_fit = np.array([m.carbs_g for m in fit])
    change_fit = np.stack([m.change_mg_dl for m in fit])
    carbs = np.array([m.carbs_g for m in meals])
    zeros = np.zeros(len(meals))
    return {
        "carbs_only": CarbsOnlyRegression().fit(carbs_fit, change_fit).predict(carbs, zeros),
        "population_average": PopulationAverageResponse().fit(carbs_fit, change_fit).predict(carbs, zeros),
    }


def same_meal_twice(meals: Sequence[PersonMeal]) -> dict[str, float | None]:
    """The ceiling: pairs of meals with the same logged text by the same person (first two times)."""
    first: dict[tuple[str, str], PersonMeal] = {}
    pairs: list[tuple[PersonMeal, PersonMeal]] = []
    for m in meals:
        key = (m.person, normalize_food_name(" ".join(m.description.split())))
        if not key[1]:
            continue
        if key in first:
            pairs.append((first.pop(key), m))
        else:
            first[key] = m
    if len(pairs) < 3:
        return {
            "pairs": float(len(pairs)),
            "peak_rise_pearson_r": None,
            "peak_rise_mean_abs_difference_mg_dl": None,
        }
    a = np.array([p[0].peak_rise_mg_dl for p in pairs])
    b = np.array([p[1].peak_rise_mg_dl for p in pairs])
    return {
        "pairs": float(len(pairs)),
        "people": float(len({p[0].person for p in pairs})),
        "peak_rise_pearson_r": pearson_r(a, b),
        # Predicting the second from the first: the error a perfect personal model of the meal leaves.
        "peak_rise_mean_abs_difference_mg_dl": float(np.mean(np.abs(a - b))),
    }


def evaluate_history(
    recordings: Sequence[Recording],
    eligible_people: set[str],
    personal: ResponsePredictor,
    previous: ResponsePredictor | None,
    sizes: Sequence[int] = HISTORY_SIZES,
) -> dict[str, Any]:
    """{history size: {predictor: scores}} on the eligible people's meals that have that many earlier meals."""
    meals = person_meals(recordings)
    own = [m for m in meals if m.person in eligible_people]
    others = [m for m in meals if m.person not in eligible_people]
    out: dict[str, Any] = {"people": len({m.person for m in own}), "meals": len(own)}
    if not own:
        return out
    by_person: dict[str, list[PersonMeal]] = {}
    for m in own:
        by_person.setdefault(m.person, []).append(m)
    # Baselines: fitted on the other people of the folder, or leave-one-person-out when there are none.
    baselines: dict[int, dict[str, npt.NDArray[np.float64]]] = {}
    for person, rows in by_person.items():
        fit = others or [m for m in own if m.person != person]
        if not fit:
            continue
        curves = _baseline_curves(rows, fit)
        for j, m in enumerate(rows):
            baselines[id(m)] = {name: c[j] for name, c in curves.items()}
    for k in sizes:
        chosen: list[tuple[PersonMeal, list[PersonMeal]]] = []
        for rows in by_person.values():
            for j, m in enumerate(rows):
                earlier = [e for e in rows[:j] if e.time_s < m.time_s]
                if len(earlier) >= k:
                    chosen.append((m, earlier[len(earlier) - k :] if k else []))
        if len(chosen) < 3:
            continue
        targets = [m for m, _ in chosen]
        figures: dict[str, Any] = {"meals": len(targets), "people": len({m.person for m in targets})}
        predictors = [(PERSONAL, personal, True)] + ([(PREVIOUS, previous, False)] if previous else [])
        for name, predictor, with_person in predictors:
            peaks, iaucs, spikes = [], [], []
            for m, history in chosen:
                result = predictor.impact(
                    m.context, [e.past for e in history], m.person_fields if with_person else None
                )
                peaks.append(result.peak.rise_mg_dl)
                iaucs.append(result.explanation.predicted_iauc_2h_mg_dl_min)
                spikes.append(result.spike.probability)
            figures[name] = _scores(np.array(peaks), np.array(iaucs), np.array(spikes), targets)
        for name in HISTORY_BASELINES:
            if not all(id(m) in baselines for m in targets):
                continue
            rise = np.stack([baselines[id(m)][name] for m in targets])
            peak, _ = peak_rise(rise)
            threshold = np.array(
                [m.context.kind.spike_threshold_mg_dl if m.context.kind else 140.0 for m in targets]
            )
            baseline = np.array([m.baseline_mg_dl for m in targets])  # rank by predicted peak glucose
            figures[name] = _scores(peak, iauc_2h(rise), peak + baseline - threshold, targets)
        out[str(k)] = figures
    out["same_meal_twice"] = same_meal_twice(meals)
    return out


def target_verdict(history: dict[str, Any]) -> dict[str, Any] | None:
    """The issue's bar on Shanghai T2DM with 10 earlier meals: figures and whether they meet it."""
    scores = history.get(TARGET_COHORT, {}).get(str(TARGET_HISTORY), {}).get(PERSONAL)
    if not scores:
        return None
    r, mae = scores["peak_rise_pearson_r"], scores["peak_rise_mae_mg_dl"]
    return {
        "cohort": TARGET_COHORT,
        "history": TARGET_HISTORY,
        "peak_rise_pearson_r": TARGET_R,
        "peak_rise_mae_mg_dl": TARGET_MAE_MG_DL,
        "measured_r": r,
        "measured_mae_mg_dl": mae,
        "r_met": r is not None and r >= TARGET_R,
        "mae_met": mae <= TARGET_MAE_MG_DL,
    }


HISTORY_COLUMNS = (
    ("peak_rise_mae_mg_dl", "peak-rise MAE (mg/dL)"),
    ("peak_rise_pearson_r", "r peak rise"),
    ("iauc_2h_pearson_r", "r 2-h iAUC"),
    ("spike_auroc", "spike AUROC"),
)


def history_tables(figures: dict[str, Any]) -> list[str]:
    """Markdown: one table per cohort, rows = history size x predictor."""
    history = figures.get("response_history", {})
    if not history:
        return []
    lines = [
        "## With the person's own earlier meals as history",
        "",
        f"Each meal of an unseen person predicted with the {', '.join(map(str, HISTORY_SIZES))} most recent "
        "of that person's earlier meals (with their measured curves) as history; a row scores only the "
        "meals that have that many earlier meals, every predictor on the same meals. `model` is the shipped "
        f"model (the person encoder inside it); `{PREVIOUS}` the version before it (population network "
        "and the ridge calibration over the same history); baselines do not use history.",
        "",
    ]
    for cohort, scores in history.items():
        seen = (
            " (**seen**: every person of this cohort was in the population network's training data)"
            if scores.get("people_seen_in_training")
            else ""
        )
        lines += [
            f"**{cohort}**{seen}: {scores.get('meals', 0)} meals of {scores.get('people', 0)} people.",
            "",
            "| earlier meals | meals | predictor | " + " | ".join(t for _, t in HISTORY_COLUMNS) + " |",
            "|---" * (len(HISTORY_COLUMNS) + 3) + "|",
        ]
        for k in HISTORY_SIZES:
            row = scores.get(str(k))
            if not row:
                continue
            for name in (PERSONAL, PREVIOUS, *HISTORY_BASELINES):
                if name in row:
                    cells = " | ".join(
                        f"{row[name][c]:.2f}" if isinstance(row[name][c], float) else "n/a"
                        for c, _ in HISTORY_COLUMNS
                    )
                    lines.append(f"| {k} | {row['meals']} | {name} | {cells} |")
        twice = scores.get("same_meal_twice", {})
        if twice.get("peak_rise_pearson_r") is not None:
            lines += [
                "",
                f"Ceiling: the same person logging the same meal text twice ({twice['pairs']:.0f} pairs, all "
                f"people of the cohort): r between the two measured peak rises {twice['peak_rise_pearson_r']:.2f}, "
                f"mean |difference| {twice['peak_rise_mean_abs_difference_mg_dl']:.1f} mg/dL.",
            ]
        lines.append("")
    verdict = figures.get("response_history_target")
    if verdict:
        lines += [
            f"Target (Shanghai T2DM, {verdict['history']} earlier meals): r >= {verdict['peak_rise_pearson_r']} "
            f"and MAE <= {verdict['peak_rise_mae_mg_dl']} mg/dL; measured r "
            f"{verdict['measured_r']:.3f} ({'met' if verdict['r_met'] else 'NOT met'}), MAE "
            f"{verdict['measured_mae_mg_dl']:.2f} mg/dL ({'met' if verdict['mae_met'] else 'NOT met'}).",
            "",
        ]
    return lines


def load_previous_response(models_dir: Path, name: str, latest: str) -> tuple[dict[str, str], Any] | None:
    """The newest version below `latest` whose graph has no history inputs (the model before the
    person went inside it), opened directly with ONNX Runtime (config.pbtxt describes the latest)."""
    folder = models_dir / name
    for version in reversed([v for v in versions(folder) if v < int(latest)]):
        path = model_path(folder, version)
        if not path.is_file():
            continue
        session = open_session(path)
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        if "person_fields" in metadata:
            continue
        outputs = [o.name for o in session.get_outputs()]

        def infer(
            feed: dict[str, np.ndarray], session: Any = session, outputs: list[str] = outputs
        ) -> dict[str, np.ndarray]:
            return dict(zip(outputs, session.run(outputs, feed), strict=True))

        return metadata, infer
    return None
