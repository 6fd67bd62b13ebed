"""The AGP page in the reader's language: Korean words and dates with a Hangul font, English unchanged."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from glucose_model.agp import build_profile
from glucose_model.records import GlucoseSeries
from glucose_model.report import DisplayUnit, ReportFormat, render_report
from glucose_model.report.labels import KO, ReportLanguageError, report_language, t

pytest.importorskip("koreanize_matplotlib", reason="the Hangul font comes with the serve extra")


def _three_days() -> GlucoseSeries:
    n = 3 * 288
    minutes = np.arange(n) * 5 % 1440
    times = 1_700_006_400 + np.arange(n, dtype=np.int64) * 300
    return GlucoseSeries(times, np.full(n, 540, np.int16), 150.0 - 50.0 * np.cos(2 * np.pi * minutes / 1440))


def test_every_korean_template_takes_the_same_values() -> None:
    for english, korean in KO.items():
        fields = sorted(set(re.findall(r"{(\w+)", english)))
        assert fields == sorted(set(re.findall(r"{(\w+)", korean))), english


def test_words_follow_the_report_language() -> None:
    assert t("Time below {level}", level="70 mg/dL") == "Time below 70 mg/dL"
    with report_language("ko"):
        assert t("Time below {level}", level="70 mg/dL") == "70 mg/dL 미만 시간"
    assert t("median") == "median"  # back to English outside
    with pytest.raises(ReportLanguageError, match="choose one of en, ko"), report_language("fr"):
        pass


def test_a_korean_agp_page_draws_every_glyph() -> None:
    profile = build_profile(_three_days())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph missing from the font is a warning: fail on it
        korean = render_report(profile, None, DisplayUnit.MMOL_L, "홍길동", ReportFormat.PNG, language="ko")
    printed = korean.printed["agp"]
    assert printed["period"] == "2023-11-15 - 2023-11-18 (3.0일)"
    assert printed["data_sufficiency_note"].startswith("이 보고서는 3.0일을 다룹니다.")
    assert printed["target_time_above_180_percent"].endswith("(미달성)")
    english = render_report(profile, None, DisplayUnit.MMOL_L, "", ReportFormat.PNG).printed["agp"]
    assert english["period"] == "15 Nov 2023 - 18 Nov 2023 (3.0 days)"
    assert english["mean_glucose"] == printed["mean_glucose"]  # the numbers do not change with the words


def test_the_html_report_words_follow_the_report_language() -> None:
    profile = build_profile(_three_days())
    korean = render_report(profile, None, DisplayUnit.MMOL_L, "", ReportFormat.HTML, language="ko")
    page = korean.pages[0].decode("utf-8")
    assert '<html lang="ko">' in page and "<h1>AGP 보고서와 식후 혈당 반응</h1>" in page
    for english in ("Period", "Sensor active", "Mean glucose", "Time in range", "Glucose in"):
        assert f">{english}" not in page, english
    assert "<th>평균 혈당</th>" in page and "혈당 단위: mmol/L." in page
    english = render_report(profile, None, DisplayUnit.MMOL_L, "", ReportFormat.HTML).pages[0].decode()
    assert '<html lang="en">' in english and "<th>Mean glucose</th>" in english
