"""ResponsePredictor over a stand-in model function: one batched call, exact explanation, what-ifs, bands."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from glucose_model.explanation import N_COALITIONS, reference_meal_metadata
from glucose_model.features import (
    CURVE_MINUTES,
    FEATURE_INDEX,
    FEATURE_NAMES,
    INPUT_FEATURES,
    QUANTILES,
    MealContext,
    metadata_inputs,
)
from glucose_model.impact import (
    OUTPUT_RISE,
    OUTPUT_SPIKE,
    OUTPUT_SPIKE_SLOPE,
    PastMeal,
    ResponseMetadataError,
    ResponsePredictor,
    iauc_2h,
)
from glucose_model.metrics import IAUC_WINDOW_MIN, positive_incremental_auc
from glucose_model.records import DiabetesKind, GlucoseSeries, Meal
from mealimpact.model_repository.metadata import ResponseMetadata

TZ = timezone(timedelta(hours=1))
MEAL_TIME = datetime(2025, 2, 3, 13, 0, tzinfo=TZ)
SHAPE = np.sin(np.linspace(0, np.pi, CURVE_MINUTES.shape[0])) ** 2  # (37,)


def metadata() -> dict[str, str]:
    """A features-based population model's metadata_props, written by the repository's one schema."""
    return ResponseMetadata(
        name="glucose_response",
        version="7",
        weights_sha256="0" * 64,
        inputs=metadata_inputs(),
        outputs={},
        curve_minutes=CURVE_MINUTES.tolist(),
        quantiles=list(QUANTILES),
        feature_names=list(FEATURE_NAMES),
        reference_meal=reference_meal_metadata(),
    ).to_props()


class StandInModel:
    """A known, non-additive function of the features, counting its calls."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, feed: dict[str, npt.NDArray[np.float32]]) -> dict[str, npt.NDArray[np.float32]]:
        f = feed[INPUT_FEATURES].astype(np.float64)
        self.batches.append(f.shape[0])
        col = {name: f[:, FEATURE_INDEX[name]] for name in FEATURE_NAMES}
        size = np.maximum(
            col["carbs_g"] * (1.0 + col["glycemic_index"] / 100.0)
            - 2.0 * col["fiber_g"]
            - 1.5 * col["planned_walk_min"],
            0.0,
        )
        size = size * np.exp(-0.05 * col["rapid_insulin_units"]) + 0.1 * (
            col["baseline_glucose_mg_dl"] - 100.0
        )
        p50 = size[:, None] * SHAPE[None, :]  # (B, 37)
        rise = np.stack([p50 - 15.0, p50, p50 + 20.0], axis=2)
        margin = (col["baseline_glucose_mg_dl"] + p50.max(axis=1) - col["spike_threshold_mg_dl"]) / 20.0
        return {
            OUTPUT_RISE: rise.astype(np.float32),
            OUTPUT_SPIKE: (1 / (1 + np.exp(-margin)))[:, None].astype(np.float32),
            OUTPUT_SPIKE_SLOPE: np.full((f.shape[0], 1), 1 / 20.0, np.float32),
        }


def flat_cgm(end: datetime, level_mg_dl: float, n: int = 36) -> GlucoseSeries:
    times = [end - timedelta(minutes=5 * (n - 1 - i)) for i in range(n)]
    return GlucoseSeries.from_datetimes(times, [level_mg_dl] * n)


def context(
    carbs_g: float = 80.0, carbs_p10_g: float | None = None, carbs_p90_g: float | None = None
) -> MealContext:
    return MealContext(
        Meal(
            MEAL_TIME,
            carbs_g,
            glycemic_index=70.0,
            fiber_g=2.0,
            carbs_p10_g=carbs_p10_g,
            carbs_p90_g=carbs_p90_g,
        ),
        flat_cgm(MEAL_TIME, 130.0),
        kind=DiabetesKind.TYPE2,
        sleep_hours=6.0,
    )


def test_everything_for_one_request_is_one_model_call() -> None:
    model = StandInModel()
    ResponsePredictor(metadata(), model).impact(context())
    # 64 coalitions + 3 what-ifs + 1: the walk was not given, so "walk 0 min" is run beside "walk 15".
    assert model.batches == [N_COALITIONS + 4]


def test_contributions_sum_to_prediction_minus_reference() -> None:
    result = ResponsePredictor(metadata(), StandInModel()).impact(context())
    e = result.explanation
    peak_sum = sum(c.peak_rise_mg_dl for c in e.contributions)
    iauc_sum = sum(c.iauc_2h_mg_dl_min for c in e.contributions)
    assert peak_sum == pytest.approx(e.predicted_peak_rise_mg_dl - e.reference_peak_rise_mg_dl, abs=1e-6)
    assert iauc_sum == pytest.approx(e.predicted_iauc_2h_mg_dl_min - e.reference_iauc_2h_mg_dl_min, rel=1e-9)
    assert e.predicted_peak_rise_mg_dl == pytest.approx(result.peak.rise_mg_dl)
    by_group = {c.group: c.peak_rise_mg_dl for c in e.contributions}
    assert by_group["carbohydrate amount"] > 0  # 80 g against the 50 g reference
    # Nothing was said about insulin or activity: those stay unknown in the reference too.
    assert by_group["insulin"] == pytest.approx(0.0, abs=1e-9)
    assert by_group["activity"] == pytest.approx(0.0, abs=1e-9)


