"""The one-page AGP report (Battelino 2019 layout): statistics and targets, time in ranges, modal day, daily
profiles. Every number drawn is also returned as the exact string printed, for tests and for the HTML page.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.gridspec import SubplotSpec

from glucose_model.agp import (
    MINUTES_PER_DAY,
    RECOMMENDED_DAYS,
    RECOMMENDED_SENSOR_WEAR_PERCENT,
    AmbulatoryGlucoseProfile,
    DailyProfile,
    TargetCheck,
)
from glucose_model.metrics import (
    HIGH_ABOVE_MG_DL,
    LOW_BELOW_MG_DL,
    VERY_HIGH_ABOVE_MG_DL,
    VERY_LOW_BELOW_MG_DL,
    CgmSummary,
)
from glucose_model.records import CENSORED_HIGH_MG_DL, CENSORED_LOW_MG_DL
from glucose_model.report.labels import date_format, t
from glucose_model.report.units import DisplayUnit

PAGE_SIZE_IN = (8.27, 11.69)  # A4 portrait
DAILY_PANELS_PER_ROW = 7
DAILY_PANEL_ROWS = 2  # the AGP shows the last 14 days
AGP_Y_MAX_MG_DL = 350.0  # the AGP's fixed scale; raised when the 95th percentile goes beyond it
AGP_Y_STEP_MG_DL = 50.0  # ... in steps of this much
DAILY_Y_MIN_MG_DL = 40.0
NOTE_FONT_PT = 8.0
PERSON_LABEL_CHARS = 45
NOTE_WRAP_CHARS = 125  # about the text width of the page at 8 pt

# The AGP's colours, from very low to very high.
RANGE_COLOURS = ("#8b0000", "#e2231a", "#3a9a3e", "#f6c300", "#f47c20")
TARGET_FILL = "#dff0d8"
BAND_OUTER = "#c6dbef"
BAND_INNER = "#6baed6"
MEDIAN_LINE = "#08306b"

Printed = dict[str, str]


def plain_text(text: str) -> str:
    """A person's own text made safe to draw on one line: control characters (newlines, escapes) become
    spaces and unpaired surrogates, which no font or PDF encoder can take, are dropped."""
    kept = (" " if unicodedata.category(c) == "Cc" else c for c in text if unicodedata.category(c) != "Cs")
    return " ".join("".join(kept).split())


def format_percent(value: float) -> str:
    return f"{value:.1f} %"


def format_duration_per_day(percent: float) -> str:
    """A share of the day as hours and minutes: 12.5 % -> '3 h 0 min'."""
    minutes = round(percent / 100.0 * MINUTES_PER_DAY)
    if minutes >= 60:
        return t("{hours} h {minutes} min", hours=minutes // 60, minutes=minutes % 60)
    return t("{minutes} min", minutes=minutes)


def range_labels(unit: DisplayUnit) -> tuple[str, str, str, str, str]:
    """The five consensus ranges named in the person's unit, from very low to very high."""
    very_low, low = unit.text(VERY_LOW_BELOW_MG_DL, False), unit.text(LOW_BELOW_MG_DL, False)
    high, very_high = unit.text(HIGH_ABOVE_MG_DL, False), unit.text(VERY_HIGH_ABOVE_MG_DL, False)
    return (
        t("Very low <{level}", level=very_low),
        t("Low {low}-<{high}", low=very_low, high=low),
        t("Target {low}-{high}", low=low, high=high),
        t("High >{low}-{high}", low=high, high=very_high),
        t("Very high >{level}", level=very_high),
    )


def target_label(check: TargetCheck, unit: DisplayUnit) -> str:
    def at(mg_dl: float) -> str:
        return unit.text(mg_dl)

    return {
        "time_in_range_70_180_percent": (
            t("Time in range {low}-{high}", low=unit.text(LOW_BELOW_MG_DL, False), high=at(HIGH_ABOVE_MG_DL))
        ),
        "time_below_70_percent": t("Time below {level}", level=at(LOW_BELOW_MG_DL)),
        "time_below_54_percent": t("Time below {level}", level=at(VERY_LOW_BELOW_MG_DL)),
        "time_above_180_percent": t("Time above {level}", level=at(HIGH_ABOVE_MG_DL)),
        "time_above_250_percent": t("Time above {level}", level=at(VERY_HIGH_ABOVE_MG_DL)),
        "cv_percent": t("Glucose variability (CV)"),
    }[check.metric]


