"""`POST /v1/glucose/forecast`: the next hour of glucose and the alerts it implies."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from glucose_model.forecast import ForecastResult
from serving.answers import AcceptLanguage, forecast_answer, wording_for
from serving.dependencies import ForecasterDep, RuntimeDep
from serving.output_bounds import check_outputs
from serving.problems import StaleCgmError
from serving.request_records import (
    activity_samples,
    check_not_future,
    glucose_series,
    insulin_doses,
    kind_of,
    meal_events,
)
from serving.schemas.glucose import AlertOut, Cgm, ForecastPointOut, ForecastRequest, ForecastResponse
from serving.schemas.system import ModelRef, problem_responses
from serving.settings import GLUCOSE_FORECAST

router = APIRouter(prefix="/v1/glucose", tags=["glucose"])


def check_fresh(cgm: Cgm, now: datetime, max_age_min: float) -> None:
    """A forecast starts from the last reading: one older than `max_age_min` is not "now"."""
    age_min = (now - max(r.time for r in cgm.readings)).total_seconds() / 60.0
    if max_age_min and age_min > max_age_min:
        raise StaleCgmError(
            f"The last CGM reading is {age_min:,.0f} min old; a forecast needs one from the last "
            f"{max_age_min:g} min. Send the latest readings."
        )


def forecast_response(result: ForecastResult) -> ForecastResponse:
    return ForecastResponse(
        origin=result.origin,
        current_glucose_mg_dl=result.current_glucose_mg_dl,
        trend_mg_dl_per_min=result.trend_mg_dl_per_min,
        forecast=[
            ForecastPointOut(
                horizon_min=p.horizon_min,
                glucose_mg_dl=p.glucose_mg_dl,
                low_mg_dl=p.low_mg_dl,
                high_mg_dl=p.high_mg_dl,
            )
            for p in result.points
        ],
        alerts=[
            AlertOut(kind=str(a.kind), reason=a.reason, lead_time_min=a.lead_time_min, source=a.source)
            for a in result.alerts
        ],
        model=ModelRef(name=GLUCOSE_FORECAST, version=result.model_version),
    )


@router.post(
    "/forecast",
    response_model=ForecastResponse,
    summary="Forecast glucose 15-60 min ahead from recent CGM, with alerts",
    responses=problem_responses(401, 413, 422, 503, 504),
)
async def forecast(
    body: ForecastRequest,
    request: Request,
    runtime: RuntimeDep,
    forecaster: ForecasterDep,
    accept_language: AcceptLanguage = None,
) -> ForecastResponse:
    request.state.models = runtime.model_versions(GLUCOSE_FORECAST)
    now = datetime.now(UTC)

    max_age_min = runtime.settings.max_cgm_age_min

    def work() -> ForecastResult:
        series = glucose_series(body.cgm, now)
        check_fresh(body.cgm, now, max_age_min)
        check_not_future([m.time for m in body.meals], now, "meals")
        check_not_future([d.time for d in body.insulin], now, "insulin")
        return forecaster.forecast(
            series,
            meal_events(body.meals),
            insulin_doses(body.insulin),
            activity_samples(body.activity),
            kind_of(body.profile),
        )

    wording = wording_for(accept_language, body.cgm.unit)
    answer = forecast_answer(forecast_response(await runtime.executor.run(work)), wording)
    check_outputs(answer)
    return answer
