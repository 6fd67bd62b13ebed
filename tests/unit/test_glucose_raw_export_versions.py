"""latest_network: the newest version of the repository whose graph takes features.py's arrays and the
history (what `export response-raw` puts the raw front in front of), listed by the repository's layout."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from glucose_model.features import INPUT_FEATURES
from glucose_model.personal import INPUT_HISTORY_FEATURES
from glucose_model.response_inputs import INPUT_RAW_CGM
from mealimpact.model_repository.config import format_model_config
from training.glucose_raw_export import (
    RawExportError,
    _write_config,
    latest_network,
    model_config,
    population_model_config,
)


def _graph(path: Path, inputs: list[str]) -> None:
    """A one-node ONNX file with these input names (enough for the scan, which reads only inputs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in inputs]
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", [inputs[0]], ["out"])], "g", values, [out])
    onnx.save_model(helper.make_model(graph), str(path))


def test_the_newest_personal_features_graph_is_found(tmp_path: Path) -> None:
    model_dir = tmp_path / "glucose_response"
    _graph(model_dir / "1" / "model.onnx", [INPUT_FEATURES])  # population: no history
    _graph(model_dir / "2" / "model.onnx", [INPUT_FEATURES, INPUT_HISTORY_FEATURES])
    _graph(model_dir / "9" / "model.onnx", [INPUT_FEATURES, INPUT_HISTORY_FEATURES])
    _graph(model_dir / "10" / "model.onnx", [INPUT_RAW_CGM])  # already raw
    (model_dir / "11").mkdir()  # a version folder without its file
    (model_dir / "notes").mkdir()
    assert latest_network(model_dir) == model_dir / "9" / "model.onnx"  # 9 < 10: numbers, not text


def test_no_personal_features_graph_is_a_named_error(tmp_path: Path) -> None:
    model_dir = tmp_path / "glucose_response"
    _graph(model_dir / "3" / "model.onnx", [INPUT_RAW_CGM])
    with pytest.raises(RawExportError, match="no personal response graph"):
        latest_network(model_dir)


def test_config_follows_the_newest_version_only(tmp_path: Path) -> None:
    """Writing version 3 beside a version 4 must not describe version 3 in the folder's config.pbtxt:
    the newest version would stop being servable (the README's train glucose, then export response-raw)."""
    model_dir = tmp_path / "glucose_response"
    for version in (3, 4):
        (model_dir / str(version)).mkdir(parents=True)
    _write_config(model_dir, 4, population_model_config())
    newest = (model_dir / "config.pbtxt").read_text(encoding="utf-8")
    _write_config(model_dir, 3, model_config())
    assert (model_dir / "config.pbtxt").read_text(encoding="utf-8") == newest
    _write_config(model_dir, 4, model_config())
    assert (model_dir / "config.pbtxt").read_text(encoding="utf-8") == format_model_config(model_config())