def draw_agp_page(
    fig: Figure, profile: AmbulatoryGlucoseProfile, unit: DisplayUnit, person_label: str
) -> Printed:
    """Draw the AGP page on an empty A4 figure; return what was printed."""
    printed: Printed = {"unit": unit.value}
    s = profile.summary
    header, header_bottom = draw_header(fig, profile, person_label, unit)
    printed.update(header)
    # The header sits in figure coordinates; the grid starts below its last note, however many there are.
    grid = fig.add_gridspec(3, 1, height_ratios=[2.3, 3.2, 3.0], hspace=0.42, left=0.08, right=0.97,
                            top=min(0.88, header_bottom - 0.04), bottom=0.04)  # fmt: skip
    top = grid[0].subgridspec(1, 2, width_ratios=[1.2, 1.0], wspace=0.12)
    printed.update(draw_statistics(fig.add_subplot(top[0]), profile, unit))
    printed.update(draw_time_in_ranges(fig.add_subplot(top[1]), s, unit))
    printed.update(draw_modal_day(fig.add_subplot(grid[1]), profile, unit))
    printed.update(draw_daily_profiles(fig, grid[2], profile.days, unit))
    return printed


def draw_header(
    fig: Figure, profile: AmbulatoryGlucoseProfile, person_label: str, unit: DisplayUnit
) -> tuple[Printed, float]:
    """Title, person, period and the data notes in red; returns what was printed and the notes' bottom."""
    s = profile.summary
    dates = date_format("period")
    period = t(
        "{start} - {end} ({days:.1f} days{choice})",
        start=profile.start.strftime(dates),
        end=profile.end.strftime(dates),
        days=s.days_covered,
        choice=period_choice(profile),
    )
    fig.text(
        0.08, 0.975, t("AGP Report: Continuous Glucose Monitoring"), fontsize=15, weight="bold", va="top"
    )
    fig.text(0.08, 0.952, t("Period: {period}", period=period), fontsize=9, va="top")
    # Beside the period, not the title: room for about 45 characters at 9 pt.
    label = textwrap.shorten(plain_text(person_label), PERSON_LABEL_CHARS, placeholder="...")
    fig.text(0.97, 0.952, label, fontsize=9, ha="right", va="top")
    printed = {"period": period, "days_covered": f"{s.days_covered:.1f}"}
    notes = []
    if profile.shorter_than_recommended:
        notes.append(
            t(
                "This report covers {days:.1f} days; at least {recommended} days are recommended for a reliable "
                "profile, so read the patterns with care.",
                days=s.days_covered,
                recommended=RECOMMENDED_DAYS,
            )
        )
    if profile.wear_below_recommended:
        notes.append(
            t(
                "The sensor was active {wear:.1f} % of the period (recommended > {recommended:g} %).",
                wear=s.sensor_wear_percent,
                recommended=RECOMMENDED_SENSOR_WEAR_PERCENT,
            )
        )
    if profile.censored_low_readings or profile.censored_high_readings:
        notes.append(
            t(
                "{low} readings were below the sensor's range (LOW) and {high} above it (HIGH); they count as "
                "below {very_low} and above {very_high}, at {low_value} and {high_value} in the mean.",
                low=profile.censored_low_readings,
                high=profile.censored_high_readings,
                very_low=unit.text(VERY_LOW_BELOW_MG_DL),
                very_high=unit.text(VERY_HIGH_ABOVE_MG_DL),
                low_value=unit.text(CENSORED_LOW_MG_DL),
                high_value=unit.text(CENSORED_HIGH_MG_DL),
            )
        )
    if not notes:
        return printed, 0.935
    printed["data_sufficiency_note"] = " ".join(notes)
    lines = [textwrap.fill(note, NOTE_WRAP_CHARS) for note in notes]
    fig.text(0.08, 0.935, "\n".join(lines), fontsize=NOTE_FONT_PT, color="#b30000", va="top")
    n_lines = sum(line.count("\n") + 1 for line in lines)
    return printed, 0.935 - n_lines * 1.2 * NOTE_FONT_PT / 72 / fig.get_figheight()


def period_choice(profile: AmbulatoryGlucoseProfile) -> str:
    """How the period was chosen, when the record holds more than the report shows ('' otherwise)."""
    chosen = profile.period
    if profile.record_days <= profile.summary.days_covered + 1.0 / 24:
        return ""
    if chosen.by_dates:
        return t(", chosen from {recorded:.0f} days recorded", recorded=profile.record_days)
    return t(
        ", the latest {days} of {recorded:.0f} days recorded", days=chosen.days, recorded=profile.record_days
    )


