"""The meal routes: what a meal will do to this person's glucose (impact), from a photo (recognize), or both."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from glucose_model.impact import ImpactResult
from serving.dependencies import ResponsePredictorDep, RuntimeDep
from serving.request_records import check_not_future, meal_context, meal_record, past_meals
from serving.schemas.meals import (
    CalibrationOut,
    ContributionOut,
    CurvePoint,
    ExplanationOut,
    ImpactRequest,
    ImpactResponse,
    PeakOut,
    SpikeOut,
    WhatIfOut,
)
from serving.schemas.system import ModelRef, problem_responses
from serving.settings import GLUCOSE_RESPONSE

router = APIRouter(prefix="/v1/meals", tags=["meals"])


def impact_response(result: ImpactResult) -> ImpactResponse:
    curve = result.curve
    explanation = result.explanation
    calibration = result.calibration
    return ImpactResponse(
        curve=[
            CurvePoint(minute=int(m), glucose_mg_dl=float(g), low_mg_dl=float(lo), high_mg_dl=float(hi))
            for m, g, lo, hi in zip(
                curve.minute, curve.glucose_mg_dl, curve.low_mg_dl, curve.high_mg_dl, strict=True
            )
        ],
        peak=PeakOut(
            glucose_mg_dl=result.peak.glucose_mg_dl,
            minute=result.peak.minute,
            rise_mg_dl=result.peak.rise_mg_dl,
        ),
        spike=SpikeOut(probability=result.spike.probability, threshold_mg_dl=result.spike.threshold_mg_dl),
        explanation=ExplanationOut(
            contributions=[
                ContributionOut(
                    factor=c.group, peak_rise_mg_dl=c.peak_rise_mg_dl, iauc_2h_mg_dl_min=c.iauc_2h_mg_dl_min
                )
                for c in explanation.contributions
            ],
            reference_peak_rise_mg_dl=explanation.reference_peak_rise_mg_dl,
            predicted_peak_rise_mg_dl=explanation.predicted_peak_rise_mg_dl,
            reference_iauc_2h_mg_dl_min=explanation.reference_iauc_2h_mg_dl_min,
            predicted_iauc_2h_mg_dl_min=explanation.predicted_iauc_2h_mg_dl_min,
            reference=explanation.reference,
        ),
        what_if=[
            WhatIfOut(
                scenario=w.name,
                description=w.description,
                available=w.available,
                peak_glucose_mg_dl=w.peak_glucose_mg_dl,
                spike_probability=w.spike_probability,
            )
            for w in result.what_if
        ],
        calibration=None
        if calibration is None
        else CalibrationOut(
            n_meals=calibration.n_meals,
            applied=calibration.applied,
            reason=calibration.reason,
            scale=calibration.adjustment.scale,
            offset_mg_dl=calibration.adjustment.offset_mg_dl,
            loo_peak_rise_mae_before_mg_dl=calibration.loo_peak_rise_mae_before_mg_dl,
            loo_peak_rise_mae_after_mg_dl=calibration.loo_peak_rise_mae_after_mg_dl,
        ),
        model=ModelRef(name=GLUCOSE_RESPONSE, version=result.model_version),
    )


@router.post(
    "/impact",
    response_model=ImpactResponse,
    summary="Predict the next 3 h of glucose after a meal: curve, peak, spike risk, explanation, what-ifs",
    responses=problem_responses(401, 413, 422, 503, 504),
)
async def impact(
    body: ImpactRequest, request: Request, runtime: RuntimeDep, predictor: ResponsePredictorDep
) -> ImpactResponse:
    request.state.models = runtime.model_versions(GLUCOSE_RESPONSE)
    now = datetime.now(UTC)

    def work() -> ImpactResult:
        check_not_future([body.meal.time], now, "meal.time")
        context = meal_context(body, meal_record(body.meal), now)
        return predictor.impact(context, past_meals(body, now))

    return impact_response(await runtime.executor.run(work))
