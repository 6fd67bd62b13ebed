"""`mealimpact evaluate glucose`: the shipped response and forecast models, in ONNX Runtime, on people
they never saw, beside the baselines a clinician would use, per cohort; JSON, table and report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from glucose_model.baselines import (
    CarbsOnlyRegression,
    PopulationAverageResponse,
    linear_extrapolation,
    persistence,
)
from glucose_model.cohorts import LAYOUTS, load_cohort
from glucose_model.features import CURVE_MINUTES, context_from_window
from glucose_model.forecast import Forecaster, ForecastInputs
from glucose_model.impact import ImpactResult, ResponsePredictor, iauc_2h
from glucose_model.metrics import curve_rmse_key, curve_rmse_mg_dl, meal_response, peak_rise
from glucose_model.records import RecordError, Recording
from glucose_model.resample import GRID_STEP_MIN
from glucose_model.windows import meal_windows
from mealimpact.inference import InferFn
from mealimpact.model_repository.layout import ModelRepositoryError
from mealimpact.model_repository.loading import load_model
from training.forecast_evaluate import (
    FORECAST_COHORTS,
    ForecastComparison,
    cohort_windows,
    comparison_figures,
    leave_one_cohort_out,
)
from training.forecast_train import ForecastTrainConfig, WindowSet, baseline_forecasts, forecast_windows
from training.glucose_evaluation_report import write_model_summaries, write_report
from training.glucose_history_evaluation import (
    HISTORY_SIZES,
    evaluate_history,
    load_previous_response,
    target_verdict,
)
from training.glucose_train import pearson_r

logger = logging.getLogger(__name__)

RESPONSE_MODEL = "glucose_response"
FORECAST_MODEL = "glucose_forecast"
CURVE_EVAL_MINUTES = (30, 60, 120)
FORECAST_EVAL_MINUTES = (30, 60)
RESPONSE_BASELINES = ("persistence", "linear_trend", "carbs_only", "population_average")
FORECAST_BASELINES = ("persistence", "linear", "damped_trend", "ridge_3h")
# Leave-one-cohort-out trains the forecast recipe once per cohort: one origin every this many steps.
LOCO_STRIDE_STEPS = 3
# The cohorts `--format all` walks through, each in its usual folder under the data root.
ALL_COHORTS = ("shanghai", "d1namo", "dubosson", "weinstock", "colas")
REFERENCES = {
    "response_2h_correlation_r": "0.6-0.77 (Zeevi et al. 2015 Cell; Berry et al. 2020 Nat Med; Shilo et al. 2022)",
    "forecast_rmse_ohiot1dm_mg_dl": "about 18-19 at 30 min and 31 at 60 min (OhioT1DM challenge results)",
}


class EvaluationError(RuntimeError):
    """Nothing could be evaluated (no model, or no eligible people or meals in the folder)."""


@dataclass
class LoadedModel:
    metadata: dict[str, str]
    infer: InferFn
    version: str
    sha256: str


def load_onnx(models_dir: Path, name: str) -> LoadedModel | None:
    """The latest version of `name` in the model repository, checked, or None when absent."""
    folder = models_dir / name
    if not folder.is_dir():
        return None
    model, session = load_model(folder)
    outputs = [o.name for o in session.get_outputs()]

    def infer(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(outputs, session.run(outputs, feed), strict=True))

    return LoadedModel(dict(model.metadata), infer, str(model.version), model.sha256)


def _json_list(metadata: dict[str, str], key: str) -> list[str]:
    value = json.loads(metadata.get(key, "[]"))
    return [str(v) for v in value] if isinstance(value, list) else []


def _family(person_id: str) -> str:
    # Ids are "<cohort family>-<number>" and stable across cohorts that share people (cohorts.py),
    # e.g. "d1namo-002" in both D1NAMO and Dubosson.
    return person_id.rsplit("-", 1)[0]


def unseen(recordings: Sequence[Recording], metadata: dict[str, str]) -> list[Recording]:
    """The recordings of people the model was not trained on.

    With a `trained_people` list that is everyone not in it. Otherwise: the metadata's held-out
    people ("cohort/person" or "person"), plus people of cohorts it never trained on whose id
    family ("d1namo" of "d1namo-002") is not one it trained on under another cohort name.
    """
    # Entries are "person" or "cohort/person"; the person id alone decides, since ids are shared
    # by cohorts holding the same people.
    trained = {t.split("/")[-1] for t in _json_list(metadata, "trained_people")}
    if trained:
        return [r for r in recordings if r.person_id not in trained]
    held = {h.split("/")[-1] for h in _json_list(metadata, "held_out_people")}
    seen_cohorts = {h.split("/")[0] for h in _json_list(metadata, "held_out_people") if "/" in h}
    training_data = json.loads(metadata.get("training_data", "[]"))
    # Either {cohort: attribution} (response model) or ["cohort: N people; attribution"] (forecast).
    named = (
        training_data.keys()
        if isinstance(training_data, dict)
        else [str(t).split(":")[0] for t in training_data]
    )
    seen_cohorts |= {str(name).strip() for name in named}
    seen_families = {_family(h) for h in held} | seen_cohorts
    return [
        r
        for r in recordings
        if r.person_id in held or (r.cohort not in seen_cohorts and _family(r.person_id) not in seen_families)
    ]


# ---- response model ------------------------------------------------------------------------------


@dataclass
class MealSet:
    """Evaluated meals of one cohort: measured and predicted curves at CURVE_MINUTES (0..180)."""

    person: list[str] = field(default_factory=list)
    carbs_g: list[float] = field(default_factory=list)
    baseline_mg_dl: list[float] = field(default_factory=list)
    pre_meal_mg_dl: list[npt.NDArray[np.float64]] = field(default_factory=list)  # (37,) -180..0
    measured_mg_dl: list[npt.NDArray[np.float64]] = field(default_factory=list)  # (37,) 0..180, NaN gaps
    measured_peak_rise: list[float] = field(default_factory=list)
    measured_iauc: list[float] = field(default_factory=list)
    results: list[ImpactResult | None] = field(default_factory=list)  # None for baseline-fit-only meals
    eligible: list[bool] = field(default_factory=list)  # False: only used to fit baselines
    description: list[str] = field(default_factory=list)

    def array(self, name: str) -> npt.NDArray[np.float64]:
        return np.asarray(getattr(self, name), dtype=np.float64)


def collect_meals(
    recordings: Sequence[Recording], eligible_people: set[str], predictor: ResponsePredictor
) -> MealSet:
    """Meals with enough CGM around them, a gap-free 0..120 min and known carbohydrate.

    The model runs on the eligible (unseen) people's meals; the others only fit the baselines.
    """
    meals = MealSet()
    skipped = 0
    for recording in recordings:
        insulin_recorded = len(recording.insulin) > 0
        for window in meal_windows(recording):
            if window.meal.carbs_confidence == 0.0:  # the food text matched nothing: carbs unknown
                continue
            is_eligible = recording.person_id in eligible_people
            try:
                measured = meal_response(window.minutes, window.glucose_mg_dl)
                result = (
                    predictor.impact(context_from_window(window, insulin_recorded)) if is_eligible else None
                )
            except RecordError:  # InsufficientCgmError included: a gap before or within 0..120 min
                skipped += 1
                continue
            meals.person.append(recording.person_id)
            meals.carbs_g.append(window.meal.carbs_g)
            meals.baseline_mg_dl.append(measured.baseline_mg_dl)
            meals.pre_meal_mg_dl.append(window.pre_meal_glucose_mg_dl)
            meals.measured_mg_dl.append(window.post_meal_glucose_mg_dl)
            meals.measured_peak_rise.append(measured.peak_rise_mg_dl)
            meals.measured_iauc.append(measured.iauc_2h_mg_dl_min)
            meals.results.append(result)
            meals.eligible.append(is_eligible)
            meals.description.append(window.meal.description or f"{window.meal.carbs_g:.0f} g carbs")
    logger.info("%d meals collected, %d skipped for CGM gaps", len(meals.person), skipped)
    return meals


def _results(meals: MealSet) -> list[ImpactResult]:
    """The model's results, in eligible-meal order."""
    return [r for r in meals.results if r is not None]