def draw_statistics(ax: Axes, profile: AmbulatoryGlucoseProfile, unit: DisplayUnit) -> Printed:
    """The 'glucose statistics and targets' table, drawn as text so it prints at any size."""
    s = profile.summary
    ax.axis("off")
    ax.set_title(t("Glucose statistics and targets"), loc="left", fontsize=10, weight="bold")
    printed = {
        "mean_glucose": unit.text(s.mean_mg_dl),
        "gmi_percent": format_percent(s.gmi_percent),
        "cv_percent": format_percent(s.cv_percent),
        "sensor_wear_percent": format_percent(s.sensor_wear_percent),
        "readings": str(s.readings),
    }
    rows: list[tuple[str, str, str, bool]] = [
        (t("Days of data"), f"{s.days_covered:.1f}", t(">= {days} recommended", days=RECOMMENDED_DAYS), True),
        (
            t("Sensor active"),
            printed["sensor_wear_percent"],
            f"> {RECOMMENDED_SENSOR_WEAR_PERCENT:g} %",
            True,
        ),
        (
            t("Readings"),
            printed["readings"],
            t("every {minutes:.0f} min", minutes=profile.interval_min),
            True,
        ),
        (t("Mean glucose"), printed["mean_glucose"], "", True),
        (t("Glucose management indicator (GMI)"), printed["gmi_percent"], "", True),
    ]
    for check in profile.targets:
        mark = t("met") if check.met else t("NOT met")
        note = t("goal {target}, {mark}", target=check.target, mark=mark)
        rows.append((target_label(check, unit), format_percent(check.value_percent), note, check.met))
        printed[f"target_{check.metric}"] = f"{format_percent(check.value_percent)} ({mark})"
    line_h = 1.0 / (len(rows) + 0.5)
    for i, (label, value, note, met) in enumerate(rows):
        y = 1.0 - (i + 0.7) * line_h
        ax.text(0.0, y, label, fontsize=7.5, transform=ax.transAxes, va="center")
        ax.text(0.66, y, value, fontsize=7.5, weight="bold", transform=ax.transAxes, va="center", ha="right")
        colour = "#444444" if met else "#b30000"
        ax.text(0.69, y, note, fontsize=6.5, color=colour, transform=ax.transAxes, va="center")
    return printed


def draw_time_in_ranges(ax: Axes, summary: CgmSummary, unit: DisplayUnit) -> Printed:
    """One stacked bar, very low at the bottom, each segment labelled with its % and time per day."""
    keys = (
        "time_below_54_percent",
        "time_54_69_percent",
        "time_in_range_70_180_percent",
        "time_181_250_percent",
        "time_above_250_percent",
    )
    values = [float(getattr(summary, k)) for k in keys]
    ax.set_title(t("Time in ranges ({unit})", unit=unit.value), loc="left", fontsize=10, weight="bold")
    bottom = 0.0
    for value, colour in zip(values, RANGE_COLOURS, strict=True):
        # A sliver stays visible even at 0.2 %, as on the AGP, without hiding its neighbours.
        ax.bar(0, max(value, 0.6), bottom=bottom, width=0.5, color=colour, edgecolor="white", linewidth=0.8)
        bottom += max(value, 0.6)
    ax.set_xlim(-0.25, 2.6)
    ax.set_ylim(0, bottom)
    ax.axis("off")
    printed: Printed = {}
    # Labels are evenly spaced from bottom to top (not at the segment centres) so small ranges never overlap.
    for i, (key, value, label) in enumerate(zip(keys, values, range_labels(unit), strict=True)):
        y = bottom * (0.08 + 0.21 * i)
        text = t(
            "{label}: {percent} ({duration}/day)",
            label=label,
            percent=format_percent(value),
            duration=format_duration_per_day(value),
        )
        ax.text(
            0.32, y, text, fontsize=7.5, va="center", color="black", weight="bold" if i == 2 else "normal"
        )
        printed[key] = format_percent(value)
    return printed


def draw_modal_day(ax: Axes, profile: AmbulatoryGlucoseProfile, unit: DisplayUnit) -> Printed:
    """Median with 25-75 % and 5-95 % bands over 24 h, the target range between its two lines."""
    modal = profile.modal_day
    # Close the 24-h circle so the curves reach midnight on both sides.
    hours = np.append(modal.minute_of_day, MINUTES_PER_DAY) / 60.0  # (B+1,)

    def curve(q: float) -> np.ndarray:
        values = modal.percentile(q)
        return unit.convert(np.append(values, values[0]))

    # Raised in whole steps, so the top tick reads as a scale (400, 450), not as a reading (403).
    top_mg_dl = float(np.nanmax(modal.percentile(95.0))) + 10.0
    y_max_mg_dl = max(AGP_Y_MAX_MG_DL, float(np.ceil(top_mg_dl / AGP_Y_STEP_MG_DL)) * AGP_Y_STEP_MG_DL)
    # No target fill here (as on the consensus AGP): under the opaque bands it showed only as stray slivers.
    ax.fill_between(hours, curve(5.0), curve(95.0), color=BAND_OUTER, label="5-95 %", zorder=1)
    ax.fill_between(hours, curve(25.0), curve(75.0), color=BAND_INNER, label="25-75 %", zorder=2)
    ax.plot(hours, curve(50.0), color=MEDIAN_LINE, linewidth=2.0, label=t("median"), zorder=3)
    for mg_dl, colour in ((LOW_BELOW_MG_DL, "#e2231a"), (HIGH_ABOVE_MG_DL, "#3a9a3e")):
        ax.axhline(float(unit.convert(mg_dl)), color=colour, linewidth=0.8, zorder=4)
    style_day_axis(ax, unit, y_max_mg_dl, 0.0, label_every_h=3)
    ax.set_ylabel(unit.value, fontsize=8)
    ax.set_title(
        t(
            "Ambulatory glucose profile ({days:.1f} days, all days on one 24-h clock)",
            days=profile.summary.days_covered,
        ),
        loc="left",
        fontsize=10,
        weight="bold",
    )
    ax.legend(loc="upper right", fontsize=7, ncol=3, frameon=False)
    median = modal.percentile(50.0)
    printed = {
        "modal_day_median_min": unit.text(float(np.nanmin(median))),
        "modal_day_median_max": unit.text(float(np.nanmax(median))),
    }
    return printed


