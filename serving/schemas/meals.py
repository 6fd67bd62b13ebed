"""Requests and responses of the meal routes: recognize (photo), impact (JSON), analyze (both)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas.glucose import (
    Cgm,
    InsulinIn,
    MealEvent,
    Profile,
    StrictInput,
    Timestamp,
    example_readings,
)
from serving.schemas.system import ModelRef
from serving.wording import FACTORS, SCENARIOS
from vision.taxonomy import CATEGORIES

MAX_HISTORY_MEALS = 50
_MEAL_TIME = "2026-11-28T12:00:00+01:00"


class Interval(BaseModel):
    estimate: float = Field(description="median")
    low: float = Field(description="10th percentile")
    high: float = Field(description="90th percentile")


class FoodOut(BaseModel):
    name: str = Field(description="the class name, in the request's language where the taxonomy has it")
    category: str = Field(
        description="the dietitian's category of the class (vision/taxonomy.py)",
        json_schema_extra={"enum": list(CATEGORIES)},
    )
    category_label: str = Field(default="", description="the category in words, in the request's language")
    role: str = Field(
        default="food", description="food or drink", json_schema_extra={"enum": ["food", "drink"]}
    )
    probability: float


class SettingOut(BaseModel):
    """Tableware, a kitchen or a shop seen around the food: never the food itself."""

    name: str
    role: str = Field(default="setting", json_schema_extra={"enum": ["setting"]})
    probability: float


class RecognizeResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "is_food": True,
                    "food_probability": 0.994,
                    "foods": [
                        {
                            "name": "carbonara",
                            "category": "noodles_pasta",
                            "category_label": "noodles and pasta",
                            "role": "food",
                            "probability": 0.6317,
                        },
                        {
                            "name": "broccoli",
                            "category": "vegetables_salads",
                            "category_label": "vegetables and salads",
                            "role": "food",
                            "probability": 0.0272,
                        },
                    ],
                    "settings": [{"name": "plate", "role": "setting", "probability": 0.1307}],
                    "dish": "carbonara",
                    "dish_named": True,
                    "summary": "This looks like carbonara (63 %): about 69 g of carbohydrate, likely between 29 "
                    "and 133 g.",
                    "carbs_g": {"estimate": 69.3, "low": 29.4, "high": 133.2},
                    "kcal": {"estimate": 910.0, "low": 333.0, "high": 1708.0},
                    "model": {"name": "food_recognizer", "version": "1"},
                }
            ]
        }
    )

    is_food: bool
    food_probability: float
    foods: list[FoodOut] = Field(
        description="top food and drink classes, most probable first; never a setting"
    )
    settings: list[SettingOut] = Field(
        default_factory=list, description="plates, bowls, trays... seen around the food, most probable first"
    )
    dish: str = Field(
        default="",
        description="the most probable food when it is confident enough, else 'unnamed dish' (in the "
        "request's language): then only settings were confident, and carbs_g is the wide interval they carry",
    )
    dish_named: bool = Field(default=False, description="false when `dish` is the unnamed dish")
    summary: str = Field(
        default="", description="one plain sentence for the person, in the request's language"
    )
    carbs_g: Interval = Field(description="carbohydrate in grams, with its 10-90 % interval")
    kcal: Interval
    model: ModelRef


# The response graph has a glycemic-index column, but the API takes none: GI was known only for the
# simulated meals it was trained on (never in a real cohort here), and the shipped model's answer to it is
# not trustworthy (models/glucose_response/MODEL_CARD.md, "Glycemic index: not accepted").
GLYCEMIC_INDEX_REFUSED = (
    "the response model saw a glycemic index only in simulated meals and its answer to one is not "
    "trustworthy (models/glucose_response/MODEL_CARD.md); leave it out"
)


class MealComposition(StrictInput):
    """The meal without its carbohydrate (that comes from the photo in /v1/meals/analyze).

    No glycemic index: the model saw one only in simulated meals (`glycemic_index` is refused with why).
    """

    refused_fields: ClassVar[Mapping[str, str]] = {
        "glycemic_index": GLYCEMIC_INDEX_REFUSED,
        "glycaemic_index": GLYCEMIC_INDEX_REFUSED,
        "carbs_g": "in /v1/meals/analyze the carbohydrate comes from the photo; to give it yourself, send "
        "the whole request to /v1/meals/impact",
    }

    time: Timestamp = Field(description="when the meal starts, ISO 8601 with offset")
    sugars_g: float | None = Field(default=None, ge=0, le=1000)
    fiber_g: float | None = Field(default=None, ge=0, le=500)
    fat_g: float | None = Field(default=None, ge=0, le=1000)
    protein_g: float | None = Field(default=None, ge=0, le=1000)


class MealIn(MealComposition):
    carbs_g: float = Field(ge=0, le=1000)


class ActivitySummary(StrictInput):
    steps: float | None = Field(
        default=None, ge=0, le=50_000, description="steps in the hour before the meal"
    )
    heart_rate: float | None = Field(
        default=None, ge=20, le=250, description="mean bpm in the hour before the meal"
    )
    planned_walk_min: float | None = Field(
        default=None, ge=0, le=600, description="walk planned after the meal"
    )


class PastMealIn(StrictInput):
    """A past meal and the CGM around it (from 1 h before to 3 h after), for personal calibration."""

    meal: MealIn
    cgm: Cgm


class ContextIn(StrictInput):
    """Everything about the person around the meal, except the meal itself."""

    cgm: Cgm = Field(description="recent CGM: at least the hour before the meal")
    activity: ActivitySummary = Field(default_factory=ActivitySummary)
    profile: Profile = Field(default_factory=Profile)
    insulin: list[InsulinIn] = Field(default_factory=list, max_length=200)
    sleep_hours: float | None = Field(default=None, ge=0, le=24, description="last night's sleep")
    recent_meals: list[MealEvent] = Field(
        default_factory=list, max_length=20, description="meals before this one"
    )
    history: list[PastMealIn] = Field(default_factory=list, max_length=MAX_HISTORY_MEALS)


_CONTEXT_EXAMPLE: dict[str, Any] = {
    "cgm": {"unit": "mg/dL", "readings": example_readings()},
    "activity": {"steps": 800, "heart_rate": 72, "planned_walk_min": 15},
    "profile": {"diabetes": "type2"},
    "insulin": [],
    "sleep_hours": 7.0,
}


class ImpactRequest(ContextIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "meal": {
                        "time": _MEAL_TIME,
                        "carbs_g": 60,
                        "sugars_g": 8,
                        "fiber_g": 4,
                        "fat_g": 15,
                        "protein_g": 20,
                    },
                    **_CONTEXT_EXAMPLE,
                }
            ]
        }
    )

    meal: MealIn


ANALYZE_CONTEXT_EXAMPLE: dict[str, Any] = {"meal": {"time": _MEAL_TIME}, **_CONTEXT_EXAMPLE}


class AnalyzeContext(ContextIn):
    """The `context` form field of /v1/meals/analyze: the impact request without carbohydrate."""

    model_config = ConfigDict(json_schema_extra={"examples": [ANALYZE_CONTEXT_EXAMPLE]})

    meal: MealComposition


class CurvePoint(BaseModel):
    minute: int = Field(description="minutes after the start of the meal")
    glucose_mg_dl: float = Field(description="median")
    low_mg_dl: float = Field(description="10th percentile (wider when the carbohydrate came from a photo)")
    high_mg_dl: float = Field(description="90th percentile")
    glucose_mmol_l: float | None = Field(
        default=None, description="the same in mmol/L when the request used it"
    )
    low_mmol_l: float | None = None
    high_mmol_l: float | None = None


class PeakOut(BaseModel):
    glucose_mg_dl: float
    minute: int
    rise_mg_dl: float = Field(description="above the pre-meal baseline")
    glucose_mmol_l: float | None = Field(default=None, description="when the request used mmol/L")
    rise_mmol_l: float | None = None


class SpikeOut(BaseModel):
    probability: float
    threshold_mg_dl: float = Field(description="140 without diabetes or with prediabetes, else 180")
    threshold_mmol_l: float | None = Field(default=None, description="when the request used mmol/L")


class ContributionOut(BaseModel):
    factor: str = Field(description="the factor group", json_schema_extra={"enum": list(FACTORS)})
    label: str = Field(default="", description="the factor in words, in the request's language")
    peak_rise_mg_dl: float
    iauc_2h_mg_dl_min: float
    peak_rise_mmol_l: float | None = Field(default=None, description="when the request used mmol/L")


class ExplanationOut(BaseModel):
    contributions: list[ContributionOut] = Field(
        description="exact Shapley values; sum = predicted - reference"
    )
    reference_peak_rise_mg_dl: float
    predicted_peak_rise_mg_dl: float
    reference_iauc_2h_mg_dl_min: float
    predicted_iauc_2h_mg_dl_min: float
    reference_peak_rise_mmol_l: float | None = Field(default=None, description="when the request used mmol/L")
    predicted_peak_rise_mmol_l: float | None = Field(default=None, description="when the request used mmol/L")
    reference: str
    summary: str = Field(
        default="", description="the explanation in one plain sentence, in the request's language"
    )


class WhatIfOut(BaseModel):
    scenario: str = Field(json_schema_extra={"enum": list(SCENARIOS)})
    description: str = Field(description="the change, in the request's language")
    available: bool
    peak_glucose_mg_dl: float | None
    spike_probability: float | None
    peak_glucose_mmol_l: float | None = Field(default=None, description="when the request used mmol/L")
    summary: str = Field(default="", description="what the change would do, in the request's language")


class CalibrationOut(BaseModel):
    n_meals: int
    applied: bool
    reason: str
    scale: float
    offset_mg_dl: float
    loo_peak_rise_mae_before_mg_dl: float | None
    loo_peak_rise_mae_after_mg_dl: float | None


_IMPACT_SUMMARY = (
    "Your glucose is expected to peak at about 149 mg/dL 70 minutes after the meal (a rise of 44 mg/dL); the "
    "chance of going above 180 mg/dL is 33 %. What raises the peak most is your glucose level and trend before "
    "the meal (+11 mg/dL)."
)


class ImpactResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    # The answer to serving/examples/impact.json (the README's curl call), curve cut to 3 points.
                    "curve": [
                        {"minute": m, "glucose_mg_dl": g, "low_mg_dl": lo, "high_mg_dl": hi}
                        | {"glucose_mmol_l": None, "low_mmol_l": None, "high_mmol_l": None}
                        for m, g, lo, hi in (
                            (0, 105.0, 105.0, 105.0),
                            (5, 109.0, 104.0, 114.0),
                            (10, 110.0, 101.0, 121.0),
                        )
                    ],
                    "peak": {
                        "glucose_mg_dl": 149.0,
                        "minute": 70,
                        "rise_mg_dl": 44.0,
                        "glucose_mmol_l": None,
                        "rise_mmol_l": None,
                    },
                    "spike": {"probability": 0.329, "threshold_mg_dl": 180.0, "threshold_mmol_l": None},
                    "explanation": {
                        "contributions": [
                            {
                                "factor": "carbohydrate amount",
                                "label": "the amount of carbohydrate",
                                "peak_rise_mg_dl": 4.0,
                                "iauc_2h_mg_dl_min": 410.0,
                                "peak_rise_mmol_l": None,
                            },
                            {
                                "factor": "pre-meal glucose level and trend",
                                "label": "your glucose level and trend before the meal",
                                "peak_rise_mg_dl": 11.0,
                                "iauc_2h_mg_dl_min": 1071.0,
                                "peak_rise_mmol_l": None,
                            },
                            {
                                "factor": "activity",
                                "label": "activity",
                                "peak_rise_mg_dl": -5.0,
                                "iauc_2h_mg_dl_min": -489.0,
                                "peak_rise_mmol_l": None,
                            },
                        ],
                        "reference_peak_rise_mg_dl": 33.0,
                        "predicted_peak_rise_mg_dl": 44.0,
                        "reference_iauc_2h_mg_dl_min": 2579.0,
                        "predicted_iauc_2h_mg_dl_min": 3658.0,
                        "reference_peak_rise_mmol_l": None,
                        "predicted_peak_rise_mmol_l": None,
                        "reference": "reference_meal in the model metadata (see MODEL_CARD.md), eaten by the same "
                        "kind of person",
                        "summary": _IMPACT_SUMMARY,
                    },
                    "what_if": [
                        {
                            "scenario": "half_portion",
                            "description": "eat half of this meal",
                            "available": True,
                            "peak_glucose_mg_dl": 136.0,
                            "spike_probability": 0.221,
                            "peak_glucose_mmol_l": None,
                            "summary": "Eat half of this meal: the peak would be about 136 mg/dL (as eaten: 149 mg/dL).",
                        },
                        {
                            "scenario": "protein_or_vegetables_first",
                            "description": "eat the protein or vegetables before the carbohydrate",
                            "available": False,
                            "peak_glucose_mg_dl": None,
                            "spike_probability": None,
                            "peak_glucose_mmol_l": None,
                            "summary": "Eat the protein or vegetables before the carbohydrate: the model has no input "
                            "for this change, so it cannot say.",
                        },
                    ],
                    "calibration": None,
                    "model": {"name": "glucose_response", "version": "2"},
                    "unit": "mg/dL",
                    "summary": _IMPACT_SUMMARY,
                }
            ]
        }
    )

    curve: list[CurvePoint] = Field(description="0..180 min, every 5 min")
    peak: PeakOut
    spike: SpikeOut
    explanation: ExplanationOut
    what_if: list[WhatIfOut]
    calibration: CalibrationOut | None = Field(description="present when history was sent")
    model: ModelRef
    unit: str = Field(
        default="mg/dL",
        description="the request's cgm.unit: with mmol/L every *_mmol_l twin is filled",
        json_schema_extra={"enum": ["mg/dL", "mmol/L"]},
    )
    summary: str = Field(default="", description="the answer in plain sentences, in the request's language")


class AnalyzeResponse(BaseModel):
    recognition: RecognizeResponse
    impact: ImpactResponse | None = Field(description="null when the photo shows no food")
