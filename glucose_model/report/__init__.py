"""Records a clinician can read: the AGP report and the meal-response pages, as PDF, PNG or HTML.

Rendering uses matplotlib's Agg backend only (no display), so it runs in the serving install.
"""

from glucose_model.report.document import RenderedReport, ReportFormat, format_from_path, render_report
from glucose_model.report.units import DisplayUnit

__all__ = ["DisplayUnit", "RenderedReport", "ReportFormat", "format_from_path", "render_report"]
