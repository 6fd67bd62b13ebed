"""open_session: one way to open an ONNX model, with the server's threading, from a path or from bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mealimpact.model_repository.sessions import open_session, session_options

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _doubler() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], "doubler", [x], [y], [two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


def test_a_path_and_bytes_open_the_same_model(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(_doubler())
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for session in (open_session(path), open_session(_doubler(), threads=2)):
        assert session.get_providers() == ["CPUExecutionProvider"]
        np.testing.assert_array_equal(session.run(None, {"x": x})[0], 2 * x)


def test_threads_set_the_server_options() -> None:
    options = session_options(2)
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options().intra_op_num_threads == 0  # ONNX Runtime's default: one per core


def test_threads_and_options_together_are_refused() -> None:
    with pytest.raises(ValueError, match="threads or options"):
        open_session(_doubler(), threads=1, options=session_options(1))
