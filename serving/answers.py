"""Answers shaped for the person who asked: their language (Accept-Language), their glucose unit (the
request's cgm.unit), plain sentences and rounded numbers, over the responses the routes build."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Header

from serving.schemas.glucose import AlertOut, ForecastPointOut, ForecastResponse
from serving.schemas.meals import (
    CurvePoint,
    FoodOut,
    ImpactResponse,
    Interval,
    RecognizeResponse,
    SettingOut,
)
from serving.schemas.system import ModelRef
from serving.settings import FOOD_RECOGNIZER
from serving.wording import UNNAMED_DISH, Unit, Wording, preferred_language, rounded
from vision.recognition import Recognition

AcceptLanguage = Annotated[
    str | None,
    Header(description="en (default) or ko: the language of every sentence in the answer", examples=["ko"]),
]


def wording_for(accept_language: str | None, unit: str = "mg/dL") -> Wording:
    glucose_unit: Unit = "mmol/L" if unit == "mmol/L" else "mg/dL"
    return Wording(preferred_language(accept_language), glucose_unit)


def recognize_answer(recognition: Recognition, model_version: str, wording: Wording) -> RecognizeResponse:
    """The recognition with foods and settings apart, the dish named or not, and one sentence."""
    dish = recognition.dish
    top_setting = recognition.settings[0].name if recognition.settings else None
    carbs = recognition.carbs_g
    answer = RecognizeResponse(
        is_food=recognition.is_food,
        food_probability=recognition.food_probability,
        foods=[
            FoodOut(
                name=wording.food_name(f.name),
                category=f.category,
                category_label=wording.category_label(f.category),
                role=f.role,
                probability=f.probability,
            )
            for f in recognition.foods
        ],
        settings=[
            SettingOut(name=wording.food_name(s.name), probability=s.probability)
            for s in recognition.settings
        ],
        dish=wording.food_name(dish.name) if dish else UNNAMED_DISH[wording.language],
        dish_named=dish is not None,
        summary=wording.dish_sentence(
            dish.name if dish else None,
            dish.probability if dish else None,
            top_setting,
            (carbs.low, carbs.estimate, carbs.high),
        ),
        carbs_g=Interval(estimate=carbs.estimate, low=carbs.low, high=carbs.high),
        kcal=Interval(
            estimate=recognition.kcal.estimate, low=recognition.kcal.low, high=recognition.kcal.high
        ),
        model=ModelRef(name=FOOD_RECOGNIZER, version=model_version),
    )
    return rounded(answer, food_probabilities=True)


_BandPoint = TypeVar("_BandPoint", CurvePoint, ForecastPointOut)


def _band_in_unit(point: _BandPoint, wording: Wording) -> _BandPoint:
    """A curve or forecast point with its median and 10-90 % band also in mmol/L (None for mg/dL)."""
    mmol = wording.mmol_l
    return point.model_copy(
        update={
            "glucose_mmol_l": mmol(point.glucose_mg_dl),
            "low_mmol_l": mmol(point.low_mg_dl),
            "high_mmol_l": mmol(point.high_mg_dl),
        }
    )


def impact_answer(response: ImpactResponse, wording: Wording) -> ImpactResponse:
    """The impact in the person's language and unit: mmol/L twins, labels, sentences, rounding."""
    mmol = wording.mmol_l
    peak = response.peak
    explanation = response.explanation
    contributions = [
        c.model_copy(update={"label": wording.factor(c.factor), "peak_rise_mmol_l": mmol(c.peak_rise_mg_dl)})
        for c in explanation.contributions
    ]
    top = max(contributions, key=lambda c: abs(c.peak_rise_mg_dl), default=None)
    summary = wording.impact_sentence(
        peak.glucose_mg_dl,
        peak.minute,
        peak.rise_mg_dl,
        response.spike.probability,
        response.spike.threshold_mg_dl,
        None if top is None else (top.factor, top.peak_rise_mg_dl),
    )
    what_if = [
        w.model_copy(
            update={
                "description": wording.scenario(w.scenario, w.description),
                "peak_glucose_mmol_l": mmol(w.peak_glucose_mg_dl),
                "summary": wording.what_if_sentence(
                    w.scenario,
                    w.description,
                    w.peak_glucose_mg_dl if w.available else None,
                    peak.glucose_mg_dl,
                ),
            }
        )
        for w in response.what_if
    ]
    shaped = response.model_copy(
        update={
            "curve": [_band_in_unit(p, wording) for p in response.curve],
            "peak": peak.model_copy(
                update={"glucose_mmol_l": mmol(peak.glucose_mg_dl), "rise_mmol_l": mmol(peak.rise_mg_dl)}
            ),
            "spike": response.spike.model_copy(
                update={"threshold_mmol_l": mmol(response.spike.threshold_mg_dl)}
            ),
            "explanation": explanation.model_copy(
                update={
                    "contributions": contributions,
                    "summary": summary,
                    "reference": wording.reference(explanation.reference),
                    "reference_peak_rise_mmol_l": mmol(explanation.reference_peak_rise_mg_dl),
                    "predicted_peak_rise_mmol_l": mmol(explanation.predicted_peak_rise_mg_dl),
                }
            ),
            "what_if": what_if,
            "unit": wording.unit,
            "summary": summary,
        }
    )
    return rounded(shaped)


def forecast_answer(response: ForecastResponse, wording: Wording) -> ForecastResponse:
    """The forecast in the person's unit, its alerts in their language."""
    mmol = wording.mmol_l
    by_horizon = {p.horizon_min: p.glucose_mg_dl for p in response.forecast}
    alerts = [_alert(a, response, by_horizon, wording) for a in response.alerts]
    shaped = response.model_copy(
        update={
            "forecast": [_band_in_unit(p, wording) for p in response.forecast],
            "alerts": alerts,
            "unit": wording.unit,
            "current_glucose_mmol_l": mmol(response.current_glucose_mg_dl),
        }
    )
    return rounded(shaped)


def _alert(
    alert: AlertOut, response: ForecastResponse, by_horizon: dict[int, float], wording: Wording
) -> AlertOut:
    """The alert re-worded from its kind and lead time, with the glucose (or rate) it is about."""
    lead = alert.lead_time_min
    glucose = (
        response.current_glucose_mg_dl
        if lead == 0
        else by_horizon.get(int(lead), response.current_glucose_mg_dl)
    )
    rate = None
    if alert.kind in ("rising_fast", "falling_fast"):
        if lead == 0 and response.trend_mg_dl_per_min is not None:
            rate = response.trend_mg_dl_per_min
        else:
            horizons = sorted(by_horizon)
            later = next((h for h in horizons if h > lead), None)
            earlier = by_horizon.get(int(lead), response.current_glucose_mg_dl)
            rate = None if later is None else (by_horizon[later] - earlier) / (later - lead)
        if rate is None:
            return alert  # nothing to re-word it from: keep the model's own words
    return alert.model_copy(update={"reason": wording.alert_sentence(alert.kind, lead, glucose, rate)})
