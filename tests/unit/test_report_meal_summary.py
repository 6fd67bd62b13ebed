"""The meal-response summary on synthetic records: slots, spikes, walks, findings, the meal log parser."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glucose_model.meal_summary import (
    MealLogError,
    MealSlot,
    PredictedCurve,
    meal_slot,
    read_meal_log,
    summarize_meals,
)
from glucose_model.records import ActivitySample, DiabetesKind, GlucoseSeries, Meal, Recording
from glucose_model.windows import MealWindow

TZ = timezone(timedelta(hours=1))
DAY0 = datetime(2024, 3, 4, tzinfo=TZ)  # a Monday, local midnight


def recording_with_meals(
    rises: dict[tuple[int, int], float],
    kind: DiabetesKind | None = DiabetesKind.TYPE2,
    walks: AbstractSet[int] = frozenset(),
) -> Recording:
    """Flat 100 mg/dL CGM with a triangular rise of the given size peaking 60 min after each meal.

    rises: {(day, hour): rise_mg_dl}; walks: indexes (in time order) of meals followed by 3000 steps.
    """
    minutes = np.arange(0, 4 * 1440, 5)  # 4 days of 5-min readings
    glucose = np.full(minutes.shape, 100.0)
    meals, activity = [], []
    for i, ((day, hour), rise) in enumerate(sorted(rises.items())):
        start = day * 1440 + hour * 60
        since = minutes - start
        glucose += np.where((since > 0) & (since <= 120), rise * (1 - np.abs(since - 60) / 60), 0.0)
        time = DAY0 + timedelta(minutes=start)
        meals.append(Meal(time=time, carbs_g=rise / 2, description=f"meal {i}"))
        steps = 3000.0 if i in walks else 100.0
        activity.append(ActivitySample(time + timedelta(minutes=10), 20.0, steps=steps))
    times = [DAY0 + timedelta(minutes=int(m)) for m in minutes]
    return Recording(
        person_id="p1",
        glucose=GlucoseSeries.from_datetimes(times, glucose),
        kind=kind,
        meals=tuple(meals),
        activity=tuple(activity) if walks else (),
    )


@pytest.mark.parametrize(
    ("hour", "minute", "slot"),
    [(7, 0, MealSlot.BREAKFAST), (10, 29, MealSlot.BREAKFAST), (10, 30, MealSlot.LUNCH), (16, 0, MealSlot.SNACK),
     (19, 0, MealSlot.DINNER), (23, 30, MealSlot.SNACK), (3, 0, MealSlot.SNACK)],
)  # fmt: skip
def test_meal_slot_by_local_clock(hour: int, minute: int, slot: MealSlot) -> None:
    assert meal_slot(datetime(2024, 1, 1, hour, minute, tzinfo=TZ)) is slot


def test_measured_peaks_rises_and_spikes() -> None:
    rec = recording_with_meals({(1, 8): 100.0, (1, 13): 40.0, (2, 8): 90.0, (2, 13): 30.0, (3, 8): 110.0})
    summary = summarize_meals(rec)
    assert len(summary.measured) == 5
    first = summary.outcomes[0]
    assert first.response is not None
    assert first.response.peak_mg_dl == pytest.approx(200.0)
    assert first.response.peak_rise_mg_dl == pytest.approx(100.0)
    assert first.response.time_to_peak_min == pytest.approx(60.0)
    # Type 2: a spike is a peak above 180 mg/dL that the meal caused.
    assert [o.spiked for o in summary.outcomes] == [True, False, True, False, True]
    assert summary.most_spiking(2)[0].meal.description == "meal 4"
    slots = {p.slot: p for p in summary.slots}
    assert slots[MealSlot.BREAKFAST].median_rise_mg_dl == pytest.approx(100.0)
    assert slots[MealSlot.BREAKFAST].spikes == 3
    assert "Breakfast raised glucose the most" in " ".join(summary.findings)
    assert "cannot be shown" in summary.findings[-1]  # no activity shared


def test_spike_threshold_follows_the_kind() -> None:
    rises = {(1, 8): 60.0, (2, 8): 60.0}
    assert not any(o.spiked for o in summarize_meals(recording_with_meals(rises)).outcomes)  # 160 < 180
    healthy = summarize_meals(recording_with_meals(rises, DiabetesKind.NONE))
    assert all(o.spiked for o in healthy.outcomes)  # 160 > 140
    assert healthy.spike_threshold_mg_dl == 140.0


def test_walk_effect_compares_meals_with_and_without_a_walk() -> None:
    rises = {
        (d, h): (30.0 if i % 2 else 80.0)
        for i, (d, h) in enumerate((d, h) for d in (1, 2, 3) for h in (8, 13))
    }
    walked = {i for i in range(6) if i % 2}
    summary = summarize_meals(recording_with_meals(rises, walks=walked))
    assert summary.walk is not None
    assert (summary.walk.walked_meals, summary.walk.other_meals) == (3, 3)
    assert summary.walk.median_rise_walked_mg_dl == pytest.approx(30.0)
    assert summary.walk.median_rise_other_mg_dl == pytest.approx(80.0)
    assert "smaller" in " ".join(summary.findings)


def test_meals_without_cgm_are_listed_with_a_reason() -> None:
    rec = recording_with_meals({(1, 8): 50.0})
    late = Meal(time=DAY0 + timedelta(days=10), carbs_g=20.0)
    rec = Recording(person_id="p1", glucose=rec.glucose, kind=rec.kind, meals=(*rec.meals, late))
    summary = summarize_meals(rec)
    missing = [o for o in summary.outcomes if o.response is None]
    assert len(missing) == 1 and missing[0].missing_reason
    assert summary.findings[0].startswith("2 meals were logged; 1 had enough CGM")


def test_predictor_curves_are_attached_and_summarised() -> None:
    rec = recording_with_meals({(1, 8): 100.0, (2, 8): 90.0})
    seen: list[MealWindow] = []

    def predict(window: MealWindow) -> PredictedCurve:
        seen.append(window)
        minute = np.arange(0, 181, 5, dtype=np.float64)
        curve = np.full(minute.shape, 100.0)
        curve[12] = 190.0  # predicted peak 190 at 60 min
        return PredictedCurve(
            minute, curve, curve - 10, curve + 10, 0.6, (("carbohydrate", 80.0), ("fat", -3.0))
        )

    summary = summarize_meals(rec, predict, "model v1")
    assert len(seen) == 2
    assert all(o.predicted is not None for o in summary.outcomes)
    text = " ".join(summary.findings)
    # |190 - 200| and |190 - 190|: median 5 mg/dL.
    assert "typically {mg_dl:5.0} away" in text
    assert "most often names carbohydrate as the factor" in text and "(2 of 2 meals)" in text


meal_rows = st.lists(
    st.tuples(
        st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
        st.floats(0, 500, allow_nan=False),
        st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='",'), max_size=30),
    ),
    max_size=20,
)


@given(meal_rows)
def test_meal_log_round_trips(rows: list[tuple[datetime, float, str]]) -> None:
    text = "time,carbs_g,description,fat_g\n" + "".join(f"{t.isoformat()},{c!r},{d},\n" for t, c, d in rows)
    meals = read_meal_log(text)
    assert [m.time for m in meals] == sorted(t for t, _, _ in rows)
    assert sorted(m.carbs_g for m in meals) == sorted(c for _, c, _ in rows)
    assert all(m.fat_g is None for m in meals)  # empty = unknown, never zero


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,carbs\n", "needs the columns time, carbs_g"),
        ("time,carbs_g\n2024-01-01T08:00:00,40\n", "line 2: .*no UTC offset"),
        ("time,carbs_g\n2024-01-01T08:00:00+01:00,-5\n", "line 2: .*non-negative"),
        ("time,carbs_g\n2024-01-01T08:00:00+01:00,lots\n", "line 2"),
    ],
)
def test_meal_log_errors_name_the_line_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(MealLogError, match=message):
        read_meal_log(text)


def test_response_model_predictions_through_the_impact_predictor() -> None:
    """The adapter builds each meal's context from what was known before it and runs the real predictor
    (here over a stand-in model whose rise is 1 mg/dL per gram of carbohydrate, peaking at 60 min)."""
    import json

    from test_glucose_impact import metadata as stand_in_metadata

    from glucose_model.features import CURVE_MINUTES, FEATURE_INDEX, FEATURE_NAMES
    from glucose_model.impact import ResponsePredictor
    from glucose_model.meal_summary import impact_predictor

    metadata = {**stand_in_metadata(), "version": json.dumps("stand-in")}
    shape = np.maximum(0.0, 1 - np.abs(CURVE_MINUTES - 60) / 60).astype(np.float32)  # (37,)
    batches: list[int] = []

    def infer(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        carbs = next(v for k, v in feed.items() if v.ndim == 2 and v.shape[1] == len(FEATURE_NAMES))[
            :, FEATURE_INDEX["carbs_g"]
        ]
        batches.append(carbs.shape[0])
        rise = carbs[:, None, None] * shape[None, :, None] * np.array([0.8, 1.0, 1.2], np.float32)
        n = carbs.shape[0]
        return {"rise_mg_dl": rise, "spike_probability": np.full(n, 0.5, np.float32),
                "spike_logit_per_mg_dl": np.full(n, 0.01, np.float32)}  # fmt: skip

    rec = recording_with_meals({(1, 8): 140.0, (2, 8): 60.0})  # carbs_g = rise / 2: 70 g and 30 g
    summary = summarize_meals(rec, impact_predictor(ResponsePredictor(metadata, infer), rec), "stand-in")
    assert len(batches) == 2  # one batched model call per meal
    first, second = (o.predicted for o in summary.outcomes)
    assert first is not None and second is not None
    baseline = summary.outcomes[0].response.baseline_mg_dl  # type: ignore[union-attr]
    assert float(np.max(first.glucose_mg_dl)) == pytest.approx(baseline + 70.0, abs=0.5)
    assert float(np.max(second.glucose_mg_dl)) - float(second.glucose_mg_dl[0]) == pytest.approx(
        30.0, abs=0.5
    )
    # The only input the stand-in reads: 70 g against the reference meal's 50 g explains +20 mg/dL of peak rise.
    assert first.factors[0] == ("carbohydrate amount", pytest.approx(20.0, abs=1e-3))
    assert "typically {mg_dl:" in " ".join(summary.findings)


def test_heart_rate_alone_is_not_read_as_walks() -> None:
    rec = recording_with_meals({(1, 8): 80.0, (2, 8): 80.0})
    heart_only = tuple(
        ActivitySample(m.time + timedelta(minutes=10), 20.0, heart_rate_bpm=110.0) for m in rec.meals
    )
    summary = summarize_meals(Recording(person_id="p1", glucose=rec.glucose, kind=rec.kind, meals=rec.meals,
                                        activity=heart_only))  # fmt: skip
    assert summary.walk is None
    assert all(o.walked_after is None for o in summary.outcomes)
    assert summary.findings[-1] == "No step counts were shared, so the effect of walks cannot be shown."


def test_dishes_logged_together_are_one_spike_panel() -> None:
    """Two photos of one meal 4 s apart (as D1NAMO logs courses) share one curve: listed once."""
    rec = recording_with_meals({(1, 8): 100.0, (1, 13): 40.0, (2, 8): 90.0})
    second_dish = Meal(rec.meals[0].time + timedelta(seconds=4), carbs_g=10.0, description="bread")
    rec = replace(rec, meals=tuple(sorted((*rec.meals, second_dish), key=lambda m: m.time)))
    summary = summarize_meals(rec)
    assert len(summary.measured) == 4
    top = summary.most_spiking(3)
    assert [o.meal.description for o in top] == ["meal 0", "meal 2", "meal 1"]
