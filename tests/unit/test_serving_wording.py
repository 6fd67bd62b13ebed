"""The wording module: language negotiation, rounding by field name, and vocabularies that match the models."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from glucose_model.features import FACTOR_GROUPS
from glucose_model.forecast import AlertKind
from glucose_model.impact import UNAVAILABLE_WHAT_IFS
from serving.wording import (
    ALERTS,
    FACTORS,
    SCENARIOS,
    UNAVAILABLE_REASONS,
    Wording,
    preferred_language,
    rounded,
)
from vision.taxonomy import load_food_classes, load_food_names


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("ko", "ko"),
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
        ("en-US,en;q=0.9,ko;q=0.8", "en"),
        ("fr-CH, fr;q=0.9, ko;q=0.8", "ko"),
        ("de", "en"),
        ("ko;q=0, en", "en"),
        ("en;q=0.5, ko;q=0.6", "ko"),
    ],
)
def test_preferred_language(header: str | None, language: str) -> None:
    assert preferred_language(header) == language


class _Point(BaseModel):
    glucose_mg_dl: float
    glucose_mmol_l: float | None
    iauc_2h_mg_dl_min: float
    probability: float
    carbs_g: float


class _Interval(BaseModel):
    estimate: float
    low: float


class _Answer(BaseModel):
    points: list[_Point]
    trend_mg_dl_per_min: float
    carbs_g: _Interval
    kcal: _Interval


def test_rounding_by_field_name() -> None:
    answer = _Answer(
        points=[
            _Point(
                glucose_mg_dl=168.4999,
                glucose_mmol_l=9.3523,
                iauc_2h_mg_dl_min=4400.7,
                probability=0.019999999999998092,
                carbs_g=62.04,
            )
        ],
        trend_mg_dl_per_min=-0.04,
        carbs_g=_Interval(estimate=69.31350708007812, low=29.42192268371582),
        kcal=_Interval(estimate=910.3737182617188, low=332.60174560546875),
    )
    point = rounded(answer).points[0]
    assert (point.glucose_mg_dl, point.glucose_mmol_l, point.iauc_2h_mg_dl_min) == (168.0, 9.4, 4401.0)
    assert (point.probability, point.carbs_g) == (0.02, 62.0)
    assert str(rounded(answer).trend_mg_dl_per_min) == "0.0"  # not -0.0
    # An interval's fields take the decimals of the field that holds it.
    assert rounded(answer).carbs_g == _Interval(estimate=69.3, low=29.4)
    assert rounded(answer).kcal == _Interval(estimate=910.0, low=333.0)


def test_vocabularies_cover_what_the_models_say() -> None:
    assert set(FACTOR_GROUPS) <= set(FACTORS)
    assert {str(kind) for kind in AlertKind} == set(ALERTS)
    scenarios = {
        "half_portion",
        "lower_gi_swap",
        "higher_fiber",
        "walk_15_min",
        "protein_or_vegetables_first",
    }
    assert scenarios == set(SCENARIOS)
    assert all(
        set(text) == {"en", "ko"} for vocabulary in (FACTORS, SCENARIOS) for text in vocabulary.values()
    )


def test_a_what_if_the_model_cannot_answer_says_why_in_the_persons_language() -> None:
    assert {name for name, _ in UNAVAILABLE_WHAT_IFS} == set(UNAVAILABLE_REASONS)
    assert all(set(reason) == {"en", "ko"} for reason in UNAVAILABLE_REASONS.values())
    en = Wording("en", "mg/dL").what_if_sentence("lower_gi_swap", "fallback", None, 150.0)
    assert en.startswith("Swap the carbohydrate for a lower-GI option")
    assert "only in simulated meals" in en and "the peak would be" not in en
    food_order = Wording("en", "mg/dL").what_if_sentence("protein_or_vegetables_first", "x", None, 150.0)
    assert food_order.endswith("the model has no input for this change, so it cannot say.")
    assert "시뮬레이션" in Wording("ko", "mg/dL").what_if_sentence("lower_gi_swap", "x", None, 150.0)


def test_every_class_has_a_korean_name() -> None:
    names = load_food_names("ko")
    assert {c.name for c in load_food_classes()} <= set(names)
    assert load_food_names("en") == {}


def test_the_explanation_reference_in_the_persons_language() -> None:
    from glucose_model.impact import REFERENCE_DESCRIPTION

    korean = Wording("ko").reference(REFERENCE_DESCRIPTION)
    assert "같은 유형의 사람" in korean and "eaten" not in korean
    assert Wording("en").reference(REFERENCE_DESCRIPTION) == REFERENCE_DESCRIPTION
    assert Wording("ko").reference("another model's reference") == "another model's reference"


def test_glucose_in_the_persons_unit() -> None:
    assert Wording("en", "mmol/L").glucose(180.0) == "10.0 mmol/L"
    assert Wording("ko", "mg/dL").glucose(180.4) == "180 mg/dL"
    assert Wording("en", "mg/dL").mmol_l(180.0) is None
    assert Wording("en", "mmol/L").mmol_l(180.16) == pytest.approx(10.0, abs=0.001)


def test_korean_sentences_need_no_guessed_particles() -> None:
    ko = Wording("ko", "mmol/L")
    assert ko.dish_sentence("pizza", 0.84, None, (51, 106, 204)).startswith("피자로 보입니다(84%)")
    assert ko.dish_sentence("mushroom", 0.5, None, (1, 2, 3)).startswith("버섯으로 보입니다")
    assert "(보이는 것: 접시," in ko.dish_sentence(None, None, "plate", (31, 84, 200))
    assert ko.alert_sentence("low", 0, 65, None) == "혈당이 지금 3.6 mmol/L입니다(3.9 mmol/L 미만)."
    assert ko.alert_sentence("rising_fast", 15, 150, 2.5).startswith(
        "약 15분 후부터 혈당이 분당 0.14 mmol/L씩"
    )
    en = Wording("en", "mg/dL")
    assert (
        en.alert_sentence("high", 30, 200, None)
        == "Glucose is forecast to be 200 mg/dL in about 30 minutes, above 180 mg/dL."
    )
    assert "(+12 mg/dL)" in en.impact_sentence(161, 75, 51, 0.48, 180, ("carbohydrate amount", 12))


def test_a_curve_that_never_rises_is_not_told_as_a_negative_rise() -> None:
    en, ko = Wording("en", "mg/dL"), Wording("ko", "mg/dL")
    rising = en.impact_sentence(161, 75, 51, 0.48, 180, None)
    assert (
        rising.startswith("Your glucose is expected to peak at about 161 mg/dL 75 minutes")
        and "rise of 51" in rising
    )
    falling = en.impact_sentence(207, 5, -5, 0.96, 180, ("pre-meal glucose level and trend", -29))
    assert "rise of" not in falling and "-5" not in falling.split(";")[0]
    assert falling.startswith("Your glucose is not expected to rise above its level before the meal")
    assert "the chance of going above 180 mg/dL is 96 %" in falling
    assert "상승" not in ko.impact_sentence(207, 5, -5, 0.96, 180, None)
    assert "51 mg/dL 상승" in ko.impact_sentence(161, 75, 51, 0.48, 180, None)
