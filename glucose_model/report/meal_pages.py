"""The meal-response pages: findings in plain language, meal-time patterns, the meals that spiked most
(measured against predicted where the model is available), and a table of every logged meal. Their words
are in the report's language, as the AGP page's (labels.py: `t` for labels, `sentence` for the findings).
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from glucose_model.meal_summary import MealOutcome, MealSummary
from glucose_model.metrics import HIGH_ABOVE_MG_DL, LOW_BELOW_MG_DL
from glucose_model.report.agp_page import MEDIAN_LINE, TARGET_FILL, Printed, plain_text
from glucose_model.report.labels import current_language, date_format, sentence, t, word
from glucose_model.report.units import DisplayUnit

FINDINGS_FONT_PT = 8.0
FINDINGS_WRAP_CHARS = {
    "en": 110,
    "ko": 76,
}  # about the page width at 8 pt; a Hangul syllable is twice as wide
SPIKE_PANELS = 6  # the meals that spiked most, 2 rows of 3
TABLE_ROWS_PER_PAGE = 40
CURVE_FROM_MIN = -60  # the spike panels show the hour before the meal for context
PREDICTED_COLOUR = "#d95f02"
SPIKE_LINE = "#e2231a"
_NUMBER = re.compile(r"\{(mg_dl|delta):(-?[0-9.]+)\}")


def render_sentence(text: str, unit: DisplayUnit) -> str:
    """Put the numbers of a finding ({mg_dl:180} / {delta:46.0}) into the person's unit."""

    def number(match: re.Match[str]) -> str:
        value = float(match.group(2))
        return unit.text(value) if match.group(1) == "mg_dl" else unit.text_delta(value)

    return _NUMBER.sub(number, text)


def meal_title(outcome: MealOutcome) -> str:
    return f"{outcome.meal.time.strftime(date_format('meal'))} {word(outcome.slot.value)}"


