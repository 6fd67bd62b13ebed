"""The personal response graph exports as one ONNX file that ONNX Runtime runs like torch, that the
model repository accepts with its config.pbtxt, and that ResponsePredictor explains over 7 factors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import torch

from glucose_model.explanation import GROUP_HISTORY, PERSONAL_FACTOR_GROUPS, reference_meal_metadata
from glucose_model.features import (
    CARBS_INDEX,
    CURVE_MINUTES,
    FEATURE_INDEX,
    FEATURE_NAMES,
    N_FEATURES,
    QUANTILES,
    MealContext,
    ModelInputs,
    metadata_inputs,
)
from glucose_model.impact import PastMeal, ResponsePredictor
from glucose_model.personal import (
    INPUT_HISTORY_SLOT,
    INPUT_PERSON,
    N_PERSON_FIELDS,
    PERSON_FIELD_NAMES,
    history_arrays,
    person_row,
)
from glucose_model.records import DiabetesKind, GlucoseSeries, Meal
from glucose_model.response_network import (
    PersonalResponseNetwork,
    PersonConfig,
    PersonEncoder,
    ResponseNetwork,
)
from mealimpact.model_repository.loading import load_model
from mealimpact.model_repository.metadata import ResponseMetadata
from training.glucose_export import export_personal_response, personal_metadata_extra, weights_sha256


def _rows(n: int, rng: np.random.Generator) -> ModelInputs:
    features = np.zeros((n, N_FEATURES), np.float32)
    features[:, CARBS_INDEX] = rng.uniform(10, 100, n)
    features[:, FEATURE_INDEX["baseline_glucose_mg_dl"]] = 130.0
    features[:, FEATURE_INDEX["spike_threshold_mg_dl"]] = 180.0
    return ModelInputs(rng.normal(0, 5, (n, 37)).astype(np.float32), np.ones((n, 37), np.float32), features)


def test_personal_graph_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    base = ResponseNetwork().eval()
    encoder = PersonEncoder(base, PersonConfig(profile_without_history=False))  # as shipped
    for parameter in encoder.parameters():
        torch.nn.init.normal_(parameter, std=0.2)
    encoder.field_used[-4:] = 1.0
    network = PersonalResponseNetwork(base, encoder).eval()
    rng = np.random.default_rng(0)
    rows, past = _rows(12, rng), _rows(6, rng)
    measured = rng.normal(40, 20, (6, CURVE_MINUTES.shape[0]))
    sets = history_arrays([(past, measured), (past, np.zeros((0, 37)))])
    person = np.repeat(person_row(medication=["oral"])[None, :], 12, axis=0)
    check = {
        **rows.as_feed(),
        INPUT_PERSON: person,
        INPUT_HISTORY_SLOT: (np.arange(12) % 2).astype(np.int64),
        **sets.as_feed(),
    }
    metadata = {
        **ResponseMetadata(
            name="glucose_response",
            version="3",
            weights_sha256=weights_sha256(network),
            inputs=metadata_inputs(),
            outputs={},
            curve_minutes=CURVE_MINUTES.tolist(),
            quantiles=list(QUANTILES),
            feature_names=list(FEATURE_NAMES),
            reference_meal=reference_meal_metadata(),
        ).to_props(),
        **personal_metadata_extra(encoder),
    }
    model_dir = tmp_path / "glucose_response"
    export_personal_response(network, metadata, model_dir, check)  # raises when ORT differs from torch
    model, session = load_model(model_dir)
    assert [i.name for i in session.get_inputs()][3:5] == [INPUT_PERSON, INPUT_HISTORY_SLOT]
    assert json.loads(model.metadata["person_fields"]) == list(PERSON_FIELD_NAMES)
    assert json.loads(model.metadata["person_fields_trained"]) == list(PERSON_FIELD_NAMES[-4:])
    outputs = [o.name for o in session.get_outputs()]
    # Different numbers of history sets and past meals than at export: the axes are dynamic.
    other = history_arrays([(past, measured[:3]), (past, np.zeros((0, 37))), (past, measured)])
    feed = {**check, **other.as_feed(), INPUT_HISTORY_SLOT: (np.arange(12) % 3).astype(np.int64)}
    got = session.run(outputs, feed)
    with torch.no_grad():
        want = network(*(torch.from_numpy(np.ascontiguousarray(feed[i.name])) for i in session.get_inputs()))
    np.testing.assert_allclose(got[0], want[0].numpy(), atol=1e-2)
    # Rows on the empty set equal the population network, whatever their profile says.
    with torch.no_grad():
        population = base(*(torch.from_numpy(check[k]) for k in ("cgm_rel_mg_dl", "cgm_mask", "features")))
    np.testing.assert_allclose(got[0][1::3], population[0].numpy()[1::3], atol=1e-3)

    predictor = ResponsePredictor(
        dict(model.metadata), lambda f: dict(zip(outputs, session.run(outputs, f), strict=True))
    )
    result = predictor.impact(*_meal_with_history(5), person_row(medication=["oral"]))
    groups = [c.group for c in result.explanation.contributions]
    assert groups == list(PERSONAL_FACTOR_GROUPS) and groups[-1] == GROUP_HISTORY
    e = result.explanation
    assert sum(c.peak_rise_mg_dl for c in e.contributions) == pytest.approx(
        e.predicted_peak_rise_mg_dl - e.reference_peak_rise_mg_dl, abs=1e-3
    )
    assert N_PERSON_FIELDS == 9


def _meal_with_history(n: int) -> tuple[MealContext, list[PastMeal]]:
    zone = timezone(timedelta(hours=8))
    now = datetime(2025, 3, 1, 12, 0, tzinfo=zone)

    def flat(end: datetime, level: float, count: int = 37, after: int = 0) -> GlucoseSeries:
        times = [end + timedelta(minutes=5 * (i - count + 1)) for i in range(count + after)]
        values = [
            level + (30.0 * np.sin(np.pi * i / 36) if i >= count else 0.0) for i in range(count + after)
        ]
        return GlucoseSeries.from_datetimes(times, values)

    context = MealContext(Meal(now, 60.0), flat(now, 130.0), kind=DiabetesKind.TYPE2)
    past = []
    for k in range(n, 0, -1):
        when = now - timedelta(days=k)
        series = flat(when, 125.0, after=36)
        before = series.times_utc_s < int(when.timestamp())
        parts = [
            GlucoseSeries(series.times_utc_s[m], series.utc_offset_min[m], series.glucose_mg_dl[m])
            for m in (before, ~before)
        ]
        past.append(PastMeal(MealContext(Meal(when, 50.0), parts[0], kind=DiabetesKind.TYPE2), parts[1]))
    return context, past
