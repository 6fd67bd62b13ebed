"""The last check before an answer leaves: every number finite, every glucose, carbohydrate and probability
inside a hard physiological range. An answer that fails is refused with 422 `prediction-out-of-range`
(its inputs drove a model past what a body can reach), never sent with NaN, 1e308 or 345,502 mg/dL.

The rules go by field name, so fields added to the response schemas later are held to them too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from pydantic import BaseModel

from serving.problems import PredictionRangeError

# Glucose meters read up to 600 mg/dL ("HI" above); CGMs to 400-500. A predicted value beyond is the
# model extrapolating, not a forecast.
MAX_GLUCOSE_MG_DL = 600.0
MAX_CARBS_G = 1000.0  # the input cap of a meal (and of a personal class's serving)
MAX_KCAL = 10_000.0
_GLUCOSE_FIELDS = ("glucose_mg_dl", "low_mg_dl", "high_mg_dl", "threshold_mg_dl")


def _numbers(value: object, path: str) -> Iterator[tuple[str, float]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{path}[{index}]")
    elif isinstance(value, float | int) and not isinstance(value, bool):
        yield path, float(value)


def _range(path: str) -> tuple[float, float] | None:
    field = path.rsplit(".", 1)[-1]
    if "probability" in field:
        return 0.0, 1.0
    if field.endswith(_GLUCOSE_FIELDS):
        return 0.0, MAX_GLUCOSE_MG_DL
    if field.endswith("rise_mg_dl"):
        return -MAX_GLUCOSE_MG_DL, MAX_GLUCOSE_MG_DL
    if ".carbs_g" in f".{path}" and field in ("estimate", "low", "high", "carbs_g"):
        return 0.0, MAX_CARBS_G
    if ".kcal" in f".{path}" and field in ("estimate", "low", "high", "kcal"):
        return 0.0, MAX_KCAL
    return None


def check_outputs(answer: BaseModel) -> None:
    """Raise PredictionRangeError naming the first field that is non-finite or out of its range."""
    for path, number in _numbers(answer.model_dump(), ""):
        if not math.isfinite(number):
            raise PredictionRangeError(f"The model gave no finite value for {path}; check the amounts sent.")
        bounds = _range(path)
        if bounds is not None and not bounds[0] <= number <= bounds[1]:
            raise PredictionRangeError(
                f"{path} would be outside {bounds[0]:g}..{bounds[1]:g}: the inputs drive the model beyond "
                "what a body can reach; check the amounts and units sent."
            )
