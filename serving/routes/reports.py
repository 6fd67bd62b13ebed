"""`POST /v1/reports/agp` (the AGP report and meal pages, PDF or HTML) and `POST /v1/reports/fhir` (HL7 CGM Bundle).

Everything is built in memory from the request and returned; nothing about the person is kept or logged.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from glucose_model.agp import AmbulatoryGlucoseProfile, ReportPeriod, build_profile
from glucose_model.fhir import FhirExportOptions, build_cgm_bundle
from glucose_model.impact import ResponsePredictor
from glucose_model.meal_summary import MODEL_NOTE, MealSummary, Sentence, impact_predictor, summarize_meals
from glucose_model.records import Meal, Recording
from serving.answers import AcceptLanguage
from serving.dependencies import OptionalPredictorDep, RuntimeDep
from serving.request_records import activity_samples, check_not_future, glucose_series, kind_of
from serving.schemas.reports import (
    AgpReportRequest,
    FhirExportRequest,
    LoggedMeal,
    PeriodChoice,
    ReportFormatName,
)
from serving.schemas.system import problem_responses
from serving.settings import GLUCOSE_RESPONSE
from serving.wording import preferred_language

router = APIRouter(prefix="/v1/reports", tags=["reports"])
FHIR_JSON = "application/fhir+json"
# matplotlib keeps process-wide state (font cache, text layout caches) that is not documented as thread-safe:
# reports are drawn one at a time, off the event loop.
_render_lock = threading.Lock()


def negotiate_format(requested: ReportFormatName | None, accept: str | None) -> ReportFormatName:
    """The body's `format` wins; else the first of PDF / HTML the Accept header prefers; else PDF."""
    if requested is not None:
        return requested
    ranked = []
    for position, part in enumerate((accept or "").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = next(
            (float(p[2:]) for p in params if p.startswith("q=") and p[2:].replace(".", "", 1).isdigit()), 1.0
        )
        ranked.append((-q, position, media.lower()))
    for _, _, media in sorted(ranked):
        if media in ("application/pdf", "application/*"):
            return "pdf"
        if media in ("text/html", "text/*"):
            return "html"
    return "pdf"


def requested_period(body: PeriodChoice) -> ReportPeriod:
    return ReportPeriod(days=body.days, first_day=body.first_day, last_day=body.last_day)


def logged_meals(meals: list[LoggedMeal], now: datetime) -> tuple[Meal, ...]:
    check_not_future([m.time for m in meals], now, "meals")
    return tuple(
        sorted(
            (
                Meal(
                    time=m.time,
                    carbs_g=m.carbs_g,
                    description=m.description,
                    sugars_g=m.sugars_g,
                    fiber_g=m.fiber_g,
                    fat_g=m.fat_g,
                    protein_g=m.protein_g,
                )
                for m in meals
            ),
            key=lambda meal: meal.time,
        )
    )


def render_agp(
    body: AgpReportRequest,
    predictor: ResponsePredictor | None,
    report_format: ReportFormatName,
    language: str = "en",
) -> bytes:
    now = datetime.now(UTC)
    recording = Recording(
        person_id="request",
        glucose=glucose_series(body.cgm, now),
        kind=kind_of(body.profile),
        meals=logged_meals(body.meals, now),
        activity=activity_samples(body.activity),
    )
    profile = build_profile(recording.glucose, period=requested_period(body))
    meals = None
    if recording.meals:
        if predictor is not None and body.predicted_curves:
            note = Sentence(MODEL_NOTE, version=predictor.version)
            meals = summarize_meals(recording, impact_predictor(predictor, recording), note)
        else:
            reason = (
                "not requested"
                if predictor is not None
                else "the response model is not loaded on this server"
            )
            meals = summarize_meals(
                recording, None, Sentence("Predicted curves are not shown: {reason}.", reason=reason)
            )
    return _first_page(profile, meals, body.unit, body.label or "", report_format, language)


def _first_page(
    profile: AmbulatoryGlucoseProfile,
    meals: MealSummary | None,
    unit: str,
    person_label: str,
    report_format: str,
    language: str = "en",
) -> bytes:
    """The report drawn as one PDF or HTML page. glucose_model.report draws with matplotlib, imported here
    on the first report rather than at start-up (about half a second and tens of MB per worker)."""
    from glucose_model.report import DisplayUnit, ReportFormat, render_report

    with _render_lock:
        report = render_report(
            profile, meals, DisplayUnit(unit), person_label, ReportFormat(report_format), language
        )
    return report.pages[0]


@router.post(
    "/agp",
    summary="The AGP report (and meal-response pages when meals are sent) as PDF or HTML",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}, "text/html": {}}, "description": "the report"},
        **problem_responses(401, 413, 422),
    },
)
async def agp_report(
    body: AgpReportRequest,
    request: Request,
    runtime: RuntimeDep,
    predictor: OptionalPredictorDep,
    accept: Annotated[str | None, Header()] = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    request.state.models = runtime.model_versions(GLUCOSE_RESPONSE) if predictor is not None else ""
    report_format = negotiate_format(body.format, accept)
    language = preferred_language(accept_language)  # the words of every page
    content = await run_in_threadpool(render_agp, body, predictor, report_format, language)
    media = "application/pdf" if report_format == "pdf" else "text/html; charset=utf-8"
    disposition = f'inline; filename="agp-report.{report_format}"'
    return Response(
        content, media_type=media, headers={"Content-Disposition": disposition, "Cache-Control": "no-store"}
    )


def build_fhir(body: FhirExportRequest) -> bytes:
    series = glucose_series(body.cgm, datetime.now(UTC))
    options = FhirExportOptions(
        patient_reference=body.patient.reference,
        patient_identifier_system=body.patient.identifier_system,
        patient_identifier_value=body.patient.identifier_value,
        device_name=body.device_name,
        device_identifier_system=body.device_identifier_system,
        device_identifier_value=body.device_identifier_value,
        include_readings=body.include_readings,
        include_pdf=body.include_pdf,
        include_molar_mean=body.unit == "mmol/L",
    )
    options.subject()  # refuse a bundle without a patient before any work
    profile = build_profile(series, period=requested_period(body))
    pdf = None
    if body.include_pdf:
        pdf = _first_page(profile, None, body.unit, "", "pdf")
    return json.dumps(build_cgm_bundle(profile, series, options, pdf)).encode("utf-8")


@router.post(
    "/fhir",
    summary="The CGM record as an HL7 FHIR R4 transaction Bundle (CGM implementation guide, STU 1)",
    response_class=Response,
    responses={
        200: {"content": {FHIR_JSON: {}}, "description": "the Bundle"},
        **problem_responses(401, 413, 422),
    },
)
async def fhir_bundle(body: FhirExportRequest) -> Response:
    content = await run_in_threadpool(build_fhir, body)
    return Response(content, media_type=FHIR_JSON, headers={"Cache-Control": "no-store"})
