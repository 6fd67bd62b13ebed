"""Model repository checks: config.pbtxt, the ONNX graph and its metadata must agree, or start-up stops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from mealimpact.model_repository.checksums import file_sha256  # noqa: E402
from mealimpact.model_repository.layout import ModelRepositoryError, model_dirs  # noqa: E402
from mealimpact.model_repository.loading import load_model  # noqa: E402

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
        # A file that names the schema is read by its kind's dataclass: what it lacks stops start-up.
        (
            {"metadata": {"metadata_schema": 1, "kind": "forecast", "version": "1"}},
            "forecast model metadata lacks",
        ),
        ({"metadata": {"metadata_schema": 2, "kind": "forecast"}}, "this code reads schema 1"),
        ({"metadata": {"metadata_schema": 1, "kind": "classifier"}}, "kind 'classifier' is none of"),
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


CLASSIFIER_CONFIG = """name: "classifier"
backend: "onnxruntime"
max_batch_size: 8
input [ {{ name: "x" data_type: TYPE_FP32 dims: [ 3 ] }} ]
output [ {{ name: "probabilities" data_type: TYPE_FP32 dims: [ {classes} ] }} ]
"""


def write_classifier_version(
    repo: Path, version: int, num_labels: int, metadata_labels: int | None = None
) -> Path:
    """A (batch, 3) -> (batch, num_labels) MatMul graph whose metadata lists num_labels labels."""
    folder = repo / "classifier"
    (folder / str(version)).mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", num_labels])
    weight = helper.make_tensor("w", TensorProto.FLOAT, [3, num_labels], [1.0] * (3 * num_labels))
    node = helper.make_node("MatMul", ["x", "w"], ["probabilities"])
    graph = helper.make_graph([node], "classifier", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    labels = [f"food {i}" for i in range(num_labels if metadata_labels is None else metadata_labels)]
    helper.set_model_props(model, {"labels": json.dumps(labels), "version": json.dumps(version)})
    onnx.save(model, folder / str(version) / "model.onnx")
    return folder


def test_a_variable_class_axis_serves_versions_with_different_label_counts(tmp_path: Path) -> None:
    # What a retrained recognizer version beside the shipped one writes (vision_export.write_triton_config).
    write_classifier_version(tmp_path, 1, num_labels=2)
    folder = write_classifier_version(tmp_path, 2, num_labels=4)
    (folder / "config.pbtxt").write_text(CLASSIFIER_CONFIG.format(classes=-1))
    model, session = load_model(folder)
    assert model.version == 2
    assert model.outputs[0].shape == (-1, -1)
    (probabilities,) = session.run(None, {"x": np.ones((5, 3), dtype=np.float32)})
    assert probabilities.shape == (5, 4)
    assert load_model(folder, pinned_version=1)[0].version == 1


def test_an_explicit_class_count_that_differs_from_the_labels_stops_start_up(tmp_path: Path) -> None:
    write_classifier_version(tmp_path, 1, num_labels=2)
    folder = write_classifier_version(tmp_path, 2, num_labels=4)
    (folder / "config.pbtxt").write_text(CLASSIFIER_CONFIG.format(classes=2))
    with pytest.raises(
        ModelRepositoryError, match=r"shape \[-1, 2\] per config.pbtxt .* but \[-1, 4\] in the ONNX graph"
    ):
        load_model(folder)
    # The graph's count is only taken where config.pbtxt leaves the axis open.
    assert load_model(folder, pinned_version=1)[0].version == 1


def test_a_variable_class_axis_still_checks_the_labels_against_the_graph(tmp_path: Path) -> None:
    folder = write_classifier_version(tmp_path, 1, num_labels=4, metadata_labels=3)
    (folder / "config.pbtxt").write_text(CLASSIFIER_CONFIG.format(classes=-1))
    with pytest.raises(ModelRepositoryError, match="3 labels but no output has 3 classes"):
        load_model(folder)
