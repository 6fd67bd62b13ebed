"""training.federated.sweep: folds pooled exactly by example count, then the mean and spread of each
comparison over person splits."""

from __future__ import annotations

import math

import pytest

from training.federated.sweep import (
    SweepError,
    claims_held,
    markdown,
    merge_people,
    people_intervals,
    person_bootstrap,
    pool_folds,
    pool_metric,
    seed_verdicts,
    spread,
    summarize,
)


def _verdict(local_t1: float, fed_t1: float, central: float, fed_all: float) -> dict[str, object]:
    return {
        "other_sites": [{"local_site": "t1", "local": local_t1, "federated": fed_t1}],
        "central_error": central,
        "federated_error": fed_all,
        "beats_every_local_elsewhere": fed_t1 < local_t1,
        "within_central_margin": fed_all <= central * 1.1,
    }


def test_spread_of_one_value_has_no_spread() -> None:
    assert spread([3.0]) == {"mean": 3.0, "sd": 0.0, "min": 3.0, "max": 3.0}


def test_spread_is_the_sample_sd() -> None:
    assert spread([1.0, 3.0])["sd"] == pytest.approx(math.sqrt(2.0))


def test_summarize_counts_federated_wins_per_comparison() -> None:
    summary = summarize([_verdict(40.0, 38.0, 41.0, 42.0), _verdict(40.0, 45.0, 41.0, 40.0)])
    assert summary["not:t1"]["federated_wins"] == 1
    assert summary["not:t1"]["federated_minus_other"]["mean"] == pytest.approx(1.5)
    assert summary["all (vs central)"]["other"]["mean"] == pytest.approx(41.0)
    assert summary["all (vs central)"]["seeds"] == 2
    block = {"m": {"comparisons": summary, "claims": claims_held([_verdict(40.0, 38.0, 41.0, 42.0)])}}
    text = markdown(block, "cmd", folds=4)
    assert "| not:t1 |" in text and "4-fold split" in text and "## m" in text


def test_a_mean_error_pools_as_the_mean_over_all_examples() -> None:
    errors = [[1.0, 2.0, 3.0], [10.0]]  # absolute errors of the examples of two folds
    folded = [sum(e) / len(e) for e in errors]
    assert pool_metric("curve_mae_mg_dl", folded, [3, 1]) == pytest.approx(16.0 / 4)


def test_an_rmse_pools_as_the_root_mean_square_over_all_examples() -> None:
    errors = [[1.0, 3.0], [4.0, 4.0, 4.0]]
    folded = [math.sqrt(sum(x * x for x in e) / len(e)) for e in errors]
    assert pool_metric("rmse_30min_mg_dl", folded, [2, 3]) == pytest.approx(math.sqrt((1 + 9 + 48) / 5))


def test_what_does_not_pool_is_refused() -> None:
    with pytest.raises(SweepError, match="cannot be pooled"):
        pool_metric("iauc_2h_pearson_r", [0.5], [3])
    with pytest.raises(SweepError, match="no held-out examples"):
        pool_metric("curve_mae_mg_dl", [1.0], [0])


def _fold(fed: float, local: float, n_b: float) -> dict[str, dict[str, dict[str, float]]]:
    sets = {
        "all": {"x_mae": fed, "examples": 10 + n_b},
        "not:a": {"x_mae": fed, "examples": n_b},
        "not:b": {"x_mae": fed, "examples": 10},
    }
    other = {k: {**v, "x_mae": local} for k, v in sets.items()}
    if n_b == 0:  # site b had no held-out person in this fold: no figure there
        for group in (sets, other):
            del group["not:a"]["x_mae"]
    return {"federated": sets, "central": other, "local:a": other, "local:b": other}


def test_folds_pool_by_example_count_and_skip_empty_sets() -> None:
    pooled = pool_folds([_fold(30.0, 32.0, 5), _fold(20.0, 19.0, 0), _fold(40.0, 44.0, 15)], ["x_mae"])
    assert pooled["federated"]["not:a"] == {"examples": 20.0, "x_mae": pytest.approx((5 * 30 + 15 * 40) / 20)}
    assert pooled["federated"]["not:b"]["x_mae"] == pytest.approx((30 + 20 + 40) / 3)
    assert pooled["central"]["all"]["examples"] == 15 + 10 + 25


def test_a_seed_is_judged_on_its_pooled_folds() -> None:
    reports = [
        {
            "held_out": _fold(30.0, 32.0, 5),
            "metrics": ["x_mae"],
            "primary_metric": "x_mae",
            "epochs_per_model": 3,
        },
        {
            "held_out": _fold(40.0, 37.0, 15),
            "metrics": ["x_mae"],
            "primary_metric": "x_mae",
            "epochs_per_model": 3,
        },
    ]
    scores, verdicts, intervals = seed_verdicts(reports, 0.10)
    assert intervals == {}  # no per-person totals in these reports
    # not:a pooled: federated (5*30 + 15*40)/20 = 37.5, local (5*32 + 15*37)/20 = 35.75: local wins
    assert scores["local:b"]["not:b"]["x_mae"] == pytest.approx(34.5)
    assert verdicts["x_mae"]["beats_every_local_elsewhere"] is False
    assert verdicts["x_mae"]["federated_error"] == pytest.approx((15 * 30 + 25 * 40) / 40)


def _people(errors: dict[str, float], n: int = 2) -> dict[str, dict[str, list[float]]]:
    return {p: {"x_mae": [e * n, float(n)]} for p, e in errors.items()}


def test_the_bootstrap_resamples_people_and_counts_who_gained() -> None:
    fed = _people({"p1": 10.0, "p2": 20.0, "p3": 30.0, "p4": 40.0})
    other = _people({"p1": 12.0, "p2": 21.0, "p3": 33.0, "p4": 39.0})
    b = person_bootstrap(fed, other, "x_mae")
    assert b["difference"] == pytest.approx(25.0 - 26.25)
    assert b["ci95_low"] <= b["difference"] <= b["ci95_high"]
    assert b["ci95_low"] >= -3.0 and b["ci95_high"] <= 1.0  # per-person differences lie in [-3, +1]
    assert (b["people"], b["people_federated_better"]) == (4, 3)
    same = person_bootstrap(fed, fed, "x_mae")
    assert same["difference"] == same["ci95_low"] == same["ci95_high"] == 0.0


def test_people_from_the_folds_merge_and_are_compared_per_local_model() -> None:
    def fold(
        people: dict[str, float], local: float
    ) -> dict[str, dict[str, dict[str, dict[str, list[float]]]]]:
        fed = _people(people)
        worse = _people({p: e + local for p, e in people.items()})
        sets = {"all": fed, "not:a": fed}
        return {
            "federated": sets,
            "central": {"all": worse, "not:a": worse},
            "local:a": {"all": worse, "not:a": worse},
        }

    merged = merge_people([fold({"p1": 5.0}, 1.0), fold({"p2": 7.0}, 3.0)])
    assert set(merged["federated"]["not:a"]) == {"p1", "p2"}
    intervals = people_intervals(merged, ["x_mae"])
    assert intervals["x_mae"]["not:a"]["difference"] == pytest.approx(-2.0)
    assert intervals["x_mae"]["all (vs central)"]["people_federated_better"] == 2
    with pytest.raises(SweepError, match="more than one fold"):
        merge_people([fold({"p1": 5.0}, 1.0), fold({"p1": 5.0}, 1.0)])
