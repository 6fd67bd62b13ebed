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
}
# Dates as each language writes them on the page.
DATE_FORMATS: dict[ReportLanguage, tuple[str, str]] = {
    "en": ("%d %b %Y", "%a %d %b"),  # the period; a daily panel
    "ko": ("%Y-%m-%d", "%m-%d"),
}


class ReportLanguageError(RecordError):
    """A report language other than REPORT_LANGUAGES, or Korean without its font installed."""


def t(template: str, **values: Any) -> str:
    """`template` in the report's language, filled with `values`."""
    if _LANGUAGE.get() == "ko":
        template = KO.get(template, template)
    return template.format(**values)


def current_language() -> ReportLanguage:
    """The language of the report being drawn ("en" outside `report_language`)."""
    return _LANGUAGE.get()


def date_format(kind: Literal["period", "day"]) -> str:
    period, day = DATE_FORMATS[_LANGUAGE.get()]
    return period if kind == "period" else day


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