def test_curve_peak_and_spike_are_in_absolute_glucose() -> None:
    result = ResponsePredictor(metadata(), StandInModel()).impact(context())
    assert result.curve.glucose_mg_dl[0] == pytest.approx(130.0)
    assert result.peak.glucose_mg_dl == pytest.approx(130.0 + result.peak.rise_mg_dl)
    assert result.curve.minute[result.curve.glucose_mg_dl.argmax()] == result.peak.minute
    assert (result.curve.low_mg_dl < result.curve.glucose_mg_dl).all()
    assert result.spike.threshold_mg_dl == 180.0
    assert result.model_version == "7"
    json.dumps(result.as_dict())


def test_what_ifs_move_the_peak_the_right_way_and_food_order_and_gi_are_not_available() -> None:
    result = ResponsePredictor(metadata(), StandInModel()).impact(context())
    by_name = {w.name: w for w in result.what_if}
    for name in ("half_portion", "higher_fiber", "walk_15_min"):
        assert by_name[name].available
        assert by_name[name].peak_glucose_mg_dl < result.peak.glucose_mg_dl, name  # type: ignore[operator]
        assert by_name[name].spike_probability <= result.spike.probability + 1e-9  # type: ignore[operator]
    # Not answerable: no input for the order of foods; GI seen only in simulated meals (model card).
    for name in ("protein_or_vegetables_first", "lower_gi_swap"):
        assert not by_name[name].available, name
        assert by_name[name].peak_glucose_mg_dl is None
        assert "not available" in by_name[name].description


def test_photo_carb_interval_widens_the_band_in_the_same_call() -> None:
    model = StandInModel()
    predictor = ResponsePredictor(metadata(), model)
    plain = predictor.impact(context())
    photo = predictor.impact(context(carbs_p10_g=50.0, carbs_p90_g=120.0))
    assert model.batches[-1] == N_COALITIONS + 4 + 2
    np.testing.assert_allclose(photo.curve.glucose_mg_dl, plain.curve.glucose_mg_dl, atol=1e-4)
    assert (photo.curve.high_mg_dl >= plain.curve.high_mg_dl - 1e-6).all()
    assert photo.curve.high_mg_dl.max() > plain.curve.high_mg_dl.max() + 10
    assert photo.curve.low_mg_dl.min() <= plain.curve.low_mg_dl.min()


def test_history_calibrates_the_curve_of_a_person_who_responds_more() -> None:
    model = StandInModel()
    predictor = ResponsePredictor(metadata(), model)
    history = []
    for day in range(1, 13):
        t = MEAL_TIME - timedelta(days=day)
        past = MealContext(
            Meal(t, 40.0 + 5 * day, glycemic_index=70.0, fiber_g=2.0), flat_cgm(t, 130.0), DiabetesKind.TYPE2
        )
        predicted = model({INPUT_FEATURES: _features_of(past)})[OUTPUT_RISE][0, :, 1]
        after = [t + timedelta(minutes=5 * i) for i in range(1, 37)]
        history.append(PastMeal(past, GlucoseSeries.from_datetimes(after, 130.0 + 1.8 * predicted[1:])))
    plain = predictor.impact(context())
    calibrated = predictor.impact(context(), history)
    assert model.batches[-1] == N_COALITIONS + 4 + 12
    assert calibrated.calibration is not None and calibrated.calibration.applied
    assert calibrated.peak.rise_mg_dl > 1.3 * plain.peak.rise_mg_dl
    assert calibrated.spike.probability > plain.spike.probability
    e = calibrated.explanation
    assert sum(c.peak_rise_mg_dl for c in e.contributions) == pytest.approx(
        e.predicted_peak_rise_mg_dl - e.reference_peak_rise_mg_dl, abs=1e-6
    )


def _features_of(ctx: MealContext) -> npt.NDArray[np.float32]:
    from glucose_model.features import build_inputs

    return build_inputs([ctx]).features


def test_a_model_from_another_feature_version_is_refused_at_start() -> None:
    stale = metadata() | {"feature_names": json.dumps(list(FEATURE_NAMES)[:-1])}
    with pytest.raises(ResponseMetadataError, match="feature_names"):
        ResponsePredictor(stale, StandInModel())
    with pytest.raises(ResponseMetadataError, match="reference_meal"):
        ResponsePredictor({k: v for k, v in metadata().items() if k != "reference_meal"}, StandInModel())


def test_a_what_if_on_an_input_not_given_is_the_effect_of_the_change_alone() -> None:
    result = ResponsePredictor(metadata(), StandInModel()).impact(context())
    walk = next(w for w in result.what_if if w.name == "walk_15_min")
    # The stand-in lowers the size by 1.5 per walk minute; the peak of SHAPE is 1.
    assert walk.peak_glucose_mg_dl == pytest.approx(result.peak.glucose_mg_dl - 1.5 * 15.0, abs=1e-3)


@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.just(CURVE_MINUTES.shape[0])),
        elements=st.floats(-80.0, 150.0),
    )
)
def test_iauc_2h_is_the_row_by_row_area(rise_mg_dl: npt.NDArray[np.float64]) -> None:
    # The batched area must be the scalar definition applied to each curve, crossings included.
    within = CURVE_MINUTES <= IAUC_WINDOW_MIN
    t = CURVE_MINUTES[within].astype(np.float64)
    expected = [positive_incremental_auc(t, row[within], 0.0) for row in rise_mg_dl]
    np.testing.assert_allclose(iauc_2h(rise_mg_dl), expected, rtol=1e-12, atol=1e-9)
