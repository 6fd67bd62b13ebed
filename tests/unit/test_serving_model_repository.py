"""Model repository checks: config.pbtxt, the ONNX graph and its metadata must agree, or start-up stops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from serving.model_repository import ModelRepositoryError, file_sha256, load_model, model_dirs  # noqa: E402

CONFIG = """name: "{name}"
backend: "onnxruntime"
max_batch_size: 8
input [ {{ name: "x" data_type: {dtype} dims: [ {dim} ] }} ]
output [ {{ name: "y" data_type: TYPE_FP32 dims: [ {dim} ] }} ]
"""


def write_model(
    repo: Path,
    name: str = "doubler",
    version: int = 1,
    dtype: str = "TYPE_FP32",
    config_dim: int = 3,
    metadata: dict[str, object] | None = None,
) -> Path:
    """A real two-node ONNX graph y = 2 x over (batch, 3) float32, with its config.pbtxt."""
    folder = repo / name
    (folder / str(version)).mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], name, [x], [y], [two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    props = {"version": str(version)} if metadata is None else metadata
    helper.set_model_props(model, {k: json.dumps(v) for k, v in props.items()})
    onnx.save(model, folder / str(version) / "model.onnx")
    (folder / "config.pbtxt").write_text(CONFIG.format(name=name, dtype=dtype, dim=config_dim))
    return folder


def test_loads_the_highest_version_with_checksum(tmp_path: Path) -> None:
    write_model(tmp_path, version=1)
    folder = write_model(tmp_path, version=3)
    model, session = load_model(folder)
    assert model.version == 3
    assert model.sha256 == file_sha256(folder / "3" / "model.onnx")
    assert [(s.name, s.datatype, s.shape) for s in model.inputs] == [("x", "FP32", (-1, 3))]
    assert model.metadata_json() == {"version": "3"}
    assert session.get_inputs()[0].name == "x"


def test_a_pinned_version_must_exist(tmp_path: Path) -> None:
    folder = write_model(tmp_path, version=1)
    assert load_model(folder, pinned_version=1)[0].version == 1
    with pytest.raises(ModelRepositoryError, match="version 2 is configured"):
        load_model(folder, pinned_version=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "TYPE_INT64"}, "TYPE_INT64 in config.pbtxt but tensor\\(float\\)"),
        ({"config_dim": 4}, "shape \\[-1, 4\\] per config.pbtxt"),
        ({"metadata": {}}, "no metadata_props"),
        ({"metadata": {"labels": ["a", "b"]}}, "2 labels but no output has 2 classes"),
    ],
)
def test_inconsistent_models_stop_start_up(tmp_path: Path, kwargs: dict, message: str) -> None:
    folder = write_model(tmp_path, **kwargs)
    with pytest.raises(ModelRepositoryError, match=message):
        load_model(folder)


def test_corrupt_or_missing_files(tmp_path: Path) -> None:
    folder = write_model(tmp_path)
    (folder / "1" / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelRepositoryError, match="not a loadable ONNX model"):
        load_model(folder)
    (folder / "1" / "model.onnx").unlink()
    with pytest.raises(ModelRepositoryError, match=r"model\.onnx is missing"):
        load_model(folder)
    (folder / "config.pbtxt").write_text('name: "other" backend: "onnxruntime"')
    with pytest.raises(ModelRepositoryError, match="is invalid"):
        load_model(folder)


def test_required_models_must_be_present(tmp_path: Path) -> None:
    write_model(tmp_path, name="doubler")
    assert [p.name for p in model_dirs(tmp_path, ["doubler"])] == ["doubler"]
    with pytest.raises(ModelRepositoryError, match="food_recognizer"):
        model_dirs(tmp_path, ["doubler", "food_recognizer"])
    with pytest.raises(ModelRepositoryError, match="does not exist"):
        model_dirs(tmp_path / "nowhere", [])
