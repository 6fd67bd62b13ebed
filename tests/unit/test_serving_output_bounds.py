"""The last check on every answer: finite numbers, glucose, carbohydrate and probabilities in range."""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel

from serving.output_bounds import MAX_GLUCOSE_MG_DL, check_outputs
from serving.problems import PredictionRangeError
from serving.schemas.meals import Interval, PeakOut, SpikeOut


class Answer(BaseModel):
    peak: PeakOut
    spike: SpikeOut
    carbs_g: Interval
    trend_mg_dl_per_min: float | None = None


def answer(**changes: float) -> Answer:
    values = {"peak_glucose": 160.0, "rise": 50.0, "probability": 0.3, "carbs": 60.0, "trend": 0.5, **changes}
    return Answer(
        peak=PeakOut(glucose_mg_dl=values["peak_glucose"], minute=55, rise_mg_dl=values["rise"]),
        spike=SpikeOut(probability=values["probability"], threshold_mg_dl=180.0),
        carbs_g=Interval(estimate=values["carbs"], low=values["carbs"] / 2, high=values["carbs"] * 1.5),
        trend_mg_dl_per_min=values["trend"],
    )


def test_a_plausible_answer_passes() -> None:
    check_outputs(answer())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"peak_glucose": 345_502.0}, "peak.glucose_mg_dl"),  # the 1e6 g meal of issue 18
        ({"peak_glucose": MAX_GLUCOSE_MG_DL + 1}, "peak.glucose_mg_dl"),
        ({"peak_glucose": -1.0}, "peak.glucose_mg_dl"),
        ({"rise": 1e308}, "peak.rise_mg_dl"),
        ({"probability": 1.01}, "spike.probability"),
        ({"carbs": 2_000.0}, "carbs_g.estimate"),
        ({"trend": math.nan}, "trend_mg_dl_per_min"),
        ({"trend": math.inf}, "trend_mg_dl_per_min"),
    ],
)
def test_non_finite_or_out_of_range_values_are_refused_by_name(changes: dict[str, float], field: str) -> None:
    with pytest.raises(PredictionRangeError, match=field.replace(".", r"\.")):
        check_outputs(answer(**changes))