def _auroc(labels: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64]) -> float | None:
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, scores))


def _fit_predict_carbs_baselines(
    meals: MealSet,
) -> dict[str, npt.NDArray[np.float64]]:
    """Carbs-only and population-average curves for the eligible meals, fitted on other people only.

    Fitted on the folder's training people when it has any; otherwise leave-one-person-out over
    the eligible people, so no meal ever informs its own baseline.
    """
    eligible = np.asarray(meals.eligible)
    carbs, baseline = meals.array("carbs_g"), meals.array("baseline_mg_dl")
    change = np.stack(meals.measured_mg_dl) - baseline[:, None]  # (N, 37)
    people = np.asarray(meals.person)
    out = {
        name: np.zeros((int(eligible.sum()), CURVE_MINUTES.shape[0]))
        for name in ("carbs_only", "population_average")
    }
    rows = np.flatnonzero(eligible)
    groups = (
        [(rows, ~eligible)]
        if (~eligible).any()
        else [(rows[people[rows] == p], people != p) for p in sorted(set(people[rows]))]
    )
    position = {r: i for i, r in enumerate(rows)}
    for predict_rows, fit_rows in groups:
        if not fit_rows.any():
            continue
        models: dict[str, CarbsOnlyRegression | PopulationAverageResponse] = {
            "carbs_only": CarbsOnlyRegression().fit(carbs[fit_rows], change[fit_rows]),
            "population_average": PopulationAverageResponse().fit(carbs[fit_rows], change[fit_rows]),
        }
        at = [position[r] for r in predict_rows]
        for name, model in models.items():
            out[name][at] = model.predict(carbs[predict_rows], baseline[predict_rows])
    return out


