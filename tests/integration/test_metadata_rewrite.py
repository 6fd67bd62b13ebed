"""`mealimpact export rewrite-metadata`: a file written before the schema comes back as the shipped one, weights checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("torch")

from training.metadata_rewrite import rewrite_config, rewrite_model  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "glucose_forecast"


def _props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def test_a_file_from_before_the_schema_is_rewritten_once_to_the_shipped_metadata(tmp_path: Path) -> None:
    shipped = SHIPPED / "5" / "model.onnx"
    legacy = onnx.load(str(shipped))
    props = {k: v for k, v in _props(shipped).items() if k not in ("metadata_schema", "kind")}
    props["sha256"] = props.pop("weights_sha256")  # as version 5 was first written
    props["train_config"] = props.pop("training_config")
    del legacy.metadata_props[:]
    onnx.helper.set_model_props(legacy, props)
    path = tmp_path / "glucose_forecast" / "5" / "model.onnx"
    path.parent.mkdir(parents=True)
    onnx.save(legacy, str(path))

    first = rewrite_model(path, "forecast")
    assert first.changed and first.renamed == ("sha256 -> weights_sha256", "train_config -> training_config")
    assert first.added == ("metadata_schema", "kind") and first.output_values == 2 * 4 * 3
    assert path.read_bytes() == shipped.read_bytes()  # the same file as the shipped one, byte for byte
    again = rewrite_model(path, "forecast")
    assert not again.changed and again.unchanged_sha256 == first.unchanged_sha256


def test_config_pbtxt_is_rewritten_by_the_one_writer_once(tmp_path: Path) -> None:
    folder = tmp_path / "glucose_forecast"
    shutil.copytree(SHIPPED, folder, ignore=shutil.ignore_patterns("*.png", "*.md"))
    text = (folder / "config.pbtxt").read_text()
    (folder / "config.pbtxt").write_text(
        text.replace('platform: "onnxruntime_onnx"', 'backend: "onnxruntime"')
    )
    assert rewrite_config(folder)
    assert (folder / "config.pbtxt").read_text() == text
    assert not rewrite_config(folder)
    assert json.loads(_props(folder / "5" / "model.onnx")["kind"]) == "forecast"
