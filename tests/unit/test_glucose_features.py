"""Feature building for the response model: units, masks, named errors, and the window round trip."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glucose_model.features import (
    CGM_POINTS,
    FEATURE_INDEX,
    FEATURES,
    N_FEATURES,
    MealContext,
    build_inputs,
    context_from_window,
    metadata_inputs,
)
from glucose_model.records import (
    ActivitySample,
    DiabetesKind,
    GlucoseSeries,
    InsufficientCgmError,
    InsulinDose,
    InsulinKind,
    Meal,
    RecordError,
    Recording,
)
from glucose_model.windows import all_meal_windows

TZ = timezone(timedelta(hours=2))
MEAL_TIME = datetime(2025, 5, 6, 12, 0, tzinfo=TZ)


def cgm_before(meal_time: datetime, values: list[float] | np.ndarray, step_min: int = 5) -> GlucoseSeries:
    """Readings every `step_min` ending at the meal, oldest first."""
    n = len(values)
    times = [meal_time - timedelta(minutes=step_min * (n - 1 - i)) for i in range(n)]
    return GlucoseSeries.from_datetimes(times, values)


def value(row: np.ndarray, name: str) -> float:
    return float(row[FEATURE_INDEX[name]])


def test_every_feature_has_a_unit_and_the_metadata_lists_them_in_order() -> None:
    columns = metadata_inputs()["features"]["columns"]  # type: ignore[index]
    assert [c["name"] for c in columns] == [f.name for f in FEATURES]
    assert all(f.unit and f.scale > 0 for f in FEATURES)
    assert len(FEATURES) == N_FEATURES


def test_cgm_is_relative_to_the_mean_of_the_last_30_minutes() -> None:
    values = np.linspace(100.0, 135.0, CGM_POINTS)  # rising 35 mg/dL over 3 h
    inputs = build_inputs([MealContext(Meal(MEAL_TIME, 40.0), cgm_before(MEAL_TIME, values))])
    baseline = float(values[-7:].mean())  # -30..0 min
    assert value(inputs.features[0], "baseline_glucose_mg_dl") == pytest.approx(baseline, abs=1e-3)
    assert inputs.cgm_rel_mg_dl[0, -1] == pytest.approx(values[-1] - baseline, abs=1e-3)
    assert inputs.cgm_mask[0].sum() == CGM_POINTS
    assert value(inputs.features[0], "trend_mg_dl_per_min") == pytest.approx(35.0 / 180.0, rel=1e-3)


def test_missing_optional_inputs_are_marked_unknown_not_zero() -> None:
    meal = Meal(MEAL_TIME, 60.0, fat_g=12.0)
    row = build_inputs([MealContext(meal, cgm_before(MEAL_TIME, [120.0] * 20))]).features[0]
    assert value(row, "fat_g") == 12.0 and value(row, "fat_known") == 1.0
    for known in (
        "sugars_known",
        "fiber_known",
        "protein_known",
        "glycemic_index_known",
        "steps_known",
        "heart_rate_known",
        "planned_walk_known",
        "sleep_known",
        "insulin_known",
        "kind_known",
        "last_meal_known",
        "carbs_spread_known",
    ):
        assert value(row, known) == 0.0, known
    assert value(row, "spike_threshold_mg_dl") == 140.0  # unknown kind: the lower threshold


def test_the_known_inputs_land_in_their_columns() -> None:
    meal = Meal(MEAL_TIME, 60.0, carbs_p10_g=40.0, carbs_p90_g=90.0)
    context = MealContext(
        meal,
        cgm_before(MEAL_TIME, [150.0] * 24),
        kind=DiabetesKind.TYPE1,
        activity=(
            ActivitySample(MEAL_TIME - timedelta(minutes=30), 30.0, steps=1200.0, heart_rate_bpm=90.0),
        ),
        planned_walk_min=20.0,
        insulin=(
            InsulinDose(MEAL_TIME - timedelta(minutes=10), 6.0),
            InsulinDose(MEAL_TIME - timedelta(hours=5), 4.0),
            InsulinDose(MEAL_TIME, 20.0, InsulinKind.BASAL),
        ),
        sleep_hours=6.5,
        previous_meals=(Meal(MEAL_TIME - timedelta(hours=3), 30.0),),
    )
    row = build_inputs([context]).features[0]
    assert value(row, "carbs_spread_g") == 25.0 and value(row, "carbs_spread_known") == 1.0
    assert value(row, "steps_hour_before") == 1200.0 and value(row, "heart_rate_bpm_hour_before") == 90.0
    assert value(row, "rapid_insulin_units") == 6.0  # the earlier bolus and the basal do not count
    assert value(row, "minutes_since_last_meal") == 180.0 and value(row, "last_meal_carbs_g") == 30.0
    assert value(row, "kind_type1") == 1.0 and value(row, "spike_threshold_mg_dl") == 180.0
    assert value(row, "time_of_day_sin") == pytest.approx(0.0, abs=1e-6)  # local noon
    assert value(row, "time_of_day_cos") == pytest.approx(-1.0)


def test_insulin_records_without_a_bolus_near_the_meal_mean_none_taken() -> None:
    context = MealContext(
        Meal(MEAL_TIME, 50.0),
        cgm_before(MEAL_TIME, [130.0] * 13),
        insulin=(InsulinDose(MEAL_TIME - timedelta(hours=4), 5.0),),
    )
    row = build_inputs([context]).features[0]
    assert value(row, "rapid_insulin_units") == 0.0 and value(row, "insulin_known") == 1.0


def test_a_15_min_sensor_is_interpolated_onto_the_grid() -> None:
    context = MealContext(
        Meal(MEAL_TIME, 50.0), cgm_before(MEAL_TIME, [110.0 + i for i in range(13)], step_min=15)
    )
    inputs = build_inputs([context])
    assert inputs.cgm_mask[0].sum() == CGM_POINTS


def test_too_little_cgm_in_the_last_hour_is_a_named_error() -> None:
    sparse = cgm_before(MEAL_TIME - timedelta(minutes=90), [120.0] * 10)  # ends 90 min before the meal
    with pytest.raises(InsufficientCgmError, match="hour before the meal"):
        build_inputs([MealContext(Meal(MEAL_TIME, 50.0), sparse)])


def test_bad_context_values_are_refused() -> None:
    with pytest.raises(RecordError, match="planned walk"):
        MealContext(Meal(MEAL_TIME, 50.0), cgm_before(MEAL_TIME, [120.0] * 13), planned_walk_min=-5.0)
    with pytest.raises(RecordError, match="carbs_p90_g"):
        build_inputs(
            [
                MealContext(
                    Meal(MEAL_TIME, 50.0, carbs_p10_g=60.0, carbs_p90_g=40.0),
                    cgm_before(MEAL_TIME, [120.0] * 13),
                )
            ]
        )


def test_a_recorded_meal_becomes_the_request_the_app_would_send() -> None:
    start = MEAL_TIME - timedelta(hours=4)
    times = [start + timedelta(minutes=5 * i) for i in range(12 * 8)]
    glucose = GlucoseSeries.from_datetimes(times, 100.0 + 20.0 * np.sin(np.arange(len(times)) / 9.0))
    recording = Recording(
        "p1",
        glucose,
        DiabetesKind.TYPE2,
        meals=(Meal(MEAL_TIME, 70.0),),
        activity=(ActivitySample(MEAL_TIME + timedelta(minutes=15), 15.0, steps=1500.0),),
        insulin=(InsulinDose(MEAL_TIME - timedelta(hours=2), 3.0),),
    )
    window = next(all_meal_windows(recording))
    context = context_from_window(window, insulin_recorded=True)
    direct = build_inputs([MealContext(Meal(MEAL_TIME, 70.0), glucose, DiabetesKind.TYPE2)])
    from_window = build_inputs([context])
    np.testing.assert_allclose(from_window.cgm_rel_mg_dl, direct.cgm_rel_mg_dl, atol=1e-4)
    assert context.planned_walk_min == 15.0  # 100 steps/min after the meal is a walk
    assert max(t for t in context.glucose.times_utc_s) <= int(MEAL_TIME.timestamp())  # nothing after
    assert value(from_window.features[0], "rapid_insulin_units") == 0.0
    assert value(from_window.features[0], "insulin_known") == 1.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(40.0, 400.0)), min_size=13, max_size=40),
    st.floats(0.0, 300.0),
    st.sampled_from([None, *DiabetesKind]),
)
def test_any_valid_trace_gives_finite_inputs_or_the_named_error(
    values: list[float | None], carbs_g: float, kind: DiabetesKind | None
) -> None:
    readings = [(i, v) for i, v in enumerate(values) if v is not None]
    if not readings:
        return
    n = len(values)
    times = [MEAL_TIME - timedelta(minutes=5 * (n - 1 - i)) for i, _ in readings]
    series = GlucoseSeries.from_datetimes(times, [v for _, v in readings])
    try:
        inputs = build_inputs([MealContext(Meal(MEAL_TIME, carbs_g), series, kind)])
    except InsufficientCgmError:
        return
    assert np.isfinite(inputs.cgm_rel_mg_dl).all() and np.isfinite(inputs.features).all()
    assert (inputs.cgm_rel_mg_dl[inputs.cgm_mask == 0] == 0).all()
    assert set(np.unique(inputs.cgm_mask)) <= {0.0, 1.0}