def _bias_corrected_mae(error: npt.NDArray[np.float64], people: npt.NDArray[np.str_]) -> float | None:
    """MAE of `error` (N,) after subtracting the mean error of the other people's meals.

    Leave-one-person-out, so no person's own meals inform their correction; None with one person.
    How much of an MAE a constant offset explains, without scoring the offset on its own data.
    """
    if len(set(people)) < 2:
        return None
    corrected = np.empty_like(error)
    for person in set(people):
        own = people == person
        corrected[own] = error[own] - error[~own].mean()
    return float(np.mean(np.abs(corrected)))


def _curve_scores(
    curve_mg_dl: npt.NDArray[np.float64], meals: MealSet, score: npt.NDArray[np.float64] | None
) -> dict[str, float | None]:
    """Scores of predicted curves (Ne, 37) against the eligible meals' measurements."""
    e = np.asarray(meals.eligible)
    baseline = meals.array("baseline_mg_dl")[e]
    measured = np.stack(meals.measured_mg_dl)[e]
    rise = curve_mg_dl - baseline[:, None]
    predicted_peak, _ = peak_rise(rise)
    predicted_iauc = iauc_2h(rise)
    measured_peak, measured_iauc = meals.array("measured_peak_rise")[e], meals.array("measured_iauc")[e]
    thresholds = np.array([r.spike.threshold_mg_dl for r in _results(meals)])
    spiked = baseline + measured_peak > thresholds
    peak_error = predicted_peak - measured_peak
    scores: dict[str, float | None] = {
        "peak_rise_mae_mg_dl": float(np.mean(np.abs(peak_error))),
        # Signed: < 0 when the predicted curve's top sits below the measured one, which a smooth
        # median curve's top tends to do against a noisy measured curve's.
        "peak_rise_bias_mg_dl": float(np.mean(peak_error)),
        "peak_rise_mae_bias_corrected_mg_dl": _bias_corrected_mae(peak_error, np.asarray(meals.person)[e]),
        "peak_rise_pearson_r": pearson_r(predicted_peak, measured_peak),
        "iauc_2h_pearson_r": pearson_r(predicted_iauc, measured_iauc),
    }
    for minute in CURVE_EVAL_MINUTES:
        scores[curve_rmse_key(minute)] = curve_rmse_mg_dl(curve_mg_dl, measured, minute)
    # Baselines have no probability: their predicted peak above the threshold ranks the meals.
    ranking = score if score is not None else baseline + predicted_peak - thresholds
    scores["spike_auroc"] = _auroc(spiked, ranking)
    return scores


LOWER_IS_BETTER = ("peak_rise_mae_mg_dl", *(curve_rmse_key(m) for m in CURVE_EVAL_MINUTES))
# Signed figures have no better direction: the MAE beside them says which predictor is closer.
SIGNED = ("peak_rise_bias_mg_dl",)


