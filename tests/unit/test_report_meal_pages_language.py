"""The meal pages in the reader's language: a Korean report's findings, labels, legends and table are Korean
(every sentence through labels.KO, drawn with the Hangul font); English stays as it was."""

from __future__ import annotations

import re
import warnings
from datetime import datetime, timedelta, timezone

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from glucose_model.agp import build_profile
from glucose_model.meal_summary import MODEL_NOTE, MealSummary, PredictedCurve, Sentence, summarize_meals
from glucose_model.records import ActivitySample, DiabetesKind, GlucoseSeries, Meal, Recording
from glucose_model.report import DisplayUnit, ReportFormat, render_report
from glucose_model.report.agp_page import PAGE_SIZE_IN
from glucose_model.report.document import plan_pages
from glucose_model.report.labels import KO, KO_WORDS, report_language
from glucose_model.windows import MealWindow

pytest.importorskip("koreanize_matplotlib", reason="the Hangul font comes with the serve extra")

TZ = timezone(timedelta(hours=9))
DAY0 = datetime(2024, 3, 4, tzinfo=TZ)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
DESCRIPTIONS = ("비빔밥", "김밥", "떡볶이")
# What may stay Latin on a Korean page: units, the CGM acronym, the percent sign's neighbours.
LATIN_KEPT = re.compile(r"mg/dL|mmol/L|CGM|TIR")


def _recording() -> Recording:
    """Flat 100 mg/dL with a 60-min triangular rise after breakfast and lunch on three days; every other
    meal followed by a walk; one late meal with no CGM around it."""
    minutes = np.arange(0, 5 * 1440, 5)
    glucose = np.full(minutes.shape, 100.0)
    meals, activity = [], []
    for i, (day, hour) in enumerate((d, h) for d in (1, 2, 3) for h in (8, 13)):
        start = day * 1440 + hour * 60
        since = minutes - start
        rise = 30.0 if i % 2 else 95.0
        glucose += np.where((since > 0) & (since <= 120), rise * (1 - np.abs(since - 60) / 60), 0.0)
        time = DAY0 + timedelta(minutes=start)
        meals.append(Meal(time=time, carbs_g=rise / 2, description=DESCRIPTIONS[i % 3]))
        activity.append(ActivitySample(time + timedelta(minutes=10), 20.0, steps=3000.0 if i % 2 else 100.0))
    meals.append(Meal(time=DAY0 + timedelta(days=9), carbs_g=20.0, description="떡"))
    times = [DAY0 + timedelta(minutes=int(m)) for m in minutes]
    return Recording(
        person_id="p1",
        glucose=GlucoseSeries.from_datetimes(times, glucose),
        kind=DiabetesKind.TYPE2,
        meals=tuple(meals),
        activity=tuple(activity),
    )


def _predict(window: MealWindow) -> PredictedCurve:
    minute = np.arange(0, 181, 5, dtype=np.float64)
    curve = np.full(minute.shape, 100.0)
    curve[12] = 185.0
    return PredictedCurve(minute, curve, curve - 10, curve + 10, 0.6, (("carbohydrate amount", 60.0),))


def _summary() -> MealSummary:
    rec = _recording()
    return summarize_meals(rec, _predict, Sentence(MODEL_NOTE, version="1.0"))


def _meal_page_texts(summary: MealSummary, language: str) -> dict[str, list[str]]:
    """Every text drawn on the meal pages (titles, labels, ticks, legends, table cells), page by page."""
    profile = build_profile(_recording().glucose)
    texts: dict[str, list[str]] = {}
    with report_language(language) as fonts, matplotlib.rc_context({"text.parse_math": False, **fonts}):
        for name, draw in plan_pages(profile, summary, DisplayUnit.MMOL_L, ""):
            if name == "agp":
                continue
            fig = Figure(figsize=PAGE_SIZE_IN)
            FigureCanvasAgg(fig)
            draw(fig)
            fig.canvas.draw()  # tick labels are filled in at draw time
            texts[name] = [a.get_text() for a in fig.findobj(Text) if a.get_text().strip()]
    return texts


def test_every_meal_sentence_has_a_korean_template() -> None:
    summary = _summary()
    sentences = [*summary.findings, summary.model_note]
    assert len(summary.findings) >= 6  # logged, spikes, most, least, predictions, factor, walks
    for line in sentences:
        assert isinstance(line, Sentence) and line.template in KO, line
        # Words (not numbers, versions or {mg_dl:...} markers) are looked up whole.
        words = [v for v in line.values.values() if isinstance(v, str) and re.fullmatch(r"[A-Za-z -]+", v)]
        assert all(w in KO_WORDS for w in words), (line, words)


def test_a_korean_meal_page_has_no_english_left() -> None:
    summary = _summary()
    korean = _meal_page_texts(summary, "ko")
    assert set(korean) == {"meals", "meal_table_1"}
    english_keys = {key for key, value in KO.items() if key != value}
    for page, texts in korean.items():
        assert any(HANGUL.search(text) for text in texts), page
        for text in texts:
            assert text not in english_keys, (page, text)
            latin = LATIN_KEPT.sub("", text)
            for description in DESCRIPTIONS:
                latin = latin.replace(description, "")
            assert not re.search(r"[A-Za-z]{2,}", latin), (page, text)
    english = _meal_page_texts(summary, "en")
    assert "Meal responses" in english["meals"] and "Every logged meal" in english["meal_table_1"]
    assert any("Breakfast raised glucose the most" in text for text in english["meals"])


def test_a_korean_meal_page_draws_every_glyph() -> None:
    summary = _summary()
    profile = build_profile(_recording().glucose)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph missing from the font is a warning: fail on it
        report = render_report(profile, summary, DisplayUnit.MMOL_L, "홍길동", ReportFormat.PNG, "ko")
    assert report.page_names == ("agp", "meals", "meal_table_1")
    printed = report.printed["meals"]
    assert printed["findings"].startswith("식사 7회가 기록되었고, 그중 6회는")
    assert "아침 식사 후 혈당이 가장 많이 올랐습니다" in printed["findings"]
    assert "탄수화물 양" in printed["findings"] and "{" not in printed["findings"]
    assert printed["model_note"] == "예측 곡선(주황색, 10-90% 범위)은 혈당 반응 모델 버전 1.0의 예측입니다."
    html = render_report(profile, summary, DisplayUnit.MMOL_L, "", ReportFormat.HTML, "ko").pages[0].decode()
    assert "식사 7회가 기록되었고" in html and "meals were logged" not in html
