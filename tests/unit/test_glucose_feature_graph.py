"""feature_graph.FeatureGraph (torch, the raw front of the response graph) computes what
features.build_inputs computes, from response_inputs' raw arrays; NaN-safe where the API would refuse."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import torch

from glucose_model.feature_graph import FeatureGraph
from glucose_model.features import CGM_POINTS, FEATURE_INDEX, FEATURE_NAMES, MealContext, build_inputs
from glucose_model.records import ActivitySample, DiabetesKind, GlucoseSeries, InsulinDose, InsulinKind, Meal
from glucose_model.response_inputs import CONTEXT_INDEX, MEAL_INDEX, N_CONTEXT, N_MEAL, raw_inputs

MEAL_TIME = datetime(2024, 3, 9, 7, 47, 20, tzinfo=timezone(timedelta(hours=-5)))


def _context(
    values: np.ndarray, meal: Meal, kind: DiabetesKind | None = None, **extra: object
) -> MealContext:
    keep = np.isfinite(values)
    times = [meal.time - timedelta(minutes=5 * (CGM_POINTS - 1 - i)) for i in range(CGM_POINTS)]
    series = GlucoseSeries.from_datetimes(
        [t for t, k in zip(times, keep, strict=True) if k], values[keep], "t"
    )
    return MealContext(meal=meal, glucose=series, kind=kind, **extra)  # type: ignore[arg-type]


def _graph(inputs: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    feed = inputs.as_feed()  # type: ignore[attr-defined]
    with torch.no_grad():
        out = FeatureGraph()(
            *(torch.from_numpy(feed[k]) for k in ("cgm_mg_dl", "meal", "context", "diabetes_kind"))
        )
    return tuple(t.numpy() for t in out)  # type: ignore[return-value]


def test_the_graph_builds_the_same_arrays_as_features_py() -> None:
    rng = np.random.default_rng(0)
    trace = 160 + np.cumsum(rng.normal(0, 4, CGM_POINTS))
    holes = trace.copy()
    holes[[3, 4, 5, 20, 21, 31, 34]] = np.nan
    full = Meal(
        MEAL_TIME, 70.0, 20.0, 5.0, 25.0, 30.0, glycemic_index=80.0, carbs_p10_g=50.0, carbs_p90_g=95.0
    )
    contexts = [_context(trace, Meal(MEAL_TIME, 30.0))]
    contexts += [_context(holes, full, kind) for kind in DiabetesKind]
    contexts.append(
        _context(
            trace,
            Meal(MEAL_TIME, 55.0, carbs_p10_g=40.0),  # p10 without p90: no spread
            DiabetesKind.TYPE1,
            activity=(ActivitySample(MEAL_TIME - timedelta(minutes=45), 30.0, 900.0, None),),
            planned_walk_min=0.0,
            insulin=(InsulinDose(MEAL_TIME + timedelta(minutes=25), 3.0, InsulinKind.RAPID),),
            sleep_hours=8.5,
            previous_meals=(Meal(MEAL_TIME - timedelta(hours=23, minutes=59), 10.0),),
        )
    )
    want = build_inputs(contexts)
    rel, mask, features = _graph(raw_inputs(contexts))
    np.testing.assert_allclose(mask, want.cgm_mask, atol=0)
    np.testing.assert_allclose(rel, want.cgm_rel_mg_dl, atol=1e-4)
    for i, name in enumerate(FEATURE_NAMES):
        np.testing.assert_allclose(features[:, i], want.features[:, i], atol=1e-4, err_msg=name)


def _blank(n: int) -> dict[str, np.ndarray]:
    return {
        "cgm": np.full((n, CGM_POINTS), np.nan, np.float32),
        "meal": np.full((n, N_MEAL), np.nan, np.float32),
        "context": np.full((n, N_CONTEXT), np.nan, np.float32),
        "kind": np.full((n, 1), -1.0, np.float32),
    }


def _run(arrays: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        _, _, features = FeatureGraph()(
            *(torch.from_numpy(arrays[k]) for k in ("cgm", "meal", "context", "kind"))
        )
    return features.numpy()


def test_nothing_known_is_finite_zero_and_unknown() -> None:
    features = _run(_blank(1))[0]
    assert np.isfinite(features).all()
    assert features[FEATURE_INDEX["spike_threshold_mg_dl"]] == 140.0
    others = [i for i, n in enumerate(FEATURE_NAMES) if n != "spike_threshold_mg_dl"]
    assert not features[others].any()


@pytest.mark.parametrize("code", [np.nan, 4.0, 2.5, -2.0])
def test_a_code_that_is_no_kind_is_unknown(code: float) -> None:
    arrays = _blank(1)
    arrays["kind"][0, 0] = code
    features = _run(arrays)[0]
    assert (
        features[FEATURE_INDEX["kind_known"]] == 0.0
        and features[FEATURE_INDEX["spike_threshold_mg_dl"]] == 140.0
    )


@pytest.mark.parametrize("minutes", [0.0, -30.0, 1441.0])
def test_a_last_meal_outside_24_h_before_is_unknown(minutes: float) -> None:
    arrays = _blank(1)
    arrays["context"][0, CONTEXT_INDEX["minutes_since_last_meal"]] = minutes
    arrays["context"][0, CONTEXT_INDEX["last_meal_carbs_g"]] = 40.0
    arrays["meal"][0, MEAL_INDEX["carbs_g"]] = 40.0
    features = _run(arrays)[0]
    assert features[FEATURE_INDEX["last_meal_known"]] == 0.0
    assert features[FEATURE_INDEX["last_meal_carbs_g"]] == 0.0