def response_metrics(meals: MealSet) -> dict[str, object]:
    """Model and baselines on the eligible meals, band calibration, and where the model loses."""
    e = np.asarray(meals.eligible)
    results = _results(meals)
    baseline = meals.array("baseline_mg_dl")[e]
    pre_meal = np.stack(meals.pre_meal_mg_dl)[e]
    measured = np.stack(meals.measured_mg_dl)[e]
    model_curve = np.stack([r.curve.glucose_mg_dl for r in results])
    low = np.stack([r.curve.low_mg_dl for r in results])
    high = np.stack([r.curve.high_mg_dl for r in results])
    curves = {
        "persistence": persistence(baseline, CURVE_MINUTES.shape[0]),
        "linear_trend": linear_extrapolation(
            pre_meal, GRID_STEP_MIN, CURVE_MINUTES.astype(np.float64), baseline
        ),
        **_fit_predict_carbs_baselines(meals),
    }
    spike_probability = np.array([r.spike.probability for r in results])
    out: dict[str, object] = {
        "meals": int(e.sum()),
        "people": len({p for p, ok in zip(meals.person, e, strict=True) if ok}),
        "baseline_fit_meals": int((~e).sum()) or "leave-one-person-out",
        "model": _curve_scores(model_curve, meals, spike_probability),
    }
    for name, curve in curves.items():
        out[name] = _curve_scores(curve, meals, None)
    ok = np.isfinite(measured)
    inside = (measured >= low) & (measured <= high)
    out["band_10_90_coverage"] = float(inside[ok].mean())
    out["band_10_90_coverage_by_minute"] = [
        float(inside[ok[:, j], j].mean()) if ok[:, j].any() else None for j in range(CURVE_MINUTES.shape[0])
    ]
    out["model_does_not_beat"] = _losses(out)
    return out


def _losses(out: dict[str, object]) -> list[str]:
    """Every (metric, baseline) where the model is not better, in words."""
    model = out["model"]
    assert isinstance(model, dict)
    lost = []
    for name in dict.fromkeys((*RESPONSE_BASELINES, *FORECAST_BASELINES)):  # persistence is in both
        other = out.get(name)
        if not isinstance(other, dict):
            continue
        for metric, value in model.items():
            theirs = other.get(metric)
            if metric in SIGNED or not isinstance(value, float) or not isinstance(theirs, float):
                continue
            worse = (
                value >= theirs
                if metric in LOWER_IS_BETTER or "rmse" in metric or "mae" in metric
                else value <= theirs
            )
            if worse:
                lost.append(f"{metric}: model {value:.3g} vs {name} {theirs:.3g}")
    return lost


# ---- forecast ------------------------------------------------------------------------------------


@dataclass
class ForecastSet:
    """Forecasts of one cohort: targets (N, K) and model quantiles (N, K, Q) at HORIZONS_MIN."""

    targets: npt.NDArray[np.float32]
    predicted: npt.NDArray[np.float32]
    baselines: dict[str, npt.NDArray[np.float64]]  # name -> (N, K)


def collect_forecasts(
    recordings: Sequence[Recording], forecaster: Forecaster, train: WindowSet, batch: int = 4096
) -> ForecastComparison:
    """Every usable origin (5-min stride) of the recordings, the shipped model through ONNX Runtime,
    beside the baselines fitted on `train` (the model's own training people)."""
    windows = forecast_windows(recordings, stride_steps=1)
    parts = [
        forecaster.predict(ForecastInputs(windows.cgm[i : i + batch], windows.kind[i : i + batch]))
        for i in range(0, len(windows), batch)
    ]
    predicted = np.concatenate(parts) if parts else np.zeros((0, *windows.targets.shape[1:], 3), np.float32)
    return ForecastComparison(windows, predicted, baseline_forecasts(train, windows))


def forecast_training_windows(recordings: Sequence[Recording], metadata: dict[str, str]) -> WindowSet:
    """The windows of the people the forecast model was trained on (its `trained_people`), to fit
    the baselines on the same data; every LOCO_STRIDE_STEPS-th origin."""
    trained = {t.split("/")[-1] for t in _json_list(metadata, "trained_people")}
    mine = [r for r in recordings if r.person_id in trained and r.cohort in FORECAST_COHORTS]
    return forecast_windows(mine, LOCO_STRIDE_STEPS)


