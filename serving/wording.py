"""The person's language and units in what the API answers: sentences in English or Korean, glucose in
the unit the request used, numbers rounded to what they can tell, and the vocabularies clients switch on.

Routes build their answer from the models' numbers as before, then hand it here: `Wording` holds the
language (from Accept-Language) and the unit (from the request body), writes the sentences and fills
the `*_mmol_l` twins; `rounded` rounds every float by what its name says it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from glucose_model.impact import REFERENCE_DESCRIPTION
from glucose_model.metrics import (
    HIGH_ABOVE_MG_DL,
    LOW_BELOW_MG_DL,
    VERY_HIGH_ABOVE_MG_DL,
    VERY_LOW_BELOW_MG_DL,
)
from glucose_model.records import MG_DL_PER_MMOL_L
from vision.taxonomy import CATEGORIES, CATEGORY_LABELS_KO, load_food_names

Language = Literal["en", "ko"]
LANGUAGES: tuple[Language, ...] = ("en", "ko")
Unit = Literal["mg/dL", "mmol/L"]
Model = TypeVar("Model", bound=BaseModel)

# The explanation's factor groups (glucose_model.features.FACTOR_GROUPS and the person's history).
FACTORS: dict[str, dict[Language, str]] = {
    "carbohydrate amount": {"en": "the amount of carbohydrate", "ko": "탄수화물 양"},
    "meal composition": {
        "en": "what the meal is made of (sugar, fibre, fat, protein)",
        "ko": "식사 구성(당, 섬유질, 지방, 단백질)",
    },
    "pre-meal glucose level and trend": {
        "en": "your glucose level and trend before the meal",
        "ko": "식전 혈당 수준과 추세",
    },
    "activity": {"en": "activity", "ko": "신체 활동"},
    "timing and sleep": {"en": "the time of day and sleep", "ko": "식사 시간과 수면"},
    "insulin": {"en": "insulin", "ko": "인슐린"},
    "person": {"en": "who you are (diabetes, age, body)", "ko": "개인 특성(당뇨 유형, 나이, 체형)"},
    "your past responses": {
        "en": "how your glucose answered past meals",
        "ko": "과거 식사에 대한 내 혈당 반응",
    },
}
# The what-if scenarios of glucose_model.impact, as a person reads them.
SCENARIOS: dict[str, dict[Language, str]] = {
    "half_portion": {"en": "eat half of this meal", "ko": "이 식사를 절반만 먹기"},
    "lower_gi_swap": {
        "en": "swap the carbohydrate for a lower-GI option (wholegrain instead of white bread, basmati instead of sticky rice)",
        "ko": "탄수화물을 혈당지수가 낮은 것으로 바꾸기(흰 빵 대신 통곡물 빵, 찹쌀밥 대신 바스마티 쌀)",
    },
    "higher_fiber": {
        "en": "add fibre (a side of vegetables or legumes) to the same carbohydrate",
        "ko": "같은 탄수화물에 섬유질 더하기(채소나 콩 반찬)",
    },
    "protein_or_vegetables_first": {
        "en": "eat the protein or vegetables before the carbohydrate",
        "ko": "탄수화물보다 단백질이나 채소를 먼저 먹기",
    },
    "walk_15_min": {
        "en": "a 15-minute walk starting 15-30 minutes after the meal",
        "ko": "식후 15-30분에 15분 걷기",
    },
}
# Why a what-if the model cannot answer is not answered (glucose_model.impact.UNAVAILABLE_WHAT_IFS).
_NO_INPUT: dict[Language, str] = {
    "en": "the model has no input for this change, so it cannot say",
    "ko": "모델에 이 변화를 나타낼 입력이 없어 답할 수 없습니다",
}
UNAVAILABLE_REASONS: dict[str, dict[Language, str]] = {
    "lower_gi_swap": {
        "en": "the model saw a glycemic index only in simulated meals, so it cannot say what a swap does",
        "ko": "모델이 혈당지수를 시뮬레이션 식사에서만 보았기 때문에 바꿨을 때의 효과를 답할 수 없습니다",
    },
    "protein_or_vegetables_first": _NO_INPUT,
}
# glucose_model.forecast.AlertKind values.
ALERTS: tuple[str, ...] = ("very_low", "low", "high", "very_high", "rising_fast", "falling_fast")
_ALERT_LEVELS = {
    "very_low": VERY_LOW_BELOW_MG_DL,
    "low": LOW_BELOW_MG_DL,
    "high": HIGH_ABOVE_MG_DL,
    "very_high": VERY_HIGH_ABOVE_MG_DL,
}
UNNAMED_DISH: dict[Language, str] = {"en": "unnamed dish", "ko": "이름을 알 수 없는 요리"}
# explanation.reference: what the contributions are measured against (glucose_model.impact).
REFERENCES: dict[str, dict[Language, str]] = {
    REFERENCE_DESCRIPTION: {
        "en": REFERENCE_DESCRIPTION,
        "ko": "모델 메타데이터의 reference_meal(MODEL_CARD.md 참고)을 같은 유형의 사람이 먹었을 때",
    },
}

# Decimals by what a number is, read from the end of its field name (names say the unit).
_DECIMALS = (
    ("_mmol_l", 1),
    ("_mmol_l_per_min", 2),
    ("_mg_dl_per_min", 1),
    ("_mg_dl_min", 0),  # iAUC
    ("_mg_dl", 0),
    ("probability", 3),
    ("_percent", 1),
    ("kcal", 0),
    ("_g", 1),
    ("scale", 3),
)
# A food class probability is compared against the ONNX output by clients: kept finer.
_FOOD_PROBABILITY_DECIMALS = 4


def preferred_language(accept_language: str | None) -> Language:
    """The first of LANGUAGES the Accept-Language header ranks highest (RFC 9110 q-values); else en."""
    best: tuple[float, int, Language] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, *params = (p.strip() for p in part.split(";"))
        primary = tag.lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or (q, -position) > (best[0], -best[1])):
            best = (q, position, primary)
    return "en" if best is None else best[2]


def _decimals(name: str) -> int | None:
    for suffix, decimals in _DECIMALS:
        if name.endswith(suffix):
            return decimals
    return None


def _round_value(value: Any, decimals: int | None) -> Any:
    if isinstance(value, float) and decimals is not None and math.isfinite(value):
        rounded = round(value, decimals)
        return rounded + 0.0  # no -0.0
    return value


def rounded(model: Model, food_probabilities: bool = False, inherited: int | None = None) -> Model:
    """A copy of `model` with every float rounded by its field name (see _DECIMALS), nested models too.

    A field whose name says nothing (`estimate`, `low`, `high` of an interval) takes the decimals of
    the field holding its model (`carbs_g`, `kcal`).
    """
    update: dict[str, Any] = {}
    for name, value in model:
        decimals = _decimals(name)
        if decimals is None:
            decimals = inherited
        if food_probabilities and name == "probability":
            decimals = _FOOD_PROBABILITY_DECIMALS
        if isinstance(value, BaseModel):
            update[name] = rounded(value, food_probabilities, decimals)
        elif isinstance(value, list):
            update[name] = [
                rounded(v, food_probabilities, decimals)
                if isinstance(v, BaseModel)
                else _round_value(v, decimals)
                for v in value
            ]
        else:
            update[name] = _round_value(value, decimals)
    return model.model_copy(update=update)


def _ro(word: str) -> str:
    """The Korean particle 'as' after `word`: 로 after a vowel or ㄹ, else 으로 (Latin text: 로)."""
    last = word[-1:]
    if not "\uac00" <= last <= "\ud7a3":
        return "로"
    final = (ord(last) - 0xAC00) % 28
    return "로" if final in (0, 8) else "으로"  # 8: ㄹ


@cache
def _food_names(language: Language) -> dict[str, str]:
    return load_food_names(language)


@dataclass(frozen=True)
class Wording:
    """Sentences in `language`, glucose in `unit`."""

    language: Language = "en"
    unit: Unit = "mg/dL"

    @property
    def mmol(self) -> bool:
        return self.unit == "mmol/L"

    def glucose(self, mg_dl: float) -> str:
        """A glucose value as the person reads it: '168 mg/dL' or '9.3 mmol/L'."""
        if self.mmol:
            return f"{mg_dl / MG_DL_PER_MMOL_L:.1f} mmol/L"
        return f"{mg_dl:.0f} mg/dL"

    def mmol_l(self, mg_dl: float | None) -> float | None:
        """The `*_mmol_l` twin of a mg/dL field: filled when the request used mmol/L."""
        return None if mg_dl is None or not self.mmol else mg_dl / MG_DL_PER_MMOL_L

    def food_name(self, name: str) -> str:
        return _food_names(self.language).get(name, name)

    def category_label(self, category: str) -> str:
        if self.language == "ko":
            return CATEGORY_LABELS_KO.get(category, CATEGORIES.get(category, category))
        return CATEGORIES.get(category, category)

    def factor(self, factor: str) -> str:
        return FACTORS.get(factor, {}).get(self.language, factor)

    def reference(self, reference: str) -> str:
        """explanation.reference in the person's language (a text this module does not know: as it is)."""
        return REFERENCES.get(reference, {}).get(self.language, reference)

    def scenario(self, scenario: str, fallback: str) -> str:
        return SCENARIOS.get(scenario, {}).get(self.language, fallback)

    def dish_sentence(
        self,
        dish: str | None,
        probability: float | None,
        setting: str | None,
        carbs_g: tuple[float, float, float],
    ) -> str:
        """What the photo shows and its carbohydrate, in one sentence; carbs_g = (p10, p50, p90)."""
        low, mid, high = carbs_g
        if self.language == "ko":
            if dish is None:
                seen = f" (보이는 것: {self.food_name(setting)}, 음식 이름은 알 수 없음)" if setting else ""
                return (
                    f"{UNNAMED_DISH['ko']}{seen}: 탄수화물 약 {mid:.0f} g, "
                    f"범위가 넓어 {low:.0f}-{high:.0f} g 사이일 수 있습니다."
                )
            name = self.food_name(dish)
            return (
                f"{name}{_ro(name)} 보입니다({100 * (probability or 0):.0f}%): 탄수화물 약 {mid:.0f} g, "
                f"아마 {low:.0f}-{high:.0f} g 사이입니다."
            )
        if dish is None:
            seen = f" (the model sees a {setting} but cannot name the food)" if setting else ""
            return (
                f"An {UNNAMED_DISH['en']}{seen}: about {mid:.0f} g of carbohydrate, "
                f"and it could be anywhere from {low:.0f} to {high:.0f} g."
            )
        return (
            f"This looks like {dish} ({100 * (probability or 0):.0f} %): about {mid:.0f} g of carbohydrate, "
            f"likely between {low:.0f} and {high:.0f} g."
        )

    def impact_sentence(
        self,
        peak_mg_dl: float,
        peak_minute: int,
        rise_mg_dl: float,
        spike_probability: float,
        threshold_mg_dl: float,
        top_factor: tuple[str, float] | None,
    ) -> str:
        """The predicted peak, the spike risk and the factor that raises (or lowers) it most."""
        peak, rise, threshold = (
            self.glucose(peak_mg_dl),
            self.glucose(rise_mg_dl),
            self.glucose(threshold_mg_dl),
        )
        chance = f"{100 * spike_probability:.0f}"
        rises = round(rise_mg_dl) > 0  # a curve that never rises above the pre-meal level has no "rise of -5"
        if self.language == "ko":
            if rises:
                text = f"식후 약 {peak_minute}분에 혈당이 약 {peak}까지 오를 것으로 예상됩니다({rise} 상승). "
            else:
                text = f"혈당이 식전 수준보다 오르지 않을 것으로 예상됩니다(가장 높을 때 약 {peak}, 식후 {peak_minute}분). "
            text += f"{threshold} 초과 확률은 {chance}%입니다."
            if top_factor is not None:
                name, effect = top_factor
                direction = "올리는" if effect > 0 else "낮추는"
                text += f" 최고 혈당을 가장 크게 {direction} 요인은 {self.factor(name)}입니다({self._signed(effect)})."
            return text
        if rises:
            text = (
                f"Your glucose is expected to peak at about {peak} {peak_minute} minutes after the meal "
                f"(a rise of {rise}); "
            )
        else:
            text = (
                "Your glucose is not expected to rise above its level before the meal (at most about "
                f"{peak}, {peak_minute} minutes after the meal); "
            )
        text += f"the chance of going above {threshold} is {chance} %."
        if top_factor is not None:
            name, effect = top_factor
            direction = "raises" if effect > 0 else "lowers"
            text += f" What {direction} the peak most is {self.factor(name)} ({self._signed(effect)})."
        return text

    def what_if_sentence(
        self, scenario: str, fallback: str, peak_mg_dl: float | None, now_mg_dl: float
    ) -> str:
        action = self.scenario(scenario, fallback)
        if peak_mg_dl is None:
            reason = UNAVAILABLE_REASONS.get(scenario, _NO_INPUT)[self.language]
            if self.language == "ko":
                return f"{action}: {reason}."
            return f"{action[:1].upper()}{action[1:]}: {reason}."
        if self.language == "ko":
            return f"{action}: 최고 혈당이 약 {self.glucose(peak_mg_dl)}(그대로 먹으면 {self.glucose(now_mg_dl)})이 됩니다."
        peak, now = self.glucose(peak_mg_dl), self.glucose(now_mg_dl)
        return f"{action[:1].upper()}{action[1:]}: the peak would be about {peak} (as eaten: {now})."

    def alert_sentence(
        self, kind: str, lead_time_min: float, glucose_mg_dl: float, rate_mg_dl_per_min: float | None
    ) -> str:
        """An alert from its kind, when, the glucose it is about and (rate alerts) the rate."""
        if kind in _ALERT_LEVELS:
            level, value = self.glucose(_ALERT_LEVELS[kind]), self.glucose(glucose_mg_dl)
            below = kind in ("very_low", "low")
            if self.language == "ko":
                side = "미만" if below else "초과"
                if lead_time_min == 0:
                    return f"혈당이 지금 {value}입니다({level} {side})."
                return f"약 {lead_time_min:.0f}분 후 혈당 예상치는 {value}입니다({level} {side})."
            side = "below" if below else "above"
            if lead_time_min == 0:
                return f"Glucose is {value} now, {side} {level}."
            return f"Glucose is forecast to be {value} in about {lead_time_min:.0f} minutes, {side} {level}."
        rate = abs(rate_mg_dl_per_min or 0.0)
        per_min = f"{rate / MG_DL_PER_MMOL_L:.2f} mmol/L" if self.mmol else f"{rate:.1f} mg/dL"
        rising = kind == "rising_fast"
        if self.language == "ko":
            if lead_time_min == 0:
                word = "오르고" if rising else "내려가고"
                return f"혈당이 지금 분당 {per_min}씩 빠르게 {word} 있습니다."
            word = "오를" if rising else "내려갈"
            return f"약 {lead_time_min:.0f}분 후부터 혈당이 분당 {per_min}씩 빠르게 {word} 것으로 예상됩니다."
        if lead_time_min == 0:
            return f"Glucose is {'rising' if rising else 'falling'} fast now, {per_min} per minute."
        word = "rise" if rising else "fall"
        return f"Glucose is forecast to {word} fast, {per_min} per minute, from about {lead_time_min:.0f} minutes from now."

    def _signed(self, mg_dl: float) -> str:
        sign = "+" if mg_dl >= 0 else "-"
        return f"{sign}{self.glucose(abs(mg_dl))}"
