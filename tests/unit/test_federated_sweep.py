"""training.federated.sweep: the mean and spread of each comparison over person splits."""

from __future__ import annotations

import math

import pytest

from training.federated.sweep import markdown, spread, summarize


def _verdict(local_t1: float, fed_t1: float, central: float, fed_all: float) -> dict[str, object]:
    return {
        "other_sites": [{"local_site": "t1", "local": local_t1, "federated": fed_t1}],
        "central_error": central,
        "federated_error": fed_all,
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
    assert "| not:t1 |" in markdown(summary, "cmd")