# ---- the command ---------------------------------------------------------------------------------


def load_recordings(data: Path, layout: str) -> list[Recording]:
    """One cohort folder (`layout` or auto-detected), or with "all" every cohort under a data root."""
    if layout != "all":
        return load_cohort(data, layout)
    recordings: list[Recording] = []
    for name in ALL_COHORTS:
        try:
            recordings.extend(load_cohort(data, name))
        except RecordError as error:
            logger.warning("cohort %s not evaluated: %s", name, error)
    return recordings


def _by_cohort(recordings: Sequence[Recording]) -> dict[str, list[Recording]]:
    groups: dict[str, list[Recording]] = {}
    for r in recordings:
        groups.setdefault(r.cohort, []).append(r)
    return groups


@dataclass
class Evaluation:
    """Everything the JSON, the table and the report are written from."""

    figures: dict[str, Any]
    meals: dict[str, MealSet] = field(default_factory=dict)
    forecasts: dict[str, ForecastSet] = field(default_factory=dict)


def evaluate(recordings: Sequence[Recording], models_dir: Path, loco: bool = True) -> Evaluation:
    """Both models on the unseen people of each cohort in `recordings`; with `loco`, also the forecast
    recipe leave-one-cohort-out over the real cohorts present."""
    figures: dict[str, Any] = {"references": REFERENCES, "models": {}, "response": {}, "forecast": {}}
    evaluation = Evaluation(figures)
    response = load_onnx(models_dir, RESPONSE_MODEL)
    forecast = load_onnx(models_dir, FORECAST_MODEL)
    if response is None and forecast is None:
        raise EvaluationError(f"neither {RESPONSE_MODEL} nor {FORECAST_MODEL} found in {models_dir}")
    for name, model in ((RESPONSE_MODEL, response), (FORECAST_MODEL, forecast)):
        figures["models"][name] = (
            None if model is None else {"version": model.version, "sha256": model.sha256}
        )
    forecast_train: WindowSet | None = None
    previous = None
    if response is not None:
        loaded = load_previous_response(models_dir, RESPONSE_MODEL, response.version)
        previous = None if loaded is None else ResponsePredictor(*loaded)
    for cohort, group in sorted(_by_cohort(recordings).items()):
        if response is not None:
            predictor = ResponsePredictor(response.metadata, response.infer)
            people = {r.person_id for r in unseen(group, response.metadata)}
            meals = collect_meals(group, people, predictor)
            if any(meals.eligible):
                evaluation.meals[cohort] = meals
                figures["response"][cohort] = response_metrics(meals)
            if predictor.personal:
                _history_figures(figures, cohort, group, people, predictor, previous)
        if forecast is not None and cohort in FORECAST_COHORTS:
            if forecast_train is None:
                forecast_train = forecast_training_windows(recordings, forecast.metadata)
            eligible = unseen(group, forecast.metadata)
            forecaster = Forecaster(forecast.metadata, forecast.infer)
            comparison = collect_forecasts(eligible, forecaster, forecast_train)
            if len(comparison.test):
                evaluation.forecasts[cohort] = ForecastSet(
                    comparison.test.targets, comparison.quantiles, comparison.baselines
                )
                figures["forecast"][cohort] = comparison_figures(comparison)
    if forecast is not None and loco:
        # The recipe the shipped model was trained with, retrained without each cohort in turn.
        windows = cohort_windows(recordings, LOCO_STRIDE_STEPS)
        figures["forecast_loco"] = leave_one_cohort_out(windows, ForecastTrainConfig())
    return evaluation


def _history_figures(
    figures: dict[str, Any],
    cohort: str,
    group: Sequence[Recording],
    people: set[str],
    predictor: ResponsePredictor,
    previous: ResponsePredictor | None,
) -> None:
    """The person part (training/glucose_history_evaluation.py) of one cohort into `figures`.

    A cohort none of whose people is unseen (D1NAMO: its people are Dubosson's, trained on) is still
    scored, on everyone, and marked `people_seen_in_training`.
    """
    everyone = {r.person_id for r in group}
    scores = evaluate_history(group, people or everyone, predictor, previous)
    scores["people_seen_in_training"] = not people
    if any(str(k) in scores for k in HISTORY_SIZES):  # at least one history size had 3 meals
        figures.setdefault("response_history", {})[cohort] = scores
        verdict = target_verdict(figures["response_history"])
        if verdict is not None:
            figures["response_history_target"] = verdict


