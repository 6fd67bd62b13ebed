"""The words the AGP page prints, in the reader's language (English or Korean).

`render_report(..., language="ko")` sets the language for the pages it draws (`report_language`); the
drawing code writes every label through `t("English template {value}", value=...)`, which returns the
Korean template when the report is in Korean. Korean needs a Hangul font: NanumGothic (SIL Open Font
Licence) from the `koreanize-matplotlib` package, registered with matplotlib by path (the package itself
is never imported: its import changes matplotlib's global settings).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Literal

from matplotlib import font_manager

from glucose_model.records import RecordError

ReportLanguage = Literal["en", "ko"]
REPORT_LANGUAGES: tuple[ReportLanguage, ...] = ("en", "ko")
HANGUL_FONT = "NanumGothic"
_LANGUAGE: ContextVar[ReportLanguage] = ContextVar("report_language", default="en")

KO: dict[str, str] = {
    "AGP Report: Continuous Glucose Monitoring": "AGP 보고서: 연속 혈당 측정",
    "Period: {period}": "기간: {period}",
    "{start} - {end} ({days:.1f} days{choice})": "{start} - {end} ({days:.1f}일{choice})",
    ", the latest {days} of {recorded:.0f} days recorded": ", 기록된 {recorded:.0f}일 중 최근 {days}일",
    ", chosen from {recorded:.0f} days recorded": ", 기록된 {recorded:.0f}일 중 선택한 기간",
    "This report covers {days:.1f} days; at least {recommended} days are recommended for a reliable profile, "
    "so read the patterns with care.": "이 보고서는 {days:.1f}일을 다룹니다. 신뢰할 수 있는 프로필에는 최소 "
    "{recommended}일이 권장되므로 패턴을 신중하게 해석하세요.",
    "The sensor was active {wear:.1f} % of the period (recommended > {recommended:g} %).": "센서는 기간의 "
    "{wear:.1f}% 동안 작동했습니다(권장 > {recommended:g}%).",
    "{low} readings were below the sensor's range (LOW) and {high} above it (HIGH); they count as below "
    "{very_low} and above {very_high}, at {low_value} and {high_value} in the mean.": "센서 범위 아래(LOW) "
    "측정이 {low}회, 위(HIGH) 측정이 {high}회 있었습니다. 각각 {very_low} 미만과 {very_high} 초과로 계산되며, "
    "평균에는 {low_value}와 {high_value}로 반영됩니다.",
    "Glucose statistics and targets": "혈당 통계와 목표",
    "Days of data": "데이터 일수",
    ">= {days} recommended": "{days}일 이상 권장",
    "Sensor active": "센서 작동",
    "Readings": "측정 수",
    "every {minutes:.0f} min": "{minutes:.0f}분마다",
    "Mean glucose": "평균 혈당",
    "Glucose management indicator (GMI)": "혈당 관리 지표(GMI)",
    "met": "달성",
    "NOT met": "미달성",
    "goal {target}, {mark}": "목표 {target}, {mark}",
    "Time in range {low}-{high}": "목표 범위 {low}-{high} 시간",
    "Time below {level}": "{level} 미만 시간",
    "Time above {level}": "{level} 초과 시간",
    "Glucose variability (CV)": "혈당 변동성(CV)",
    "Time in ranges ({unit})": "범위별 시간 ({unit})",
    "Very low <{level}": "매우 낮음 <{level}",
    "Low {low}-<{high}": "낮음 {low}-<{high}",
    "Target {low}-{high}": "목표 {low}-{high}",
    "High >{low}-{high}": "높음 >{low}-{high}",
    "Very high >{level}": "매우 높음 >{level}",
    "{label}: {percent} ({duration}/day)": "{label}: {percent} (하루 {duration})",
    "{hours} h {minutes} min": "{hours}시간 {minutes}분",
    "{minutes} min": "{minutes}분",
    "median": "중앙값",
    "Ambulatory glucose profile ({days:.1f} days, all days on one 24-h clock)": "외래 혈당 프로필({days:.1f}일, "
    "모든 날을 하루 24시간에 겹침)",
    "Daily glucose profiles": "일별 혈당 프로필",
    " ({which} days with readings; {missing} days had none)": " (측정이 있는 {which}일; {missing}일은 측정 없음)",
    "last {shown} of the {days}": "{days}일 중 최근 {shown}",
    "the {days}": "{days}",
    " (last {shown} of {days} days)": " ({days}일 중 최근 {shown}일)",
    # The HTML report's own words (document.render_html).
    "AGP report and meal responses": "AGP 보고서와 식후 혈당 반응",
    "Period": "기간",
    "Time in range": "목표 범위 시간",
    "Glucose in {unit}.": "혈당 단위: {unit}.",
    "Meal responses": "식후 혈당 반응",
    "report page {page}": "보고서 {page}쪽",
    # The meal pages (meal_pages.py) and their findings (glucose_model.meal_summary.describe_findings).
    "The meals that raised glucose the most": "혈당을 가장 많이 올린 식사",
    "measured": "측정",
    "predicted": "예측",
    "predicted 10-90 %": "예측 10-90%",
    "spike threshold": "급상승 기준",
    "Typical rise after each meal of the day": "끼니별 전형적인 식후 상승폭",
    "No meal had enough CGM around it to measure.": "측정할 만큼 CGM이 충분한 식사가 없었습니다.",
    "{slot}\n({meals} meals, {spikes} spikes)": "{slot}\n(식사 {meals}회, 급상승 {spikes}회)",
    "median rise ({unit})": "상승폭 중앙값 ({unit})",
    "Walk after the meal": "식후 걷기",
    "Not enough step data\nto compare meals with\nand without a walk.": "걸음 수 데이터가 부족해\n걷기 여부에 따라\n식사를 비교할 수 없습니다.",
    "walk\n({meals})": "걷기\n({meals})",
    "no walk\n({meals})": "걷지 않음\n({meals})",
    "(no description)": "(설명 없음)",
    "peak {peak}, rise {rise}": "최고 {peak}, 상승 {rise}",
    "largest factor: {factor} ({contribution} vs. reference)": "가장 큰 요인: {factor} (기준 대비 {contribution})",
    "minutes after the meal": "식후 경과 시간(분)",
    "Every logged meal": "기록된 모든 식사",
    "#": "#",
    "time": "시간",
    "meal": "식사",
    "carbs": "탄수화물",
    "before": "식전",
    "peak": "최고",
    "rise": "상승",
    "to peak": "최고까지",
    "spike": "급상승",
    "glucose in {unit}": "혈당 단위: {unit}",
    "not enough CGM around this meal": "이 식사 전후 CGM 부족",
    "yes": "예",
    "no": "아니요",
    "{logged} meals were logged; {measured} had enough CGM around them to measure the response.": "식사 "
    "{logged}회가 기록되었고, 그중 {measured}회는 전후 CGM이 충분해 반응을 측정할 수 있었습니다.",
    "{spikes} of {measured} measured meals took glucose above {threshold} and higher than before the meal "
    "(counted as a spike here).": "측정한 식사 {measured}회 중 {spikes}회에서 혈당이 {threshold} 초과로 "
    "오르고 식전보다 높아졌습니다(이 보고서에서는 급상승으로 셉니다).",
    "{slot} raised glucose the most: a typical rise of {rise} over {meals} meals ({spikes} above the "
    "threshold).": "{slot} 후 혈당이 가장 많이 올랐습니다: 식사 {meals}회의 전형적인 상승폭 {rise}(기준 초과 "
    "{spikes}회).",
    "{slot} raised it the least (typical rise {rise}).": "{slot} 후에는 가장 적게 올랐습니다(전형적인 "
    "상승폭 {rise}).",
    "For {meals} meals the response model predicted the curve from what was known before the meal; its peak "
    "was typically {error} away from the measured peak.": "식사 {meals}회는 반응 모델이 식사 전까지 알려진 "
    "정보로 곡선을 예측했습니다. 예측한 최고 혈당은 측정한 최고 혈당과 보통 {error} 차이가 났습니다.",
    "For the meals that raised glucose most, the model's explanation most often names {factor} as the factor "
    "that moved the predicted rise the most, up or down against its reference meal ({count} of {total} "
    "meals).": "혈당을 가장 많이 올린 식사들에서, 기준 식사 대비 예측 상승폭을 (올리든 내리든) 가장 크게 "
    "움직인 요인으로 모델의 설명이 가장 자주 꼽은 것은 {factor}입니다(식사 {total}회 중 {count}회).",
    "After the {walked} meals followed by a walk the typical rise was {walked_rise}, against {other_rise} "
    "without ({direction}); this is an observation, not a controlled comparison.": "식후에 걸은 식사 "
    "{walked}회의 전형적인 상승폭은 {walked_rise}, 걷지 않은 식사는 {other_rise}였습니다({direction}). "
    "관찰한 결과이며 통제된 비교가 아닙니다.",
    "There were too few meals with and without a walk after them to compare.": "식후에 걸은 식사와 걷지 "
    "않은 식사가 너무 적어 비교할 수 없습니다.",
    "No step counts were shared, so the effect of walks cannot be shown.": "걸음 수가 공유되지 않아 걷기의 "
    "효과를 보여 줄 수 없습니다.",
    # Notes on the predicted curves (glucose_model.meal_summary, the report command and route).
    "Predicted curves are not shown: no response model was given.": "예측 곡선은 표시하지 않습니다: 반응 "
    "모델이 주어지지 않았습니다.",
    "Predicted curves (orange, 10-90 % band) from the glucose response model version {version}.": "예측 "
    "곡선(주황색, 10-90% 범위)은 혈당 반응 모델 버전 {version}의 예측입니다.",
    "Predicted curves are not shown (--no-model).": "예측 곡선은 표시하지 않습니다(--no-model).",
    "Predicted curves are not shown: no response model at {model} (train and export one first).": "예측 "
    "곡선은 표시하지 않습니다: {model}에 반응 모델이 없습니다(먼저 학습하고 내보내세요).",
    "Predicted curves are not shown: {reason}.": "예측 곡선은 표시하지 않습니다: {reason}.",
}
# Words filled into the templates above (meal times, factor groups, directions, reasons): looked up whole,
# never formatted.
KO_WORDS: dict[str, str] = {
    "breakfast": "아침",
    "lunch": "점심",
    "dinner": "저녁",
    "snack": "간식",
    "Breakfast": "아침 식사",
    "Lunch": "점심 식사",
    "Dinner": "저녁 식사",
    "Snack": "간식",
    "smaller": "더 작음",
    "larger": "더 큼",
    # glucose_model.features.FACTOR_GROUPS and the personal history group
    "carbohydrate amount": "탄수화물 양",
    "meal composition": "식사 구성",
    "pre-meal glucose level and trend": "식전 혈당 수준과 추세",
    "activity": "신체 활동",
    "timing and sleep": "식사 시간과 수면",
    "insulin": "인슐린",
    "person": "개인 특성",
    "your past responses": "과거 식사에 대한 내 혈당 반응",
    "not requested": "요청하지 않음",
    "the response model is not loaded on this server": "이 서버에 반응 모델이 로드되어 있지 않음",
}
# Dates as each language writes them on the page.
DATE_FORMATS: dict[ReportLanguage, tuple[str, str, str]] = {
    "en": ("%d %b %Y", "%a %d %b", "%a %d %b %H:%M"),  # the period; a daily panel; a meal
    "ko": ("%Y-%m-%d", "%m-%d", "%m-%d %H:%M"),
}


class ReportLanguageError(RecordError):
    """A report language other than REPORT_LANGUAGES, or Korean without its font installed."""


def t(template: str, **values: Any) -> str:
    """`template` in the report's language, filled with `values`."""
    if _LANGUAGE.get() == "ko":
        template = KO.get(template, template)
    return template.format(**values)


