"""Request bodies of the report routes: a person's CGM record (up to 90 days) and what they chose to share."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from serving.schemas.closed import ClosedModel
from serving.schemas.glucose import ActivityIn, Cgm, GlucoseUnit, Profile, Reading
from serving.schemas.meals import MealIn

# 90 days at 5 min: the longest period a clinician reviews at once (the AGP itself wants 14 days).
MAX_REPORT_READINGS = 90 * 288
ReportFormatName = Literal["pdf", "html"]


class ReportCgm(Cgm):
    readings: list[Reading] = Field(min_length=2, max_length=MAX_REPORT_READINGS, description="oldest first")


class LoggedMeal(MealIn):
    """A meal from the person's log: the impact request's meal (same fields, same bounds; composition
    optional, unknown never zero) with the words the person logged it under."""

    description: str | None = Field(default=None, max_length=200)


def example_day() -> list[Any]:
    """25 hours of 15-min readings with a post-breakfast rise, for the OpenAPI examples (an AGP needs 24 h)."""
    readings: list[Any] = []
    for k in range(101):
        day, minute = divmod(k * 15, 1440)
        since_breakfast = minute - 8 * 60
        rise = 60.0 * max(0.0, 1.0 - abs(since_breakfast - 60) / 60.0)
        clock = f"2026-11-{27 + day:02d}T{minute // 60:02d}:{minute % 60:02d}:00+01:00"
        readings.append({"time": clock, "value": 105.0 + rise})
    return readings


_EXAMPLE: dict[str, Any] = {
    "cgm": {"unit": "mg/dL", "readings": example_day()},
    "meals": [{"time": "2026-11-27T08:00:00+01:00", "carbs_g": 45, "description": "porridge with milk"}],
    "profile": {"diabetes": "type2"},
    "unit": "mg/dL",
    "format": "pdf",
}


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day_text(value: object) -> object:
    # Lax date parsing would read "1767225600" or 0 as a Unix time and "2026-01-01T00:00:00" as its day.
    if isinstance(value, date) or (isinstance(value, str) and _DAY.fullmatch(value)):
        return value
    raise ValueError("a calendar day is written YYYY-MM-DD, such as 2026-11-27")


CalendarDay = Annotated[date, BeforeValidator(_day_text)]


class PeriodChoice(ClosedModel):
    """Which days the report covers: the consensus period (the latest 14 days) unless asked."""

    days: int = Field(
        default=14, ge=1, le=90, strict=True, description="the latest N days before the last reading"
    )
    first_day: CalendarDay | None = Field(
        default=None, description="first local calendar day (YYYY-MM-DD); with last_day replaces `days`"
    )
    last_day: CalendarDay | None = Field(default=None, description="last local calendar day (YYYY-MM-DD)")


class AgpReportRequest(PeriodChoice):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    cgm: ReportCgm
    # 300 meals (three weeks of full days) keep the meal table within the request timeout.
    meals: list[LoggedMeal] = Field(default_factory=list, max_length=300, description="adds the meal pages")
    activity: list[ActivityIn] = Field(default_factory=list, max_length=30_000)
    profile: Profile = Field(default_factory=Profile)
    unit: GlucoseUnit = Field(default="mg/dL", description="the unit the report is printed in")
    format: ReportFormatName | None = Field(
        default=None, description="pdf or html; default from Accept, else pdf"
    )
    label: str | None = Field(default=None, max_length=80, description="who the report is about (header)")
    predicted_curves: bool = Field(
        default=True, strict=True, description="draw the response model's curves when it is loaded"
    )


class PatientRef(ClosedModel):
    reference: str | None = Field(
        default=None, max_length=200, description="e.g. Patient/123 on the receiver"
    )
    identifier_system: str = Field(default="urn:ietf:rfc:3986", max_length=200)
    identifier_value: str | None = Field(default=None, max_length=200)


class FhirExportRequest(PeriodChoice):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cgm": {"unit": "mg/dL", "readings": example_day()},
                    "patient": {"reference": "Patient/example"},
                    "include_readings": False,
                    "include_pdf": False,
                }
            ]
        }
    )

    cgm: ReportCgm
    patient: PatientRef
    profile: Profile = Field(default_factory=Profile)
    device_name: str = Field(default="Continuous glucose monitor", max_length=200)
    device_identifier_system: str = Field(default="urn:ietf:rfc:3986", max_length=200)
    device_identifier_value: str | None = Field(
        default=None,
        max_length=200,
        description="the sensor's identifier; default a fresh urn:uuid (no serial)",
    )
    # A JSON true or false: "yes" or 1 is refused, not read as true (the bodies' numbers are strict too).
    include_readings: bool = Field(default=False, strict=True, description="one Observation per CGM reading")
    include_pdf: bool = Field(
        default=False, strict=True, description="the AGP report as a DiagnosticReport with the PDF"
    )
    unit: GlucoseUnit = Field(
        default="mg/dL", description="unit of the attached PDF; mmol/L also adds the mean glucose in mmol/L"
    )