def format_table(figures: dict[str, object]) -> str:
    """The plain-text summary the command prints."""
    lines = []
    response = figures.get("response", {})
    assert isinstance(response, dict)
    if response:
        lines.append(
            "response model (unseen people)      peakMAE    bias  r_peak  r_iAUC  RMSE30  RMSE60 RMSE120   AUROC"
        )
    for cohort, scores in response.items():
        lines.append(f"{cohort} ({scores['meals']} meals, {scores['people']} people)")
        for name in ("model", *RESPONSE_BASELINES):
            s = scores[name]
            cells = [s["peak_rise_mae_mg_dl"], s["peak_rise_bias_mg_dl"]]
            cells += [s["peak_rise_pearson_r"], s["iauc_2h_pearson_r"]]
            cells += [s[curve_rmse_key(m)] for m in CURVE_EVAL_MINUTES] + [s["spike_auroc"]]
            lines.append(
                f"  {name:<34}" + "".join(f"{c:8.2f}" if c is not None else "     n/a" for c in cells)
            )
        lines.append(f"  10-90 % band coverage {scores['band_10_90_coverage']:.2f}")
    for key, title in (("forecast", "unseen people"), ("forecast_loco", "leave-one-cohort-out")):
        forecast = figures.get(key, {})
        assert isinstance(forecast, dict)
        if forecast:
            lines.append(
                f"forecast ({title}){'':<{26 - len(title)}}RMSE30   MAE30  RMSE60   MAE60  A+B30  A+B60"
            )
        for cohort, scores in forecast.items():
            coverage = " ".join(f"{v:.2f}" for v in scores["band_10_90_coverage_by_horizon"].values())
            lines.append(
                f"{cohort} ({scores['windows']} origins, {scores['people']} people; band coverage {coverage})"
            )
            for name in ("model", *FORECAST_BASELINES):
                s = scores.get(name)
                if s is None:
                    continue
                cells = [s[f"{m}_{h}min_mg_dl"] for h in (30, 60) for m in ("rmse", "mae")]
                zones = [s[f"clarke_ab_{h}min_percent"] for h in (30, 60)]
                lines.append(
                    f"  {name:<32}"
                    + "".join(f"{c:8.2f}" for c in cells)
                    + "".join(f"{z:7.1f}" for z in zones)
                )
    return "\n".join(lines)


def run_evaluation(
    data: Path,
    layout: str,
    models_dir: Path,
    json_path: Path,
    report_dir: Path,
    max_meals_plotted: int = 6,
    write_model_cards: bool = False,
    command: str = "mealimpact evaluate glucose",
    forecast_loco: bool = True,
) -> tuple[dict[str, object], list[Path]]:
    """Evaluate, write the JSON and the report (and EVALUATION.md beside each model when asked).

    Returns the figures and the files written; the command handler prints them.
    """
    if layout not in (*LAYOUTS, "auto", "all"):
        raise EvaluationError(f"unknown format {layout!r}")
    recordings = load_recordings(data, layout)
    try:
        evaluation = evaluate(recordings, models_dir, loco=forecast_loco)
    except ModelRepositoryError as error:
        raise EvaluationError(f"a shipped model is unusable: {error}") from error
    if not evaluation.meals and not evaluation.forecasts:
        raise EvaluationError(
            f"no person in {data} is unseen by the shipped models (every one was trained on, see the "
            "models' trained_people metadata) or none has enough CGM; evaluate another cohort folder"
        )
    evaluation.figures["data"] = {
        "folder": str(data),
        "format": layout,
        "cohorts": sorted(_by_cohort(recordings)),
    }
    evaluation.figures["command"] = command
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(evaluation.figures, indent=2))
    write_report(evaluation, report_dir, max_meals_plotted)
    written = [json_path, report_dir / "REPORT.md"]
    if write_model_cards:
        written += write_model_summaries(evaluation.figures, models_dir, command)
    return evaluation.figures, written
