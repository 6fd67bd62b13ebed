"""CGM, event and profile inputs shared by the meal and forecast routes, and the forecast response."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from serving.device_time import localize_readings
from serving.schemas.closed import ClosedModel
from serving.schemas.system import ModelRef
from serving.time_text import reads_as_number
from serving.wording import ALERTS

GlucoseUnit = Literal["mg/dL", "mmol/L"]
MAX_READINGS = 4032  # two weeks at 5 min: more than any route needs
_T0 = "2026-11-28T12:00:00+01:00"
# Times outside this span are typing or clock errors (and would overflow date arithmetic near year 1 or 9999).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)


def _plausible(time: datetime) -> datetime:
    if not EARLIEST_TIME <= time < LATEST_TIME:
        raise ValueError("time must lie between the years 2000 and 2100")
    return time


def _iso_text(value: object) -> object:
    # Strict models would refuse the ISO string itself; numbers (epoch seconds) and booleans are refused here,
    # and so is a number in a string, which pydantic would read as Unix seconds or, beyond 2e10, milliseconds.
    if not isinstance(value, str | datetime):
        raise ValueError("time must be an ISO 8601 date-time string with its UTC offset")
    if isinstance(value, str) and reads_as_number(value):
        raise ValueError(
            f"time must be an ISO 8601 date-time string with its UTC offset, such as {_T0}, not a number of seconds"
        )
    return value


Timestamp = Annotated[
    AwareDatetime, Field(strict=False), BeforeValidator(_iso_text), AfterValidator(_plausible)
]


class StrictInput(ClosedModel):
    """Base of the request bodies: a number is a JSON number ("60" and false are refused, not coerced),
    and an unknown key is refused (ClosedModel).

    Strict in Python mode, which is how FastAPI validates: a date-time goes through `Timestamp` and an
    Enum field needs `Field(strict=False)` (a JSON string is not yet the Enum member).
    """

    model_config = ConfigDict(strict=True)


def example_readings(count: int = 36, start_mg_dl: float = 104.0) -> list[Any]:
    """A flat CGM trace ending at 12:00 local time, for the OpenAPI examples."""
    return [
        {"time": f"2026-11-28T{9 + (m // 60):02d}:{m % 60:02d}:00+01:00", "value": start_mg_dl + (k % 3)}
        for k, m in enumerate(range(5 * (36 - count) + 5, 185, 5))
    ]


class Reading(StrictInput):
    time: Timestamp = Field(description="ISO 8601 with UTC offset")
    value: float = Field(description="glucose in the unit given by `cgm.unit`")


class Cgm(StrictInput):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"unit": "mg/dL", "readings": example_readings(3)}]}
    )

    unit: GlucoseUnit = Field(description="mg/dL, or mmol/L (converted at 18.016 mg/dL per mmol/L)")
    readings: list[Reading] = Field(min_length=1, max_length=MAX_READINGS, description="oldest first")
    tz: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone of the device clock (Europe/Zurich): reading times written without a UTC "
        "offset, as most device exports write them, are read in it; times with an offset keep it",
        examples=["Europe/Zurich"],
    )

    @model_validator(mode="before")
    @classmethod
    def _device_local_times(cls, data: Any) -> Any:
        return localize_readings(data)


class Profile(StrictInput):
    """What the app knows about the person; every field is optional and unknown when absent."""

    diabetes: Literal["none", "prediabetes", "type2", "type1"] | None = Field(
        default=None, description="who the person is; sets the spike threshold (140 or 180 mg/dL)"
    )
    age_years: float | None = Field(default=None, ge=1, le=120, description="age in years")
    sex: Literal["female", "male"] | None = Field(default=None, description="sex")
    bmi_kg_m2: float | None = Field(default=None, ge=10, le=80, description="body-mass index, kg/m^2")
    hba1c_percent: float | None = Field(default=None, ge=3, le=20, description="HbA1c, % (NGSP)")
    fasting_glucose_mg_dl: float | None = Field(
        default=None, ge=40, le=500, description="typical fasting glucose, mg/dL"
    )
    medication: list[Literal["none", "oral", "basal_insulin", "rapid_insulin"]] | None = Field(
        default=None,
        max_length=4,
        description="glucose-lowering drugs taken: oral = metformin or another oral / non-insulin drug; "
        "[] or ['none'] = none; absent = unknown",
    )


class InsulinIn(StrictInput):
    time: Timestamp
    units: float = Field(ge=0, le=200)
    kind: Literal["rapid", "basal"] = "rapid"


class ActivityIn(StrictInput):
    """Activity over [time, time + duration_min)."""

    time: Timestamp
    duration_min: float = Field(gt=0, le=1440)
    steps: float | None = Field(default=None, ge=0, le=100_000)
    heart_rate_bpm: float | None = Field(
        default=None, ge=20, le=250, validation_alias=AliasChoices("heart_rate_bpm", "heart_rate")
    )


class MealEvent(StrictInput):
    """A meal eaten before the one being asked about (its carbohydrate still acts)."""

    time: Timestamp
    carbs_g: float = Field(ge=0, le=1000)


class ForecastRequest(StrictInput):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cgm": {"unit": "mg/dL", "readings": example_readings()},
                    "meals": [{"time": "2026-11-28T11:30:00+01:00", "carbs_g": 45}],
                    "insulin": [{"time": "2026-11-28T11:25:00+01:00", "units": 4, "kind": "rapid"}],
                    "activity": [{"time": "2026-11-28T10:00:00+01:00", "duration_min": 30, "steps": 2500}],
                    "profile": {"diabetes": "type1"},
                }
            ]
        }
    )

    cgm: Cgm
    meals: list[MealEvent] = Field(default_factory=list, max_length=100)
    insulin: list[InsulinIn] = Field(default_factory=list, max_length=200)
    activity: list[ActivityIn] = Field(default_factory=list, max_length=500)
    profile: Profile = Field(default_factory=Profile)


class ForecastPointOut(BaseModel):
    horizon_min: int
    glucose_mg_dl: float = Field(description="median")
    low_mg_dl: float = Field(description="10th percentile")
    high_mg_dl: float = Field(description="90th percentile")
    glucose_mmol_l: float | None = Field(
        default=None, description="the same in mmol/L when the request used it"
    )
    low_mmol_l: float | None = None
    high_mmol_l: float | None = None


class AlertOut(BaseModel):
    kind: str = Field(
        description="very_low, low, high, very_high, rising_fast or falling_fast",
        json_schema_extra={"enum": list(ALERTS)},
    )
    reason: str = Field(description="the alert in plain words, in the request's language and unit")
    lead_time_min: float = Field(description="0 = now; else minutes until it is forecast to happen")
    source: str = Field(description="cgm (already in the readings) or forecast")


class ForecastResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    # The answer to serving/examples/forecast.json (the README's curl call).
                    "origin": _T0,
                    "current_glucose_mg_dl": 106.0,
                    "trend_mg_dl_per_min": 0.0,
                    "forecast": [
                        {"horizon_min": h, "glucose_mg_dl": g, "low_mg_dl": lo, "high_mg_dl": hi}
                        | {"glucose_mmol_l": None, "low_mmol_l": None, "high_mmol_l": None}
                        for h, g, lo, hi in (
                            (15, 117.0, 108.0, 131.0),
                            (30, 124.0, 108.0, 150.0),
                            (45, 127.0, 106.0, 162.0),
                            (60, 129.0, 102.0, 171.0),
                        )
                    ],
                    "alerts": [],
                    "model": {"name": "glucose_forecast", "version": "1"},
                    "unit": "mg/dL",
                    "current_glucose_mmol_l": None,
                }
            ]
        }
    )

    origin: AwareDatetime
    current_glucose_mg_dl: float
    trend_mg_dl_per_min: float | None
    forecast: list[ForecastPointOut]
    alerts: list[AlertOut]
    model: ModelRef
    unit: str = Field(
        default="mg/dL",
        description="the request's cgm.unit: with mmol/L every *_mmol_l twin is filled",
        json_schema_extra={"enum": ["mg/dL", "mmol/L"]},
    )
    current_glucose_mmol_l: float | None = Field(default=None, description="when the request used mmol/L")
