"""Assemble the report pages into one PDF, a PNG per page, or a self-contained HTML page."""

from __future__ import annotations

import base64
import enum
import html
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Figures are drawn on Agg canvases directly, never through pyplot: no display, no global figure state,
# safe in a server handling requests on several threads.
import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from glucose_model.agp import AmbulatoryGlucoseProfile
from glucose_model.meal_summary import MealOutcome, MealSummary
from glucose_model.records import RecordError
from glucose_model.report.agp_page import PAGE_SIZE_IN, Printed, draw_agp_page
from glucose_model.report.labels import current_language, report_language, t
from glucose_model.report.meal_pages import (
    TABLE_ROWS_PER_PAGE,
    draw_meal_summary_page,
    draw_meal_table_page,
)
from glucose_model.report.units import DisplayUnit

PNG_DPI = 150  # A4 at 150 dpi: 1240 x 1754 px, small labels stay legible
REPORT_TITLE = "AGP report and meal responses"


class ReportFormat(enum.StrEnum):
    PDF = "pdf"
    PNG = "png"
    HTML = "html"

    @property
    def media_type(self) -> str:
        return {"pdf": "application/pdf", "png": "image/png", "html": "text/html"}[self.value]


class ReportFormatError(RecordError):
    """The requested report format is not one this renderer writes."""


def format_from_path(path: Path) -> ReportFormat:
    suffix = path.suffix.lower().lstrip(".")
    try:
        return ReportFormat("html" if suffix == "htm" else suffix)
    except ValueError:
        raise ReportFormatError(
            f"cannot tell the report format from {path.name!r}; end the file name in .pdf, .png or .html"
        ) from None


@dataclass(frozen=True)
class RenderedReport:
    """The rendered document and, page by page, every value printed on it (as printed).

    pages: one bytes object per page for PNG; a single one for PDF and HTML
    printed: {page name: {what: printed text}}; page names are "agp", "meals", "meal_table_1", ...
    """

    format: ReportFormat
    pages: tuple[bytes, ...]
    printed: dict[str, Printed]
    page_names: tuple[str, ...]

    @property
    def media_type(self) -> str:
        return self.format.media_type


PageDrawer = Callable[[Figure], Printed]


def plan_pages(
    profile: AmbulatoryGlucoseProfile, meals: MealSummary | None, unit: DisplayUnit, person_label: str
) -> list[tuple[str, PageDrawer]]:
    pages: list[tuple[str, PageDrawer]] = [
        ("agp", lambda fig: draw_agp_page(fig, profile, unit, person_label))
    ]
    if meals is None or not meals.outcomes:
        return pages
    pages.append(("meals", lambda fig: draw_meal_summary_page(fig, meals, unit)))
    outcomes = list(meals.outcomes)
    for start in range(0, len(outcomes), TABLE_ROWS_PER_PAGE):
        chunk = outcomes[start : start + TABLE_ROWS_PER_PAGE]
        name = f"meal_table_{start // TABLE_ROWS_PER_PAGE + 1}"
        pages.append((name, table_page_drawer(chunk, unit, first_row=start + 1)))
    return pages


def table_page_drawer(outcomes: list[MealOutcome], unit: DisplayUnit, first_row: int) -> PageDrawer:
    return lambda fig: draw_meal_table_page(fig, outcomes, unit, first_row)


def render_report(
    profile: AmbulatoryGlucoseProfile,
    meals: MealSummary | None = None,
    unit: DisplayUnit = DisplayUnit.MG_DL,
    person_label: str = "",
    report_format: ReportFormat = ReportFormat.PDF,
    language: str = "en",
) -> RenderedReport:
    """Draw every page and encode it as `report_format`, all in memory (nothing is written to disk).

    language: "en" or "ko" for the words of every page (glucose_model/report/labels.py); the meal
    descriptions and the person label are the person's own text, printed as given.
    """
    # Meal descriptions and labels are the person's own text: a "$" in them must print as a dollar sign,
    # not start matplotlib's math mode (which would fail on ordinary text).
    with report_language(language) as fonts:
        settings: dict[Any, Any] = {"text.parse_math": False, **fonts}
        with matplotlib.rc_context(settings):
            return draw_and_encode(profile, meals, unit, person_label, report_format)


