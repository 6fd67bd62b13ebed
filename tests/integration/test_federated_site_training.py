"""A site's side of federation without flwr: local training on the real networks, what a reply holds,
DP on the update, and the central/local/federated comparison on tiny synthetic sites."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import torch

from glucose_model.records import DiabetesKind, GlucoseSeries, Meal, Recording
from training.federated.aggregation import weighted_average
from training.federated.comparison import CENTRAL, FEDERATED, compare, judge
from training.federated.privacy import DpConfig, l2_norm
from training.federated.sites import split_site
from training.federated.tasks import (
    ResponseTask,
    SiteTrainer,
    make_task,
    new_network,
    parameter_arrays,
    parameter_names,
    task_from_arrays,
)
from training.federated.wire import WireViolationError, check_reply, summarize_reply

TZ = timezone(timedelta(hours=8))


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> None:
    torch.set_num_threads(1)  # tiny networks on a shared 2-core machine


def person(index: int, gain: float, cohort: str) -> Recording:
    """One day of 5-min CGM with three meals whose rise is `gain` mg/dL per gram."""
    start = datetime(2025, 4, 1, 5, 0, tzinfo=TZ) + timedelta(days=index)
    minutes = np.arange(0, 18 * 60, 5)
    meals = [Meal(start + timedelta(hours=h), c) for h, c in ((3, 30.0 + 7 * index), (8, 80.0), (13, 20.0))]
    glucose = np.full(minutes.shape, 105.0 + 3 * index)
    for meal in meals:
        t = minutes - (meal.time - start).total_seconds() / 60
        glucose += np.where(t > 0, meal.carbs_g * gain * (t / 45) * np.exp(1 - t / 45), 0.0)
    series = GlucoseSeries.from_datetimes([start + timedelta(minutes=int(m)) for m in minutes], glucose)
    return Recording(f"{cohort}-{index}", series, DiabetesKind.TYPE2, meals=tuple(meals), cohort=cohort)


@pytest.fixture(scope="module")
def task() -> ResponseTask:
    site = split_site("a", [person(i, 0.9, "a") for i in range(4)], 0.25, seed=0)
    made = make_task("response", site.train, site.test)
    assert isinstance(made, ResponseTask)
    return made


def test_a_fit_reply_is_the_models_parameters_a_count_and_a_loss(task: ResponseTask) -> None:
    trainer = SiteTrainer(task, seed=1)
    initial = parameter_arrays(new_network("response", 0))
    reply = trainer.fit(initial, epochs=1, server_round=1)
    shapes = [tuple(a.shape) for a in initial]
    assert [tuple(w.shape) for w in reply.weights] == shapes
    assert reply.num_examples == len(task.train_examples) > 0
    assert set(reply.metrics) == {"train_loss"} and np.isfinite(reply.metrics["train_loss"])
    check_reply(summarize_reply(reply.weights, reply.num_examples, reply.metrics), shapes)
    assert any(not np.allclose(a, b) for a, b in zip(reply.weights, initial, strict=True))  # it trained


def test_the_wire_check_refuses_anything_more(task: ResponseTask) -> None:
    weights = parameter_arrays(new_network("response", 0))
    shapes = [tuple(a.shape) for a in weights]
    rise = task.train_examples.rise_mg_dl  # a person's measured curve: must never be sent
    for summary in (
        summarize_reply([*weights, rise], 3, {"train_loss": 1.0}),
        summarize_reply(weights, 3, {"train_loss": 1.0, "person_id": 7.0}),
        summarize_reply(weights, 3, {}, extra_keys=["meals.csv"]),
        summarize_reply([w.astype(np.float64) for w in weights], 3, {}),
    ):
        with pytest.raises(WireViolationError):
            check_reply(summary, shapes)


def test_dp_bounds_how_far_a_site_moves_the_model(task: ResponseTask) -> None:
    initial = parameter_arrays(new_network("response", 0))
    clip = 0.05
    plain = SiteTrainer(task, seed=1).fit(initial, epochs=2, server_round=1)
    clipped = SiteTrainer(task, seed=1, dp=DpConfig(clip, 0.0)).fit(initial, epochs=2, server_round=1)
    raw = l2_norm([w - g for w, g in zip(plain.weights, initial, strict=True)])
    moved = l2_norm([w - g for w, g in zip(clipped.weights, initial, strict=True)])
    assert raw > clip
    assert moved == pytest.approx(clip, rel=1e-3)
    # Same run seed, same round, same data: only the noise can differ, and it must. Noise derived from
    # the (public) run seed could be regenerated and subtracted by the server, and would be the same
    # at every site, so averaging would not shrink it.
    noisy = SiteTrainer(task, seed=1, dp=DpConfig(clip, 1.0)).fit(initial, epochs=2, server_round=1)
    again = SiteTrainer(task, seed=1, dp=DpConfig(clip, 1.0)).fit(initial, epochs=2, server_round=1)
    assert not np.allclose(noisy.weights[0], again.weights[0])


def test_the_site_cache_round_trips_every_array(task: ResponseTask) -> None:
    again = task_from_arrays("response", task.arrays())
    assert isinstance(again, ResponseTask)
    np.testing.assert_array_equal(again.train_examples.inputs.features, task.train_examples.inputs.features)
    np.testing.assert_array_equal(again.test_examples.rise_mg_dl, task.test_examples.rise_mg_dl)
    assert list(again.test_examples.person) == list(task.test_examples.person)


def test_parameter_names_follow_the_array_order() -> None:
    network = new_network("forecast", 0)
    names = parameter_names(network)
    assert [tuple(network.get_parameter(n).shape) for n in names] == [
        a.shape for a in parameter_arrays(network)
    ]


def test_comparison_scores_every_model_on_every_held_out_set() -> None:
    sites = [
        split_site(name, [person(i, gain, name) for i in range(4)], 0.25, seed=0)
        for name, gain in (("a", 0.6), ("b", 1.2))
    ]
    initial = parameter_arrays(new_network("response", 0))
    tasks = [make_task("response", s.train, s.test) for s in sites]
    replies = [SiteTrainer(t, seed=0).fit(initial, 2, 1) for t in tasks]
    federated = weighted_average([r.weights for r in replies], [r.num_examples for r in replies])
    result = compare("response", sites, initial, federated, epochs=2)
    assert set(result.scores) == {FEDERATED, CENTRAL, "local:a", "local:b"}
    for sets in result.scores.values():
        assert {"a", "b", "all", "not:a", "not:b"} <= set(sets)
        for held_out in sets.values():
            assert np.isfinite(held_out["curve_mae_mg_dl"]) and np.isfinite(held_out["peak_rise_mae_mg_dl"])
            assert held_out["examples"] > 0
    assert result.metrics == ("curve_mae_mg_dl", "peak_rise_mae_mg_dl")
    verdict = judge(result, margin=0.1)
    assert [r["local_site"] for r in verdict.other_sites] == ["a", "b"]
    assert verdict.metric == "curve_mae_mg_dl"
    assert verdict.central_error == result.scores[CENTRAL]["all"]["curve_mae_mg_dl"]
    # per-person totals (for the sweep's bootstrap over people) add up to the pooled figures
    people = result.per_person[FEDERATED]["not:a"]
    assert people and all(len(key) == 12 for key in people)  # pseudonyms, not the ids
    meals = sum(t["peak_rise_mae_mg_dl"][1] for t in people.values())
    assert meals == result.scores[FEDERATED]["not:a"]["examples"]
    total = sum(t["peak_rise_mae_mg_dl"][0] for t in people.values())
    assert total / meals == pytest.approx(result.scores[FEDERATED]["not:a"]["peak_rise_mae_mg_dl"], rel=1e-6)
    peak = judge(result, margin=0.1, metric="peak_rise_mae_mg_dl")
    assert peak.central_error == result.scores[CENTRAL]["all"]["peak_rise_mae_mg_dl"]


def test_the_forecast_model_federates_through_the_same_trainer() -> None:
    site = split_site("a", [person(i, 0.9, "a") for i in range(4)], 0.25, seed=0)
    task = make_task("forecast", site.train, site.test)
    initial = parameter_arrays(new_network("forecast", 0))
    reply = SiteTrainer(task, seed=0).fit(initial, epochs=1, server_round=1)
    check_reply(
        summarize_reply(reply.weights, reply.num_examples, reply.metrics), [tuple(a.shape) for a in initial]
    )
    assert reply.num_examples > 0
    n, metrics = SiteTrainer(task, seed=0).evaluate(reply.weights)
    assert n > 0 and np.isfinite(metrics["rmse_30min_mg_dl"])
