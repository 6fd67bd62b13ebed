"""The person inside the response model: profile fields, history arrays, the encoder's guarantees,
and the predictor's 7-factor explanation over a stand-in personal model."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pytest
import torch
from test_glucose_impact import MEAL_TIME, SHAPE, StandInModel, context, flat_cgm, metadata

from glucose_model.explanation import (
    GROUP_HISTORY,
    HISTORY_SLOT,
    N_PERSONAL_COALITIONS,
    NO_HISTORY_SLOT,
    PERSONAL_FACTOR_GROUPS,
    shapley_values,
)
from glucose_model.features import (
    CARBS_INDEX,
    CGM_POINTS,
    CURVE_MINUTES,
    FEATURE_INDEX,
    N_FEATURES,
    build_inputs,
)
from glucose_model.impact import OUTPUT_RISE, PastMeal, ResponsePredictor
from glucose_model.personal import (
    INPUT_HISTORY_RISE,
    INPUT_HISTORY_SLOT,
    INPUT_PERSON,
    MAX_HISTORY_MEALS,
    N_PERSON_FIELDS,
    PERSON_FIELD_NAMES,
    history_arrays,
    person_row,
)
from glucose_model.records import GlucoseSeries, InsufficientCgmError
from glucose_model.response_network import (
    PersonalResponseNetwork,
    PersonConfig,
    PersonEncoder,
    ResponseNetwork,
)


def test_person_row_marks_unknown_as_nan_and_medication_as_flags() -> None:
    row = person_row(age_years=61, sex="female", medication=["oral", "basal_insulin"])
    named = dict(zip(PERSON_FIELD_NAMES, row.tolist(), strict=True))
    assert named["age_years"] == 61 and named["sex_male"] == 0.0
    assert np.isnan(named["bmi_kg_m2"]) and np.isnan(named["hba1c_percent"])
    assert (named["medication_none"], named["medication_oral"], named["medication_basal_insulin"]) == (
        0,
        1,
        1,
    )
    assert person_row(medication=[])[PERSON_FIELD_NAMES.index("medication_none")] == 1.0
    assert np.isnan(person_row()).all()
    with pytest.raises(ValueError, match="unknown medication"):
        person_row(medication=["aspirin"])


def test_history_arrays_pad_with_nan_and_keep_the_latest_meals() -> None:
    inputs = build_inputs([context(carbs_g=float(c)) for c in range(1, 61)])
    measured = np.arange(60, dtype=np.float64)[:, None] * np.ones((1, CURVE_MINUTES.shape[0]))
    arrays = history_arrays([(inputs, measured), (build_inputs([]), np.zeros((0, 37)))])
    assert arrays.features.shape == (2, MAX_HISTORY_MEALS, N_FEATURES)
    assert arrays.features[0, -1, CARBS_INDEX] == 60.0 and arrays.features[0, 0, CARBS_INDEX] == 11.0
    assert np.isnan(arrays.rise_mg_dl[1]).all() and not np.isnan(arrays.rise_mg_dl[0]).any()


def _graph_inputs(b: int, s: int, h: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    features = torch.zeros(b, N_FEATURES)
    features[:, CARBS_INDEX] = torch.rand(b, generator=g) * 100
    features[:, FEATURE_INDEX["baseline_glucose_mg_dl"]] = 120.0
    features[:, FEATURE_INDEX["spike_threshold_mg_dl"]] = 180.0
    history_features = features[:1].repeat(s, h, 1)
    return [
        torch.randn(b, CGM_POINTS, generator=g),
        torch.ones(b, CGM_POINTS),
        features,
        torch.full((b, N_PERSON_FIELDS), float("nan")),
        torch.zeros(b, dtype=torch.long),
        torch.zeros(s, h, CGM_POINTS),
        torch.ones(s, h, CGM_POINTS),
        history_features,
        torch.randn(s, h, 37, generator=g) * 30 + 40,
    ]


def _trained_looking(encoder: PersonEncoder) -> PersonEncoder:
    torch.manual_seed(3)
    for parameter in encoder.parameters():  # the heads start at 0; give them weight
        torch.nn.init.normal_(parameter, std=0.3)
    encoder.field_used.fill_(1.0)
    return encoder


def test_no_history_and_no_profile_gives_exactly_the_population_model() -> None:
    torch.manual_seed(0)
    base = ResponseNetwork().eval()
    network = PersonalResponseNetwork(base, _trained_looking(PersonEncoder(base))).eval()
    inputs = _graph_inputs(6, 1, 4)
    inputs[8] = torch.full_like(inputs[8], float("nan"))  # the only history set is empty
    with torch.no_grad():
        personal = network(*inputs)
        population = base(*inputs[:3])
    for got, want in zip(personal, population, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    inputs[8] = torch.randn(1, 4, 37) * 30 + 40  # with history it moves
    with torch.no_grad():
        assert not torch.allclose(network(*inputs)[0], population[0])


def test_with_history_the_curve_stays_increasing_in_carbohydrate() -> None:
    torch.manual_seed(1)
    base = ResponseNetwork().eval()
    network = PersonalResponseNetwork(base, _trained_looking(PersonEncoder(base, PersonConfig()))).eval()
    inputs = _graph_inputs(1, 1, 5, seed=4)
    inputs[3] = torch.from_numpy(person_row(age_years=50, medication=["oral"]))[None, :]
    carbs = torch.linspace(0, 200, 41)
    batch = [t.repeat(41, *([1] * (t.dim() - 1))) if i < 5 else t for i, t in enumerate(inputs)]
    batch[2] = batch[2].clone()
    batch[2][:, CARBS_INDEX] = carbs
    with torch.no_grad():
        rise = network(*batch)[0][:, :, 1]
    assert bool((rise[1:] - rise[:-1] >= -1e-4).all())


def test_shapley_over_seven_factors_is_exact() -> None:
    rng = np.random.default_rng(0)
    terms = rng.normal(size=len(PERSONAL_FACTOR_GROUPS))
    values = np.array(
        [sum(terms[g] for g in range(len(terms)) if c >> g & 1) for c in range(N_PERSONAL_COALITIONS)]
    )
    np.testing.assert_allclose(shapley_values(values), terms, atol=1e-9)


class PersonalStandIn(StandInModel):
    """StandInModel plus a person effect: rows of the history slot rise by the mean measured peak/4."""

    def __init__(self) -> None:
        super().__init__()
        self.feeds: list[dict[str, npt.NDArray[np.float32]]] = []

    def __call__(self, feed: dict[str, npt.NDArray[np.float32]]) -> dict[str, npt.NDArray[np.float32]]:
        self.feeds.append(feed)
        out = super().__call__(feed)
        history = feed[INPUT_HISTORY_RISE]  # (S, H, 37)
        peaks = np.where(np.isfinite(history), history, -np.inf).max(axis=2)  # (S, H)
        per_set = np.array([p[np.isfinite(p)].mean() / 4.0 if np.isfinite(p).any() else 0.0 for p in peaks])
        shift = per_set[feed[INPUT_HISTORY_SLOT]]  # (B,)
        out[OUTPUT_RISE] = (out[OUTPUT_RISE] + shift[:, None, None] * SHAPE[None, :, None]).astype(np.float32)
        return out


def personal_metadata() -> dict[str, str]:
    return {**metadata(), "person_fields": json.dumps(list(PERSON_FIELD_NAMES))}


def past_meals(n: int) -> list[PastMeal]:
    out = []
    for k in range(n):
        when = MEAL_TIME - timedelta(days=k + 1)
        c = context()
        meal = type(c.meal)(when, 60.0)
        glucose = flat_cgm(when, 130.0)
        after = GlucoseSeries.from_datetimes(
            [when + timedelta(minutes=5 * i) for i in range(-35, 38)],
            [130.0] * 36 + [130.0 + 80.0 * s for s in SHAPE],
        )
        out.append(PastMeal(type(c)(meal, glucose, kind=c.kind), after))
    return out


def test_personal_predictor_explains_the_past_responses_as_a_seventh_factor() -> None:
    model = PersonalStandIn()
    predictor = ResponsePredictor(personal_metadata(), model)
    assert predictor.personal
    alone = predictor.impact(context(), person=person_row(medication=["oral"]))
    assert len(model.batches) == 1 and model.batches[0] >= N_PERSONAL_COALITIONS
    names = [c.group for c in alone.explanation.contributions]
    assert names == list(PERSONAL_FACTOR_GROUPS)
    assert alone.explanation.contributions[-1].peak_rise_mg_dl == pytest.approx(0.0, abs=1e-9)  # no history
    assert alone.calibration is None
    feed = model.feeds[-1]
    assert feed[INPUT_PERSON].shape == (model.batches[0], N_PERSON_FIELDS)
    assert set(feed[INPUT_HISTORY_SLOT][:N_PERSONAL_COALITIONS].tolist()) == {HISTORY_SLOT, NO_HISTORY_SLOT}

    with_history = predictor.impact(context(), past_meals(8))
    own = {c.group: c.peak_rise_mg_dl for c in with_history.explanation.contributions}
    assert own[GROUP_HISTORY] == pytest.approx(20.0, abs=0.5)  # mean measured peak 80 / 4
    total = sum(own.values())
    e = with_history.explanation
    assert total == pytest.approx(e.predicted_peak_rise_mg_dl - e.reference_peak_rise_mg_dl, abs=1e-6)
    assert with_history.peak.rise_mg_dl == pytest.approx(alone.peak.rise_mg_dl + 20.0, abs=0.5)
    assert with_history.calibration is not None and with_history.calibration.n_meals == 8


def test_a_past_meal_without_enough_cgm_is_named_by_its_place_in_the_history() -> None:
    predictor = ResponsePredictor(personal_metadata(), PersonalStandIn())
    history = past_meals(3)
    when = history[1].context.meal.time
    history[1] = PastMeal(  # the 3 h after the meal, nothing in the hour before it
        type(history[1].context)(history[1].context.meal, GlucoseSeries.from_datetimes([], []), kind=None),
        GlucoseSeries.from_datetimes([when + timedelta(minutes=5 * i) for i in range(37)], [130.0] * 37),
    )
    with pytest.raises(InsufficientCgmError, match=r"^history\[1\] \(the past meal at .*\): .*hour before"):
        predictor.impact(context(), history)
    short = past_meals(3)
    cut = short[2].measured
    keep = cut.times_utc_s < int(short[2].context.meal.time.timestamp()) + 30 * 60
    short[2] = PastMeal(
        short[2].context,
        GlucoseSeries(cut.times_utc_s[keep], cut.utc_offset_min[keep], cut.glucose_mg_dl[keep], "test"),
    )
    with pytest.raises(InsufficientCgmError, match=r"^history\[2\] .*of the 3 h after it"):
        predictor.impact(context(), short)
