"""The meal routes: what a meal will do to this person's glucose (impact), from a photo (recognize), or both."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.formparsers import MultiPartParser

from glucose_model.impact import ImpactResult
from serving.answers import AcceptLanguage, impact_answer, recognize_answer, wording_for
from serving.deadline import check_deadline
from serving.dependencies import RecognizerDep, ResponsePredictorDep, RuntimeDep
from serving.metrics import StageClock
from serving.output_bounds import check_outputs
from serving.request_records import check_not_future, meal_context, meal_record, past_meals, person_fields
from serving.runtime import ServingRuntime
from serving.schemas.closed import EXTRA_FORBIDDEN, unknown_field_message
from serving.schemas.meals import (
    ANALYZE_CONTEXT_EXAMPLE,
    AnalyzeContext,
    AnalyzeResponse,
    CalibrationOut,
    ContributionOut,
    CurvePoint,
    ExplanationOut,
    ImpactRequest,
    ImpactResponse,
    MealIn,
    PeakOut,
    RecognizeResponse,
    SpikeOut,
    WhatIfOut,
)
from serving.schemas.system import ModelRef, problem_responses
from serving.settings import FOOD_RECOGNIZER, GLUCOSE_RESPONSE
from vision.decode import decode_image
from vision.fewshot import FewShotError, PersonalClass, apply_personal_classes, parse_personal_classes
from vision.metadata import INPUT_NAME
from vision.recognition import Recognition, Recognizer

router = APIRouter(prefix="/v1/meals", tags=["meals"])
# A photo upload up to this size stays in memory while the form is parsed. Starlette's default (1 MB)
# spools a phone photo to a temporary file, written and read back on the request path; the body is
# bounded by MEALIMPACT_MAX_BODY_BYTES before it gets here, and the route reads it whole anyway.
MultiPartParser.spool_max_size = 32 * 1024 * 1024
ImageUpload = Annotated[
    UploadFile,
    File(description="the meal photo: JPEG, PNG, WebP or HEIC"),
]
PersonalClassesForm = Annotated[
    str | None,
    Form(
        alias="personal_classes",
        examples=["[]"],  # a real prototype has one float per embedding dimension (1280 here)
        description=(
            "optional JSON list of the person's own dishes, taught on the phone from 1-10 photos: "
            '[{"name": str, "prototype": [embedding floats], "carbs_g": [p10, median, p90], '
            '"kcal": float?, "shots": int?, "category": str?}]; they are mixed into `foods` and `carbs_g`'
        ),
    ),
]


# The multipart form fields of /recognize and /analyze; any other part is refused, not ignored.
RECOGNIZE_FORM_FIELDS = ("image", "personal_classes")
ANALYZE_FORM_FIELDS = ("image", "context", "personal_classes")
FORM_FIELDS = {
    f"{router.prefix}/recognize": RECOGNIZE_FORM_FIELDS,
    f"{router.prefix}/analyze": ANALYZE_FORM_FIELDS,
}


async def refuse_unknown_form_fields(request: Request, fields: tuple[str, ...]) -> None:
    """A misspelt form part (`personal_class`) would be dropped silently: refuse it as the JSON bodies do."""
    form = await request.form()  # already parsed for the route's parameters: Starlette keeps it
    unknown = [name for name in dict.fromkeys(form.keys()) if name not in fields]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": EXTRA_FORBIDDEN,
                    "loc": ("body", name),
                    "msg": unknown_field_message(name, fields, {}),
                    "input": None,
                }
                for name in unknown
            ]
        )


def close_form_schemas(schema: dict[str, Any]) -> dict[str, Any]:
    """The published form bodies of the FORM_FIELDS routes say `additionalProperties: false`, as the server
    refuses any other part (refuse_unknown_form_fields); FastAPI builds form schemas open. In place."""
    components = schema["components"]["schemas"]
    for path in FORM_FIELDS:
        body = schema["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        if "$ref" in body:  # FastAPI names each form body as a component (Body_recognize_v1_meals_...)
            body = components[body["$ref"].rsplit("/", 1)[-1]]
        body["additionalProperties"] = False
    return schema


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
    body: ImpactRequest,
    request: Request,
    runtime: RuntimeDep,
    predictor: ResponsePredictorDep,
    accept_language: AcceptLanguage = None,
) -> ImpactResponse:
    request.state.models = runtime.model_versions(GLUCOSE_RESPONSE)
    now = datetime.now(UTC)

    def work() -> ImpactResult:
        check_not_future(body.meal.time, now, "meal.time")
        context = meal_context(body, meal_record(body.meal), now)
        return predictor.impact(context, past_meals(body, now), person_fields(body.profile))

    wording = wording_for(accept_language, body.cgm.unit)
    answer = impact_answer(impact_response(await runtime.executor.run(work)), wording)
    check_outputs(answer)
    return answer


def personal_classes(text: str | None, runtime: ServingRuntime) -> list[PersonalClass]:
    """The request's personal classes, checked against the served recognizer's embedding size."""
    if text is None or not text.strip():
        return []
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise FewShotError(
            f"personal_classes is not valid JSON (line {err.lineno}, column {err.colno})."
        ) from err
    except RecursionError as err:  # json nests by recursion: "[[[[..." deeper than Python's stack
        raise FewShotError("personal_classes is nested too deeply; send a flat list of objects.") from err
    embedding = next(o for o in runtime.models[FOOD_RECOGNIZER].outputs if o.name == "embedding")
    return parse_personal_classes(raw, embedding_dim=embedding.shape[-1])


async def _recognize(
    runtime: ServingRuntime,
    recognizer: Recognizer,
    photo: bytes,
    personal: list[PersonalClass],
    clock: StageClock,
) -> Recognition:
    settings = runtime.settings

    def prepare() -> npt.NDArray[np.uint8]:
        image = decode_image(
            photo,
            min_size_px=recognizer.metadata.preprocess.resize_short_side_px,
            max_pixels=settings.max_image_pixels,
            max_decoded_pixels=settings.max_decoded_pixels,
            max_aspect_ratio=settings.max_image_aspect_ratio,
        )
        clock.lap("decode")
        check_deadline()  # a request that timed out during the decode is not resized and run
        pixels = recognizer.preprocess(image)[None]  # (1, crop, crop, 3)
        clock.lap("resize")
        return pixels

    batch = await runtime.executor.run(prepare)
    # The model call goes through the server's (possibly micro-batched) path; the recognizer reads it.
    outputs = await runtime.infer(FOOD_RECOGNIZER, {INPUT_NAME: batch})
    clock.lap("model")
    recognition = recognizer.read(batch, outputs)[0]
    return apply_personal_classes(recognition, recognition.embedding, personal)


@router.post(
    "/recognize",
    response_model=RecognizeResponse,
    summary="Name the food in a photo and estimate its carbohydrate and energy",
    responses=problem_responses(401, 413, 415, 422, 503, 504),
)
async def recognize(
    image: ImageUpload,
    request: Request,
    runtime: RuntimeDep,
    recognizer: RecognizerDep,
    personal_classes_json: PersonalClassesForm = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    await refuse_unknown_form_fields(request, RECOGNIZE_FORM_FIELDS)
    clock = StageClock(runtime.metrics, getattr(request.state, "started_s", None))
    request.state.models = runtime.model_versions(FOOD_RECOGNIZER)
    personal = personal_classes(personal_classes_json, runtime)
    photo = await image.read()
    clock.lap("receive")
    recognition = await _recognize(runtime, recognizer, photo, personal, clock)
    answer = recognize_answer(recognition, recognizer.version, wording_for(accept_language))
    check_outputs(answer)
    clock.lap("postprocess")
    # Serialised here rather than by FastAPI, which would validate the finished model once more.
    body = answer.__pydantic_serializer__.to_json(answer, by_alias=True)
    clock.lap("json")
    return Response(content=body, media_type="application/json")


def _analyze_context(text: str) -> AnalyzeContext:
    try:
        return AnalyzeContext.model_validate_json(text)
    except ValidationError as err:
        # Reported like any body field, so the client sees where in `context` the problem is.
        errors = [{**e, "loc": ("body", "context", *e["loc"])} for e in err.errors(include_input=False)]
        raise RequestValidationError(errors) from err


@router.post(
    "/analyze",
    response_model=AnalyzeResponse,
    summary="Photo + context: recognition, then the glucose impact with the photo's carbohydrate interval",
    responses=problem_responses(401, 413, 415, 422, 503, 504),
)
async def analyze(
    image: ImageUpload,
    context: Annotated[
        str,
        Form(
            description="JSON: the /v1/meals/impact body without meal.carbs_g",
            examples=[json.dumps(ANALYZE_CONTEXT_EXAMPLE)],
        ),
    ],
    request: Request,
    runtime: RuntimeDep,
    recognizer: RecognizerDep,
    predictor: ResponsePredictorDep,
    personal_classes_json: PersonalClassesForm = None,
    accept_language: AcceptLanguage = None,
) -> AnalyzeResponse:
    await refuse_unknown_form_fields(request, ANALYZE_FORM_FIELDS)
    request.state.models = runtime.model_versions(FOOD_RECOGNIZER, GLUCOSE_RESPONSE)
    parsed = _analyze_context(context)
    personal = personal_classes(personal_classes_json, runtime)
    now = datetime.now(UTC)
    clock = StageClock(runtime.metrics, getattr(request.state, "started_s", None))
    photo = await image.read()
    clock.lap("receive")
    recognition = await _recognize(runtime, recognizer, photo, personal, clock)
    wording = wording_for(accept_language, parsed.cgm.unit)
    recognized = recognize_answer(recognition, recognizer.version, wording)
    if not recognition.is_food:
        return AnalyzeResponse(recognition=recognized, impact=None)
    carbs = recognition.carbs_g
    check_outputs(recognized)  # the photo's carbohydrate is within the meal cap before it becomes an input
    meal = MealIn.model_validate({**parsed.meal.model_dump(), "carbs_g": carbs.estimate})

    def work() -> ImpactResult:
        check_not_future(meal.time, now, "context.meal.time")
        record = meal_record(meal, carbs_p10_g=carbs.low, carbs_p90_g=carbs.high, source="photo")
        return predictor.impact(
            meal_context(parsed, record, now), past_meals(parsed, now), person_fields(parsed.profile)
        )

    impact = impact_answer(impact_response(await runtime.executor.run(work)), wording)
    answer = AnalyzeResponse(recognition=recognized, impact=impact)
    check_outputs(answer)
    return answer