def draw_meal_summary_page(fig: Figure, summary: MealSummary, unit: DisplayUnit) -> Printed:
    """Page 2: findings, patterns by meal time, and the meals that spiked most."""
    model_note = sentence(summary.model_note)
    printed: Printed = {
        "meals_logged": str(len(summary.outcomes)),
        "meals_measured": str(len(summary.measured)),
        "model_note": model_note,
    }
    fig.text(0.08, 0.975, t("Meal responses"), fontsize=15, weight="bold", va="top")
    findings = [render_sentence(sentence(line), unit) for line in summary.findings]
    wrap = FINDINGS_WRAP_CHARS[current_language()]
    lines = [textwrap.fill(f"- {line}", wrap, subsequent_indent="  ") for line in [*findings, model_note]]
    body = "\n".join(lines)
    fig.text(0.08, 0.945, body, fontsize=FINDINGS_FONT_PT, va="top", linespacing=1.5)
    printed["findings"] = " ".join(findings)
    # The charts start right below the findings, however many lines they took.
    text_height = (body.count("\n") + 1) * 1.5 * FINDINGS_FONT_PT / 72 / fig.get_figheight()
    grid = fig.add_gridspec(3, 3, left=0.08, right=0.97, top=0.945 - text_height - 0.05, bottom=0.05,
                            hspace=0.75, wspace=0.3)  # fmt: skip
    printed.update(draw_slot_bars(fig.add_subplot(grid[0, :2]), summary, unit))
    draw_walk_panel(fig.add_subplot(grid[0, 2]), summary, unit)
    for i, outcome in enumerate(summary.most_spiking(SPIKE_PANELS)):
        ax = fig.add_subplot(grid[1 + i // 3, i % 3])
        printed.update(draw_meal_curve(ax, outcome, summary.spike_threshold_mg_dl, unit, rank=i + 1))
    if summary.measured:
        # Above the two-line titles of the first row of meal panels.
        y = grid[1, 0].get_position(fig).y1 + 0.045
        fig.text(0.08, y, t("The meals that raised glucose the most"), fontsize=10, weight="bold")
        # One legend for the six panels, beside the heading: inside a panel it would cover a curve or the
        # panel's own peak / factor text, wherever the curves happen to run.
        predicted = any(o.predicted is not None for o in summary.most_spiking(SPIKE_PANELS))
        handles: list[Artist] = [Line2D([], [], color=MEDIAN_LINE, lw=1.3, label=t("measured"))]
        if predicted:
            handles += [
                Line2D([], [], color=PREDICTED_COLOUR, lw=1.1, label=t("predicted")),
                Patch(color=PREDICTED_COLOUR, alpha=0.2, lw=0, label=t("predicted 10-90 %")),
            ]
        handles.append(Line2D([], [], color=SPIKE_LINE, lw=0.7, ls="--", label=t("spike threshold")))
        fig.legend(handles=handles, loc="lower right", bbox_to_anchor=(0.97, y - 0.006), ncols=len(handles),
                   fontsize=6.5, frameon=False)  # fmt: skip
    return printed


def draw_slot_bars(ax: Axes, summary: MealSummary, unit: DisplayUnit) -> Printed:
    ax.set_title(t("Typical rise after each meal of the day"), loc="left", fontsize=9, weight="bold")
    printed: Printed = {}
    if not summary.slots:
        ax.axis("off")
        ax.text(0, 0.5, t("No meal had enough CGM around it to measure."), fontsize=8, transform=ax.transAxes)
        return printed
    names = [
        t("{slot}\n({meals} meals, {spikes} spikes)", slot=word(p.slot.value), meals=p.meals, spikes=p.spikes)
        for p in summary.slots
    ]
    rises = unit.convert([p.median_rise_mg_dl for p in summary.slots])
    bars = ax.bar(range(len(names)), rises, color="#6baed6")
    for bar, pattern in zip(bars, summary.slots, strict=True):
        label = unit.text_delta(pattern.median_rise_mg_dl)
        ax.text(
            bar.get_x() + bar.get_width() / 2, bar.get_height(), label, ha="center", va="bottom", fontsize=7
        )
        printed[f"slot_{pattern.slot.value}_median_rise"] = label
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=7)
    ax.set_ylabel(t("median rise ({unit})", unit=unit.value), fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylim(min(0.0, float(np.min(rises)) * 1.2), max(float(np.max(rises)) * 1.25, 1.0))
    return printed


def draw_walk_panel(ax: Axes, summary: MealSummary, unit: DisplayUnit) -> None:
    ax.set_title(t("Walk after the meal"), loc="left", fontsize=9, weight="bold")
    walk = summary.walk
    if walk is None:
        ax.axis("off")
        ax.text(0, 0.6, t("Not enough step data\nto compare meals with\nand without a walk."), fontsize=7.5,
                transform=ax.transAxes, va="top")  # fmt: skip
        return
    values_mg_dl = [walk.median_rise_walked_mg_dl, walk.median_rise_other_mg_dl]
    rises = unit.convert(values_mg_dl)
    bars = ax.bar([0, 1], rises, color=["#3a9a3e", "#bdbdbd"])
    for bar, value in zip(bars, values_mg_dl, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), unit.text_delta(value), ha="center",
                va="bottom", fontsize=7)  # fmt: skip
    ax.set_ylabel(t("median rise ({unit})", unit=unit.value), fontsize=7)
    ax.set_ylim(min(0.0, float(np.min(rises)) * 1.2), max(float(np.max(rises)) * 1.25, 1.0))
    ax.set_xticks([0, 1])
    names = [t("walk\n({meals})", meals=walk.walked_meals), t("no walk\n({meals})", meals=walk.other_meals)]
    ax.set_xticklabels(names, fontsize=7)
    ax.tick_params(axis="y", labelsize=7)


def draw_meal_curve(
    ax: Axes, outcome: MealOutcome, threshold_mg_dl: float, unit: DisplayUnit, rank: int
) -> Printed:
    """Measured glucose around one meal; the predicted curve and band when the model gave one."""
    keep = outcome.minutes >= CURVE_FROM_MIN
    ax.axhspan(*unit.convert([LOW_BELOW_MG_DL, HIGH_ABOVE_MG_DL]), color=TARGET_FILL, zorder=0)
    ax.plot(outcome.minutes[keep], unit.convert(outcome.glucose_mg_dl[keep]), color=MEDIAN_LINE, lw=1.3,
            label=t("measured"))  # fmt: skip
    ax.axhline(float(unit.convert(threshold_mg_dl)), color=SPIKE_LINE, lw=0.7, ls="--")
    ax.axvline(0, color="#888888", lw=0.6)
    predicted = outcome.predicted
    if predicted is not None:
        ax.fill_between(predicted.minute, unit.convert(predicted.low_mg_dl), unit.convert(predicted.high_mg_dl),
                        color=PREDICTED_COLOUR, alpha=0.2, lw=0)  # fmt: skip
        ax.plot(predicted.minute, unit.convert(predicted.glucose_mg_dl), color=PREDICTED_COLOUR, lw=1.1,
                label=t("predicted"))  # fmt: skip
    response = outcome.response
    assert response is not None  # most_spiking only returns measured meals
    description = textwrap.shorten(
        plain_text(outcome.meal.description or t("(no description)")), 38, placeholder="..."
    )
    ax.set_title(f"{rank}. {meal_title(outcome)}\n{description}", fontsize=6.5, loc="left")
    peak, rise = unit.text(response.peak_mg_dl), unit.text_delta(response.peak_rise_mg_dl)
    text = t("peak {peak}, rise {rise}", peak=peak, rise=rise)
    if predicted is not None and predicted.factors:
        factor, contribution = predicted.factors[0]
        # Shapley contribution against the model's reference meal: it can push the rise up or down.
        largest = t(
            "largest factor: {factor} ({contribution} vs. reference)",
            factor=word(factor),
            contribution=unit.text_delta(contribution),
        )
        text += "\n" + textwrap.fill(largest, 42 if current_language() == "en" else 24)
    # On a light box: the measured curve can run through the panel's lower corner.
    ax.text(0.02, 0.03, text, transform=ax.transAxes, fontsize=5.5, va="bottom",
            bbox={"facecolor": "white", "alpha": 0.75, "linewidth": 0, "pad": 1.0})  # fmt: skip
    ax.set_xlim(CURVE_FROM_MIN, float(outcome.minutes.max()))
    ax.set_xticks([-60, 0, 60, 120, 180])
    ax.tick_params(labelsize=6)
    ax.set_xlabel(t("minutes after the meal"), fontsize=6)
    ax.set_ylabel(unit.value, fontsize=6)
    return {f"spike_{rank}_peak": peak, f"spike_{rank}_rise": rise}


def draw_meal_table_page(
    fig: Figure, outcomes: list[MealOutcome], unit: DisplayUnit, first_row: int
) -> Printed:
    """Every logged meal, one line each: time, meal, carbohydrate, baseline, peak, rise, time to peak."""
    fig.text(0.05, 0.975, t("Every logged meal"), fontsize=13, weight="bold", va="top")
    headers = [t(h) for h in ("#", "time", "meal", "carbs", "before", "peak", "rise", "to peak", "spike")]
    columns_x = (0.05, 0.08, 0.25, 0.57, 0.64, 0.71, 0.78, 0.85, 0.92)
    top, line_h = 0.94, 0.022
    for x, header in zip(columns_x, headers, strict=True):
        fig.text(x, top, header, fontsize=7.5, weight="bold")
    fig.text(0.65, top + 0.015, t("glucose in {unit}", unit=unit.value), fontsize=6.5)
    printed: Printed = {}
    for i, outcome in enumerate(outcomes):
        row = first_row + i
        description = textwrap.shorten(plain_text(outcome.meal.description or ""), 48, placeholder="...")
        cells = [
            str(row),
            outcome.meal.time.strftime(date_format("meal")),
            description,
            f"{outcome.meal.carbs_g:.0f} g",
        ]
        response = outcome.response
        if response is None:
            cells += [t("not enough CGM around this meal"), "", "", "", ""]
        else:
            cells += [
                unit.text(response.baseline_mg_dl, False),
                unit.text(response.peak_mg_dl, False),
                unit.text_delta(response.peak_rise_mg_dl).split()[0],
                t("{minutes} min", minutes=f"{response.time_to_peak_min:.0f}"),
                t("yes") if outcome.spiked else t("no"),
            ]
            printed[f"meal_{row}_peak"] = cells[5]
            printed[f"meal_{row}_rise"] = cells[6]
        y = top - (i + 1) * line_h
        for x, cell in zip(columns_x, cells, strict=True):
            fig.text(x, y, cell, fontsize=6.5, color="#b30000" if cell == t("yes") else "black")
    return printed
