"""The glucose evaluation report: Markdown tables and PNG figures (matplotlib, Agg), and the model-card
summaries (`EVALUATION.md` beside each model), all written from one `Evaluation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glucose_model.clarke import ZONES
from glucose_model.features import CURVE_MINUTES
from glucose_model.forecast import HORIZONS_MIN
from training.glucose_history_evaluation import history_tables

if TYPE_CHECKING:
    from training.glucose_evaluate import Evaluation, ForecastSet, MealSet

RESPONSE_COLUMNS = (
    ("peak_rise_mae_mg_dl", "peak-rise MAE (mg/dL)"),
    ("peak_rise_bias_mg_dl", "peak-rise bias (mg/dL)"),
    ("peak_rise_mae_bias_corrected_mg_dl", "MAE, bias-corrected"),
    ("peak_rise_pearson_r", "r peak rise"),
    ("iauc_2h_pearson_r", "r 2-h iAUC"),
    ("curve_rmse_30min_mg_dl", "RMSE 30 min"),
    ("curve_rmse_60min_mg_dl", "RMSE 60 min"),
    ("curve_rmse_120min_mg_dl", "RMSE 120 min"),
    ("spike_auroc", "spike AUROC"),
)
FORECAST_COLUMNS = (
    ("rmse_30min_mg_dl", "RMSE 30"),
    ("mae_30min_mg_dl", "MAE 30"),
    ("rmse_60min_mg_dl", "RMSE 60"),
    ("mae_60min_mg_dl", "MAE 60"),
)


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else "n/a"


def response_tables(figures: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    response = figures.get("response", {})
    assert isinstance(response, dict)
    if response:
        lines += [
            "Peak-rise bias: mean predicted minus measured highest rise (< 0: the predicted top is lower). "
            "Bias-corrected MAE: each person's peak errors less the mean error of the other people's meals.",
            "",
        ]
    for cohort, scores in response.items():
        lines += [
            f"**{cohort}**: {scores['meals']} meals of {scores['people']} unseen people; baselines fitted on "
            f"{scores['baseline_fit_meals']} meals of other people; 10-90 % band holds "
            f"{100 * scores['band_10_90_coverage']:.0f} % of measured points.",
            "",
            "| predictor | " + " | ".join(title for _, title in RESPONSE_COLUMNS) + " |",
            "|---" * (len(RESPONSE_COLUMNS) + 1) + "|",
        ]
        for name in ("model", "persistence", "linear_trend", "carbs_only", "population_average"):
            lines.append(
                f"| {name} | " + " | ".join(_cell(scores[name][k]) for k, _ in RESPONSE_COLUMNS) + " |"
            )
        lost = scores["model_does_not_beat"]
        lines += [
            "",
            "Where the model does not beat a baseline: " + ("; ".join(lost) if lost else "nowhere."),
            "",
        ]
    return lines


FORECAST_PREDICTORS = ("model", "persistence", "linear", "damped_trend", "ridge_3h")


def _forecast_cohort_table(scores: dict[str, Any]) -> list[str]:
    lines = [
        "| predictor | "
        + " | ".join(t for _, t in FORECAST_COLUMNS)
        + " | Clarke 30 min A/B/C/D/E % | Clarke 60 min A/B/C/D/E % |",
        "|---" * (len(FORECAST_COLUMNS) + 3) + "|",
    ]
    for name in FORECAST_PREDICTORS:
        s = scores.get(name)
        if s is None:
            continue
        zones = ["/".join(f"{s[f'clarke_{m}min_percent'][z]:.1f}" for z in ZONES) for m in (30, 60)]
        lines.append(
            f"| {name} | "
            + " | ".join(_cell(s[k]) for k, _ in FORECAST_COLUMNS)
            + f" | {zones[0]} | {zones[1]} |"
        )
    return lines


def _alert_table(scores: dict[str, Any]) -> list[str]:
    lines = [
        "| alert (within 30 min) | from | origins | events | alerts | precision | recall | lead time (min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    labels = {"low": "below 70 mg/dL", "high": "above 180 mg/dL"}
    for alert, by_source in scores.get("alerts", {}).items():
        for source, a in by_source.items():
            lines.append(
                f"| {labels.get(alert, alert)} | {source} | {a['origins']} | {a['events']} | {a['alerts']} | "
                f"{_cell(a['precision'])} | {_cell(a['recall'])} | {_cell(a['lead_time_min'])} |"
            )
    return lines


def _summary_table(figures: dict[str, Any]) -> list[str]:
    """One row per cohort and way: model vs persistence vs ridge at 30 and 60 min, band, Clarke A+B."""
    lines = [
        "| cohort | way | people | RMSE 30 model / persistence / ridge 3 h | RMSE 60 model / persistence / ridge 3 h "
        "| MAE 30 model / persistence | MAE 60 model / persistence | Clarke A+B 30 / 60 % | band 10-90 % at +30 / +60 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, way in (("forecast", "unseen people"), ("forecast_loco", "unseen cohort")):
        for cohort, s in figures.get(key, {}).items():
            m, p, r = s["model"], s["persistence"], s.get("ridge_3h")

            def trio(metric: str, m: dict[str, Any] = m, p: dict[str, Any] = p, r: Any = r) -> str:
                ridge = f"{r[metric]:.2f}" if r else "n/a"
                return f"{m[metric]:.2f} / {p[metric]:.2f} / {ridge}"

            band = s["band_10_90_coverage_by_horizon"]
            lines.append(
                f"| {cohort} | {way} | {s['people']} | {trio('rmse_30min_mg_dl')} | {trio('rmse_60min_mg_dl')} | "
                f"{m['mae_30min_mg_dl']:.2f} / {p['mae_30min_mg_dl']:.2f} | "
                f"{m['mae_60min_mg_dl']:.2f} / {p['mae_60min_mg_dl']:.2f} | "
                f"{m['clarke_ab_30min_percent']:.1f} / {m['clarke_ab_60min_percent']:.1f} | "
                f"{band['30']:.2f} / {band['60']:.2f} |"
            )
    return lines


def forecast_verdicts(figures: dict[str, Any]) -> list[str]:
    """Where "below persistence and ridge at 30 and 60 min (RMSE), Clarke A+B >= 99 %, band 0.75-0.85"
    does not hold, one line each with the numbers."""
    misses = []
    for key, way in (("forecast", "unseen people"), ("forecast_loco", "unseen cohort")):
        for cohort, s in figures.get(key, {}).items():
            for line in s.get("model_does_not_beat", []):
                misses.append(f"{cohort} ({way}): {line}")
            for minute in (30, 60):
                ab = s["model"][f"clarke_ab_{minute}min_percent"]
                if ab < 99.0:
                    misses.append(f"{cohort} ({way}): Clarke A+B at {minute} min {ab:.1f} % (< 99 %)")
            for h, v in s["band_10_90_coverage_by_horizon"].items():
                if not 0.75 <= v <= 0.85:
                    misses.append(f"{cohort} ({way}): band coverage at +{h} min {v:.2f} (outside 0.75-0.85)")
    return misses


def forecast_tables(figures: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if figures.get("forecast") or figures.get("forecast_loco"):
        lines += [
            "Both ways at a glance (unseen people: the shipped model on people it never saw, baselines fitted "
            "on its training people; unseen cohort: the same recipe retrained without that cohort, baselines "
            "fitted on the same other cohorts):",
            "",
            *_summary_table(figures),
            "",
            "Where the claim (below persistence and below the 3-h ridge in RMSE and MAE at 30 and 60 min, "
            "Clarke A+B >= 99 %, 10-90 % band coverage within 0.75-0.85) does not hold:",
            "",
            *([f"- {m}" for m in forecast_verdicts(figures)] or ["- nowhere."]),
            "",
        ]
    for key, title in (("forecast", "unseen people"), ("forecast_loco", "leave-one-cohort-out")):
        forecast = figures.get(key, {})
        assert isinstance(forecast, dict)
        if forecast:
            lines += [f"### {title}", ""]
        for cohort, scores in forecast.items():
            coverage = ", ".join(
                f"+{h}: {100 * v:.0f} %" for h, v in scores["band_10_90_coverage_by_horizon"].items()
            )
            who = "unseen people" if key == "forecast" else "people of a cohort left out of training"
            lines += [
                f"**{cohort}**: {scores['windows']} forecast origins of {scores['people']} {who}; "
                f"10-90 % band holds {coverage} of measured values.",
                "",
                *_forecast_cohort_table(scores),
                "",
                *_alert_table(scores),
                "",
                f"Skill (1 - RMSE model / RMSE baseline) against persistence: "
                f"{scores['skill_vs_persistence_30min']:.3f} at 30 min, {scores['skill_vs_persistence_60min']:.3f} at 60 min.",
                "Where the model does not beat a baseline: "
                + ("; ".join(scores["model_does_not_beat"]) or "nowhere."),
                "",
            ]
    return lines


def _one_line(description: str, width: int = 45) -> str:
    text = "; ".join(part.strip() for part in description.splitlines() if part.strip())
    return text if len(text) <= width else text[: width - 3] + "..."


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_meal_curves(meals: dict[str, MealSet], path: Path, n_meals: int) -> int:
    """Predicted band and median against the measured curve for a spread of unseen people's meals."""
    plt = _pyplot()
    # Round-robin over cohorts; within a cohort, meals spread evenly over its eligible rows.
    spread = {}
    for cohort, meal_set in meals.items():
        rows = [i for i, ok in enumerate(meal_set.eligible) if ok]
        picks = np.linspace(0, len(rows) - 1, num=min(len(rows), n_meals)).round().astype(int)
        spread[cohort] = [(cohort, meal_set, rows[k]) for k in dict.fromkeys(picks.tolist())]
    chosen = []
    for k in range(n_meals):
        chosen += [picks[k] for picks in spread.values() if k < len(picks)]
    chosen = chosen[:n_meals]
    if not chosen:
        return 0
    cols = 3
    fig, axes = plt.subplots(
        -(-len(chosen) // cols), cols, figsize=(13, 3.4 * -(-len(chosen) // cols)), squeeze=False
    )
    pre_minutes = np.arange(-180, 1, 5)
    for ax, (cohort, meal_set, i) in zip(axes.flat, chosen, strict=False):
        result = meal_set.results[i]
        assert result is not None
        ax.plot(
            pre_minutes[-13:], meal_set.pre_meal_mg_dl[i][-13:], color="0.5", lw=1.2, label="measured before"
        )
        ax.plot(CURVE_MINUTES, meal_set.measured_mg_dl[i], color="k", lw=1.6, label="measured after")
        ax.fill_between(
            CURVE_MINUTES,
            result.curve.low_mg_dl,
            result.curve.high_mg_dl,
            color="C0",
            alpha=0.25,
            label="predicted 10-90 %",
        )
        ax.plot(CURVE_MINUTES, result.curve.glucose_mg_dl, color="C0", lw=1.6, label="predicted median")
        ax.axhline(result.spike.threshold_mg_dl, color="C3", ls=":", lw=1)
        ax.set_title(
            f"{cohort}: {_one_line(meal_set.description[i])}\n{meal_set.carbs_g[i]:.0f} g carbs, P(spike)={result.spike.probability:.2f}",
            fontsize=8,
        )
        ax.set_xlabel("minutes from meal")
        ax.set_ylabel("glucose mg/dL")
    for ax in list(axes.flat)[len(chosen) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return len(chosen)


# A cohort with fewer unseen meals than this gets no coverage line (its table row still reports it).
MIN_MEALS_PLOTTED_FOR_COVERAGE = 10


def plot_band_calibration(figures: dict[str, Any], path: Path) -> None:
    """Share of measured points inside the 10-90 % band: response by minute, forecast by horizon."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
    for cohort, scores in figures.get("response", {}).items():
        if scores["meals"] < MIN_MEALS_PLOTTED_FOR_COVERAGE:
            continue  # one meal's band is either around a point or not: 0 or 1, no calibration to read
        by_minute = [np.nan if v is None else v for v in scores["band_10_90_coverage_by_minute"]]
        left.plot(CURVE_MINUTES[1:], by_minute[1:], marker=".", label=f"{cohort} ({scores['meals']} meals)")
    left.axhline(0.8, color="k", ls="--", lw=1, label="ideal 0.80")
    left.set(
        title="response model: measured inside 10-90 % band",
        xlabel="minutes after meal",
        ylabel="share",
        ylim=(0, 1),
    )
    left.legend(fontsize=7)
    cohorts = list(figures.get("forecast", {}))
    width = 0.8 / max(1, len(cohorts))
    for c, cohort in enumerate(cohorts):
        cover = figures["forecast"][cohort]["band_10_90_coverage_by_horizon"]
        right.bar(
            np.arange(len(HORIZONS_MIN)) + c * width,
            [cover[str(h)] for h in HORIZONS_MIN],
            width,
            label=cohort,
        )
    right.axhline(0.8, color="k", ls="--", lw=1)
    right.set_xticks(np.arange(len(HORIZONS_MIN)) + 0.4 - width / 2, [f"+{h} min" for h in HORIZONS_MIN])
    right.set(title="forecast: measured inside 10-90 % band", ylabel="share", ylim=(0, 1))
    if cohorts:
        right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_explanations(meals: dict[str, MealSet], path: Path, n_meals: int = 3) -> int:
    """Shapley contributions (mg/dL of peak rise) of a few unseen people's meals."""
    plt = _pyplot()
    chosen = [(c, m, i) for c, m in meals.items() for i, ok in enumerate(m.eligible) if ok][::37][:n_meals]
    if not chosen:
        return 0
    fig, axes = plt.subplots(
        1, len(chosen), figsize=(4.2 * len(chosen) + 1.5, 3.6), squeeze=False, sharey=True
    )
    for ax, (cohort, meal_set, i) in zip(axes.flat, chosen, strict=True):
        result = meal_set.results[i]
        assert result is not None
        groups = [c.group for c in result.explanation.contributions]
        values = [c.peak_rise_mg_dl for c in result.explanation.contributions]
        ax.barh(groups, values, color=["C3" if v > 0 else "C2" for v in values])
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(
            f"{cohort}: {_one_line(meal_set.description[i])}\nrise {result.explanation.predicted_peak_rise_mg_dl:.0f} vs "
            f"reference {result.explanation.reference_peak_rise_mg_dl:.0f} mg/dL",
            fontsize=8,
        )
        ax.set_xlabel("contribution to peak rise, mg/dL")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return len(chosen)


def plot_clarke(
    forecasts: dict[str, ForecastSet], path: Path, minute: int = 30, max_points: int = 6000
) -> None:
    """Clarke error grid of the +`minute` forecasts, zone boundaries drawn as published."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    rng = np.random.default_rng(0)
    k = HORIZONS_MIN.index(minute)
    for c, (cohort, f) in enumerate(forecasts.items()):
        take = rng.permutation(f.targets.shape[0])[:max_points]
        ax.scatter(f.targets[take, k], f.predicted[take, k, 1], s=2, alpha=0.3, color=f"C{c}", label=cohort)
    # Zone boundaries (Clarke 1987), in reference (x) / prediction (y) mg/dL.
    segments = [
        ((0, 400), (0, 400)),
        ((0, 175 / 3), (70, 70)),
        ((175 / 3, 400 / 1.2), (70, 400)),
        ((70, 70), (84, 400)),
        ((0, 70), (180, 180)),
        ((70, 290), (180, 400)),
        ((70, 70), (0, 56)),
        ((70, 400), (56, 320)),
        ((180, 180), (0, 70)),
        ((180, 400), (70, 70)),
        ((240, 240), (70, 180)),
        ((240, 400), (180, 180)),
        ((130, 180), (0, 70)),
    ]
    for xs, ys in segments:
        ax.plot(xs, ys, color="k", lw=0.8)
    for label, (x, y) in {
        "A": (30, 15),
        "B": (370, 260),
        "B ": (280, 370),
        "C": (160, 370),
        "C ": (160, 15),
        "D": (30, 140),
        "D ": (370, 120),
        "E": (30, 370),
        "E ": (370, 15),
    }.items():
        ax.text(x, y, label.strip(), fontsize=12)
    ax.set(
        xlim=(0, 400), ylim=(0, 400), xlabel="measured glucose mg/dL", ylabel=f"forecast +{minute} min, mg/dL"
    )
    ax.set_title(f"Clarke error grid, +{minute} min forecast (unseen people)")
    ax.legend(fontsize=7, markerscale=4, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(evaluation: Evaluation, report_dir: Path, max_meals_plotted: int) -> Path:
    """REPORT.md and its PNGs in `report_dir`."""
    report_dir.mkdir(parents=True, exist_ok=True)
    figures = evaluation.figures
    lines = ["# Glucose models: evaluation on people the models never saw", ""]
    data = figures.get("data", {})
    lines += [
        f"Data: `{data.get('folder')}` (format {data.get('format')}; cohorts {', '.join(data.get('cohorts', []))}).",
        "",
        "Models: "
        + "; ".join(
            f"{name} " + (f"version {m['version']}, sha256 {m['sha256'][:12]}..." if m else "not found")
            for name, m in figures.get("models", {}).items()
        )
        + ".",
        "",
    ]
    if figures.get("command"):
        lines += [f"Produced by `{figures['command']}`.", ""]
    lines += ["Published references: " + "; ".join(f"{k}: {v}" for k, v in figures["references"].items()), ""]
    if evaluation.meals:
        lines += ["## Post-meal response model", "", *response_tables(figures), *history_tables(figures)]
        if plot_meal_curves(evaluation.meals, report_dir / "response_curves.png", max_meals_plotted):
            lines += ["![predicted vs measured curves](response_curves.png)", ""]
        if plot_explanations(evaluation.meals, report_dir / "explanations.png"):
            lines += [
                "Explanations (exact Shapley values over factor groups, against the reference meal):",
                "",
                "![explanations](explanations.png)",
                "",
            ]
    if evaluation.forecasts or figures.get("forecast_loco"):
        lines += ["## Forecast (+15..+60 min)", "", *forecast_tables(figures)]
        for minute in (30, 60) if evaluation.forecasts else ():
            plot_clarke(evaluation.forecasts, report_dir / f"clarke_{minute}min.png", minute)
            lines += [f"![Clarke grid {minute} min](clarke_{minute}min.png)", ""]
    if figures.get("response") or figures.get("forecast"):
        plot_band_calibration(figures, report_dir / "band_calibration.png")
        lines += ["## Calibration of the 10-90 % bands", "", "![band calibration](band_calibration.png)", ""]
    path = report_dir / "REPORT.md"
    path.write_text("\n".join(lines))
    return path


def write_model_summaries(figures: dict[str, Any], models_dir: Path, command: str) -> list[Path]:
    """`EVALUATION.md` beside each evaluated model: the tables, and the command that made them."""
    written = []
    header = ["", f"Produced by `{command}`; every figure is in the JSON it wrote.", ""]
    for name, key, tables in (
        ("glucose_response", "response", lambda f: [*response_tables(f), *history_tables(f)]),
        ("glucose_forecast", "forecast", forecast_tables),
    ):
        if not (figures.get(key) or figures.get(f"{key}_loco")) or not (models_dir / name).is_dir():
            continue
        path = models_dir / name / "EVALUATION.md"
        title = f"# {name}: evaluation on unseen people (generated; do not edit by hand)"
        path.write_text("\n".join([title, *header, *tables(figures)]))
        written.append(path)
    return written
