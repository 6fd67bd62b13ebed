"""The wire check: a reply passes only as the model's float32 parameters, a count and allowed losses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.federated.wire import ALLOWED_METRICS, WireViolationError, check_reply, summarize_reply

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def weights() -> list[np.ndarray]:
    return [np.zeros(s, np.float32) for s in SHAPES]


def test_parameters_a_count_and_losses_pass() -> None:
    check_reply(summarize_reply(weights(), 12, {"train_loss": 3.2}), SHAPES)
    check_reply(summarize_reply([], 5, {"peak_rise_mae_mg_dl": 20.0}), [])


def test_the_summary_keeps_no_values() -> None:
    secret = [np.full(s, 123.0, np.float32) for s in SHAPES]
    summary = summarize_reply(secret, 3, {"train_loss": 1.0})
    assert "123" not in repr(summary)
    assert summary.array_shapes == SHAPES


@settings(deadline=None, max_examples=50)
@given(name=st.text(min_size=1, max_size=20).filter(lambda n: n not in ALLOWED_METRICS))
def test_any_other_metric_is_refused(name: str) -> None:
    with pytest.raises(WireViolationError, match="not counts or losses"):
        check_reply(summarize_reply(weights(), 1, {name: 1.0}), SHAPES)


@pytest.mark.parametrize(
    "arrays",
    [
        weights()[:-1],  # a parameter missing
        [*weights(), np.zeros(37, np.float32)],  # an extra array, e.g. a glucose curve
        [np.zeros((3, 4), np.float32), *weights()[1:]],  # transposed
        [w.astype(np.float64) for w in weights()],
    ],
)
def test_arrays_that_are_not_the_parameters_are_refused(arrays: list[np.ndarray]) -> None:
    with pytest.raises(WireViolationError):
        check_reply(summarize_reply(arrays, 1, {}), SHAPES)


def test_extra_record_keys_and_negative_counts_are_refused() -> None:
    with pytest.raises(WireViolationError, match="record keys"):
        check_reply(summarize_reply(weights(), 1, {}, extra_keys=["person_ids"]), SHAPES)
    with pytest.raises(WireViolationError, match="negative"):
        check_reply(summarize_reply(weights(), -1, {}), SHAPES)
