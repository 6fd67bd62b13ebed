"""training.federated.pretraining.load_weights: stored arrays come back in the network's order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.federated.pretraining import load_weights
from training.federated.tasks import TaskError


def test_load_weights_follows_the_given_order(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, b=np.ones(2, np.float32), a=np.zeros(3, np.float32))
    arrays = load_weights(path, ["a", "b"])
    assert [a.shape for a in arrays] == [(3,), (2,)]
    assert all(a.dtype == np.float32 for a in arrays)


def test_load_weights_names_a_missing_parameter(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, a=np.zeros(3, np.float32))
    with pytest.raises(TaskError, match="lacks parameters"):
        load_weights(path, ["a", "conv.weight"])
