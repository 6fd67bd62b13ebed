"""config.pbtxt of a repository holding retrained versions: every version must match it."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from training.vision_export import ModelVersionError, write_triton_config


def _version(model_dir: Path, version: int, labels: int) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["probabilities"])],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, labels])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, labels])],
    )
    model = helper.make_model(graph)
    helper.set_model_props(model, {"labels": json.dumps([f"class {k}" for k in range(labels)])})
    (model_dir / str(version)).mkdir(parents=True)
    onnx.save(model, str(model_dir / str(version) / "model.onnx"))


def _probabilities_dims(config: str) -> str:
    after = config[config.index('name: "probabilities"') :]
    return after[after.index("dims:") : after.index("]") + 1]


def test_versions_with_one_label_count_keep_an_exact_class_axis(tmp_path: Path) -> None:
    _version(tmp_path, 2, labels=6)
    _version(tmp_path, 3, labels=6)
    config = write_triton_config(tmp_path, 1280, 224).read_text()
    assert _probabilities_dims(config) == "dims: [ 6 ]"
    assert "dims: [ 224, 224, 3 ]" in config and "dims: [ 1280 ]" in config


def test_versions_with_different_label_counts_get_a_variable_class_axis(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _version(tmp_path, 1, labels=97)
    _version(tmp_path, 2, labels=6)
    config = write_triton_config(tmp_path, 1280, 224).read_text()
    assert _probabilities_dims(config) == "dims: [ -1 ]"
    assert "versions with [6, 97] labels" in caplog.text


def test_a_version_folder_without_a_labelled_model_is_a_named_error(tmp_path: Path) -> None:
    _version(tmp_path, 1, labels=3)
    (tmp_path / "2").mkdir()
    with pytest.raises(ModelVersionError, match=r"2/model.onnx is missing"):
        write_triton_config(tmp_path, 1280, 224)