def word(value: object) -> object:
    """A word filled into a template (a meal time, a factor group) in the report's language; other values
    (numbers, a person's text) as they are."""
    if _LANGUAGE.get() == "ko" and isinstance(value, str):
        return KO_WORDS.get(value, value)
    return value


def sentence(text: str) -> str:
    """A glucose_model.meal_summary.Sentence in the report's language (plain text as it is)."""
    template, values = getattr(text, "template", None), getattr(text, "values", None)
    if template is None or not isinstance(values, dict):
        return text
    return t(template, **{name: word(value) for name, value in values.items()})


def current_language() -> ReportLanguage:
    """The language of the report being drawn ("en" outside `report_language`)."""
    return _LANGUAGE.get()


def date_format(kind: Literal["period", "day", "meal"]) -> str:
    period, day, meal = DATE_FORMATS[_LANGUAGE.get()]
    return {"period": period, "day": day, "meal": meal}[kind]


@cache
def hangul_font_path() -> Path:
    spec = importlib.util.find_spec("koreanize_matplotlib")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(locations[0]) / "fonts" / f"{HANGUL_FONT}.ttf" if locations else None
    if path is None or not path.is_file():
        raise ReportLanguageError(
            "a Korean report needs the NanumGothic font: pip install koreanize-matplotlib (in the serve extra)"
        )
    for face in (path, path.with_name(f"{HANGUL_FONT}Bold.ttf")):  # titles are bold
        if face.is_file():
            font_manager.fontManager.addfont(str(face))
    return path


@contextmanager
def report_language(language: str) -> Iterator[dict[str, Any]]:
    """Draw in `language` inside the block; yields the matplotlib settings its fonts need."""
    if language not in REPORT_LANGUAGES:
        raise ReportLanguageError(
            f"report language {language!r}: choose one of {', '.join(REPORT_LANGUAGES)}"
        )
    settings: dict[str, Any] = {}
    if language == "ko":
        hangul_font_path()
        settings = {"font.family": [HANGUL_FONT, "DejaVu Sans"]}
    token = _LANGUAGE.set(language)
    try:
        yield settings
    finally:
        _LANGUAGE.reset(token)