def draw_and_encode(
    profile: AmbulatoryGlucoseProfile,
    meals: MealSummary | None,
    unit: DisplayUnit,
    person_label: str,
    report_format: ReportFormat,
) -> RenderedReport:
    printed: dict[str, Printed] = {}
    figures: list[Figure] = []
    names = []
    for name, draw in plan_pages(profile, meals, unit, person_label):
        fig = Figure(figsize=PAGE_SIZE_IN)
        FigureCanvasAgg(fig)
        printed[name] = draw(fig)
        figures.append(fig)
        names.append(name)
    if report_format is ReportFormat.PDF:
        buffer = io.BytesIO()
        with PdfPages(buffer, metadata={"Title": REPORT_TITLE, "Creator": "mealimpact"}) as pdf:
            for fig in figures:
                pdf.savefig(fig)
        pages: tuple[bytes, ...] = (buffer.getvalue(),)
    elif report_format is ReportFormat.PNG:
        pages = tuple(figure_png(fig) for fig in figures)
    else:
        pages = (render_html(figures, printed, profile, unit).encode("utf-8"),)
    return RenderedReport(report_format, pages, printed, tuple(names))


def figure_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI, facecolor="white")
    return buffer.getvalue()


def render_html(
    figures: list[Figure], printed: dict[str, Printed], profile: AmbulatoryGlucoseProfile, unit: DisplayUnit
) -> str:
    """One self-contained page: the key numbers as text (screen readers, copy-paste), then the page images.

    Its words, and the meal findings, are in the report's language (as the pages).
    """
    agp = printed["agp"]
    rows = [
        (t("Period"), agp["period"]),
        (t("Sensor active"), agp["sensor_wear_percent"]),
        (t("Mean glucose"), agp["mean_glucose"]),
        ("GMI", agp["gmi_percent"]),
        ("CV", agp["cv_percent"]),
        (t("Time in range"), agp["time_in_range_70_180_percent"]),
    ]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    note = agp.get("data_sufficiency_note")
    warning = f'<p class="warn">{html.escape(note)}</p>' if note else ""
    meals = printed.get("meals")
    if meals is not None:
        findings = f"<h2>{html.escape(t('Meal responses'))}</h2><p>{html.escape(meals['findings'])}</p><p>{html.escape(meals['model_note'])}</p>"
    else:
        findings = ""
    images = "".join(
        f'<img alt="{html.escape(t("report page {page}", page=i + 1))}" src="data:image/png;base64,'
        f'{base64.b64encode(figure_png(fig)).decode("ascii")}">'
        for i, fig in enumerate(figures)
    )
    title = html.escape(t(REPORT_TITLE))
    return (
        f'<!DOCTYPE html><html lang="{current_language()}"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>"
        "body{font-family:sans-serif;max-width:900px;margin:auto}img{width:100%;border:1px solid #ccc;"
        "margin:8px 0}th{text-align:left;padding-right:16px}.warn{color:#b30000}</style></head><body>"
        f"<h1>{title}</h1>{warning}<table>{table}</table>"
        f"<p>{html.escape(t('Glucose in {unit}.', unit=unit.value))}</p>{findings}{images}</body></html>"
    )


def write_report(report: RenderedReport, out: Path) -> list[Path]:
    """Write the report to `out`; a PNG report's later pages go beside it as <stem>-<page>.png."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if report.format is not ReportFormat.PNG:
        out.write_bytes(report.pages[0])
        return [out]
    written = []
    for i, (name, page) in enumerate(zip(report.page_names, report.pages, strict=True)):
        path = out if i == 0 else out.with_name(f"{out.stem}-{name}{out.suffix}")
        path.write_bytes(page)
        written.append(path)
    return written
