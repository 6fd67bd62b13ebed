"""Episodes for the person encoder: only earlier meals, random subsets of 0-50, and a short fit that
moves the encoder only where history exists; the evaluation's ceiling and target helpers."""

from __future__ import annotations

import numpy as np
import torch

from glucose_model.features import CURVE_MINUTES, N_FEATURES, ModelInputs
from glucose_model.personal import MAX_HISTORY_MEALS, N_PERSON_FIELDS
from glucose_model.response_network import ResponseNetwork
from training.glucose_history_evaluation import history_tables, target_verdict
from training.glucose_personal import (
    PersonTrainConfig,
    earlier_meals,
    fit_encoder,
    latest_history,
    population_outputs,
    predict_with_history,
    sample_history,
)
from training.glucose_train import MealExamples


def examples(people: int = 4, meals: int = 12, seed: int = 0) -> MealExamples:
    rng = np.random.default_rng(seed)
    n = people * meals
    features = np.zeros((n, N_FEATURES), np.float32)
    features[:, 2] = rng.uniform(10, 90, n)  # carbs
    features[:, 0] = 140.0
    person = np.repeat([f"shanghai_t2dm/p{i}" for i in range(people)], meals)
    gain = np.repeat(rng.uniform(0.5, 2.0, people), meals)  # each person rises by their own factor
    shape = np.sin(np.linspace(0, np.pi, CURVE_MINUTES.shape[0]))
    rise = (gain * features[:, 2])[:, None] * shape[None, :]
    times = np.tile(np.arange(meals) * 3600 * 6, people) + 1_700_000_000
    order = rng.permutation(n)  # rows out of time order: the episodes must sort them
    inputs = ModelInputs(
        np.zeros((n, 37), np.float32)[order], np.ones((n, 37), np.float32)[order], features[order]
    )
    return MealExamples(
        inputs,
        rise.astype(np.float32)[order],
        np.zeros(n, np.float32),
        person[order],
        times.astype(np.int64)[order],
        np.full((n, N_PERSON_FIELDS), np.nan, np.float32),
    )


def test_history_is_only_the_same_persons_earlier_meals() -> None:
    ex = examples()
    earlier = earlier_meals(ex)
    for i, rows in enumerate(earlier):
        assert all(ex.person[r] == ex.person[i] and ex.time_s[r] < ex.time_s[i] for r in rows)  # type: ignore[index]
        assert list(ex.time_s[rows]) == sorted(ex.time_s[rows])  # type: ignore[index]
    assert sorted(len(e) for e in earlier)[-1] == 11
    rng = np.random.default_rng(0)
    sizes = {len(sample_history(np.arange(80), rng, 0.2)) for _ in range(400)}
    assert 0 in sizes and max(sizes) <= MAX_HISTORY_MEALS and len(sizes) > 20
    assert list(latest_history(np.arange(10), 3)) == [7, 8, 9] and len(latest_history(np.arange(10), 0)) == 0


def test_a_short_fit_learns_each_persons_gain_from_history() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: more threads only spin on a shared machine
    try:
        _short_fit()
    finally:
        torch.set_num_threads(threads)


def _short_fit() -> None:
    torch.manual_seed(0)
    base = ResponseNetwork().eval()
    fit, validation = examples(6, 14, seed=1), examples(3, 14, seed=2)
    encoder, losses = fit_encoder(
        base, fit, validation, PersonTrainConfig(epochs=6, learning_rate=5e-3, validation_episodes=2)
    )
    assert min(losses) < losses[0]  # the validation people are predicted better with their history
    test = examples(2, 14, seed=3)
    out = population_outputs(base, encoder, test)
    earlier = earlier_meals(test)
    targets = np.array([i for i in range(len(test)) if len(earlier[i]) >= 8])
    with torch.no_grad():
        none, _ = predict_with_history(encoder, out, targets, [earlier[i][:0] for i in targets])
        rise, _ = predict_with_history(encoder, out, targets, [earlier[i] for i in targets])
    torch.testing.assert_close(none, out.rise[torch.from_numpy(targets)])  # no history: the population model
    measured = out.measured[torch.from_numpy(targets)]
    error_with = (rise[:, :, 1] - measured).abs().mean()
    error_without = (none[:, :, 1] - measured).abs().mean()
    assert error_with < error_without


def test_target_verdict_and_tables_say_met_or_not() -> None:
    row = {
        "peak_rise_mae_mg_dl": 25.0,
        "peak_rise_pearson_r": 0.55,
        "iauc_2h_pearson_r": 0.5,
        "spike_auroc": 0.8,
    }
    history = {"shanghai_t2dm": {"meals": 10, "people": 2, "10": {"meals": 5, "model": row}}}
    verdict = target_verdict(history)
    assert verdict is not None and verdict["mae_met"] and not verdict["r_met"]
    text = "\n".join(history_tables({"response_history": history, "response_history_target": verdict}))
    assert "| 10 | 5 | model | 25.00 | 0.55 |" in text and "NOT met" in text
    assert target_verdict({}) is None


def test_evaluate_history_scores_every_predictor_on_the_same_meals() -> None:
    import json

    from test_glucose_impact import StandInModel, metadata

    from glucose_model.impact import ResponsePredictor
    from glucose_model.personal import PERSON_FIELD_NAMES
    from glucose_model.records import DiabetesKind
    from glucose_model.simulator.cohort import CohortConfig, simulate_cohort
    from training.glucose_history_evaluation import PERSONAL, PREVIOUS, evaluate_history

    recordings = simulate_cohort(CohortConfig(people=((DiabetesKind.TYPE2, 3),), days=4, seed=1)).recordings()
    personal = ResponsePredictor(
        {**metadata(), "person_fields": json.dumps(list(PERSON_FIELD_NAMES))}, PersonalStandInForEval()
    )
    previous = ResponsePredictor(metadata(), StandInModel())
    people = {r.person_id for r in recordings}
    scores = evaluate_history(recordings, people, personal, previous, sizes=(0, 5))
    assert scores["people"] == 3 and scores["meals"] > 10
    for k in ("0", "5"):
        row = scores[k]
        assert {PERSONAL, PREVIOUS, "carbs_only", "population_average"} <= set(row)
        assert row[PERSONAL]["peak_rise_mae_mg_dl"] >= 0
    assert scores["5"]["meals"] < scores["0"]["meals"]  # only meals with 5 earlier ones
    # At 0 history the personal stand-in ignores the (empty) history: it equals the previous model.
    assert scores["0"][PERSONAL]["peak_rise_mae_mg_dl"] == scores["0"][PREVIOUS]["peak_rise_mae_mg_dl"]


class PersonalStandInForEval:
    """The StandInModel on the population inputs; the history inputs are accepted and ignored."""

    def __init__(self) -> None:
        from test_glucose_impact import StandInModel

        self.model = StandInModel()

    def __call__(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.model(feed)