def style_day_axis(
    ax: Axes, unit: DisplayUnit, y_max_mg_dl: float, y_min_mg_dl: float, label_every_h: int
) -> None:
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, label_every_h))
    ax.set_xticklabels(
        [f"{h:02d}:00" if h < 24 else "24:00" for h in range(0, 25, label_every_h)], fontsize=7
    )
    ticks_mg_dl = [
        VERY_LOW_BELOW_MG_DL,
        LOW_BELOW_MG_DL,
        HIGH_ABOVE_MG_DL,
        VERY_HIGH_ABOVE_MG_DL,
        y_max_mg_dl,
    ]
    ax.set_yticks(unit.convert(ticks_mg_dl))
    ax.set_yticklabels([unit.text(t, False) for t in ticks_mg_dl], fontsize=7)
    ax.set_ylim(float(unit.convert(y_min_mg_dl)), float(unit.convert(y_max_mg_dl)))
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)


def draw_daily_profiles(
    fig: Figure, cell: SubplotSpec, days: Sequence[DailyProfile], unit: DisplayUnit
) -> Printed:
    """One small panel per day (the last 14), readings against the target range, day's time in range."""
    shown = list(days)[-DAILY_PANELS_PER_ROW * DAILY_PANEL_ROWS :]
    sub = cell.subgridspec(DAILY_PANEL_ROWS, DAILY_PANELS_PER_ROW, wspace=0.08, hspace=0.55)
    title = t("Daily glucose profiles")
    calendar_days = (days[-1].day - days[0].day).days + 1 if days else 0
    if len(days) < calendar_days:
        # Panels are the days that have readings; say so, or a reader takes them for consecutive days.
        which = (
            t("last {shown} of the {days}", shown=len(shown), days=len(days))
            if len(shown) < len(days)
            else t("the {days}", days=len(days))
        )
        title += t(
            " ({which} days with readings; {missing} days had none)",
            which=which,
            missing=calendar_days - len(days),
        )
    elif len(shown) < len(days):
        title += t(" (last {shown} of {days} days)", shown=len(shown), days=len(days))
    printed: Printed = {"daily_profiles_shown": str(len(shown))}
    y_max = max(AGP_Y_MAX_MG_DL, max(float(np.nanmax(d.glucose_mg_dl)) for d in shown) + 10.0)
    for i, day in enumerate(shown):
        ax = fig.add_subplot(sub[i // DAILY_PANELS_PER_ROW, i % DAILY_PANELS_PER_ROW])
        ax.axhspan(*unit.convert([LOW_BELOW_MG_DL, HIGH_ABOVE_MG_DL]), color=TARGET_FILL, zorder=0)
        ax.plot(day.minute_of_day / 60.0, unit.convert(day.glucose_mg_dl), color=MEDIAN_LINE, linewidth=0.7)
        style_day_axis(ax, unit, y_max, DAILY_Y_MIN_MG_DL, label_every_h=12)
        ax.tick_params(labelsize=5.5, length=2)
        if i % DAILY_PANELS_PER_ROW:
            ax.set_yticklabels([])
        else:
            ax.set_yticks(unit.convert([LOW_BELOW_MG_DL, HIGH_ABOVE_MG_DL]))
            ax.set_yticklabels(
                [unit.text(t, False) for t in (LOW_BELOW_MG_DL, HIGH_ABOVE_MG_DL)], fontsize=5.5
            )
        ax.set_xticklabels(["", "12:00", ""], fontsize=5.5)
        tir = format_percent(day.time_in_range_percent)
        ax.set_title(f"{day.day.strftime(date_format('day'))}\nTIR {tir}", fontsize=6, pad=2)
        printed[f"day_{day.day.isoformat()}_time_in_range"] = tir
    if shown:
        fig.text(0.08, cell.get_position(fig).y1 + 0.025, title, fontsize=10, weight="bold")
    return printed
