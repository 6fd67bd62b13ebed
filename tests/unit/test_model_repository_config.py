"""config.pbtxt parser: the Triton text-proto subset, and clear errors for everything else."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mealimpact.model_repository.config import (
    ModelConfigError,
    format_model_config,
    parse_model_config,
    write_model_config,
)

MODELS = Path(__file__).resolve().parents[2] / "models"

TRITON_CONFIG = """
# as Triton's docs write it
name: "food_recognizer"
backend: "onnxruntime"
max_batch_size: 32
input [
  { name: "image", data_type: TYPE_UINT8, dims: [ 224, 224, 3 ] }
]
output [
  { name: "probabilities" data_type: TYPE_FP32 dims: [ 101 ] },
  { name: "carbs_g" data_type: TYPE_FP32 dims: [ 3 ] }
]
dynamic_batching { max_queue_delay_microseconds: 2000 preferred_batch_size: [ 4, 8 ] }
instance_group [ { count: 1 kind: KIND_CPU } ]
"""


def test_parses_the_fields_triton_uses() -> None:
    config = parse_model_config(TRITON_CONFIG)
    assert config.name == "food_recognizer"
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 32
    assert [(t.name, t.data_type, t.dims) for t in config.inputs] == [("image", "TYPE_UINT8", (224, 224, 3))]
    assert [t.name for t in config.outputs] == ["probabilities", "carbs_g"]
    assert config.outputs[0].v2_datatype == "FP32"
    assert config.dynamic_batching and config.max_queue_delay_us == 2000
    assert config.full_shape(config.inputs[0]) == (-1, 224, 224, 3)


def test_repeated_scalar_fields_angle_brackets_and_platform() -> None:
    text = 'name: "m" platform: "onnxruntime_onnx" input < name: "x" data_type: TYPE_INT64 dims: 4 dims: -1 >'
    text += ' output { name: "y" data_type: TYPE_STRING dims: [1] }'
    config = parse_model_config(text)
    assert config.max_batch_size == 0 and not config.dynamic_batching
    assert config.inputs[0].dims == (4, -1)
    assert config.full_shape(config.inputs[0]) == (4, -1)  # no batch dimension when max_batch_size is 0
    assert config.outputs[0].v2_datatype == "BYTES"


def test_reshape_separates_the_client_shape_from_the_graph_shape() -> None:
    text = 'name: "m" backend: "onnxruntime" max_batch_size: 4 input [ { name: "x" data_type: TYPE_FP32 dims: [2] } ]'
    text += ' output [ { name: "p" data_type: TYPE_FP32 dims: [ 1 ] reshape: { shape: [ ] } } ]'
    config = parse_model_config(text)
    assert config.outputs[0].reshape == ()
    assert config.full_shape(config.outputs[0]) == (-1, 1)
    assert config.graph_shape(config.outputs[0]) == (-1,)
    assert config.graph_shape(config.inputs[0]) == config.full_shape(config.inputs[0]) == (-1, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'name: "m" input [ { name: "x" data_type: TYPE_FP32 dims: [1] } ]',
            "neither a platform nor a backend",
        ),
        (
            'name: "m" backend: "onnxruntime" input [ { name: "x" data_type: TYPE_FP32 dims: [1] } ]',
            "at least one",
        ),
        (
            'name: "m" backend: "onnxruntime" input [ { name: "x" data_type: TYPE_FP99 dims: [1] } ]',
            "TYPE_FP99",
        ),
        ('name: "m" backend: "onnxruntime" input [ { name: "x" data_type: TYPE_FP32 dims: [0] } ]', "dims"),
        ('name: "m" backend: "onnxruntime" input [ { name: "x"', "ends early"),
        ('name: "m" max_batch_size: "8" backend: "onnxruntime"', "max_batch_size must be a int"),
        ("name: @", "unexpected text"),
    ],
)
def test_invalid_configs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ModelConfigError, match=message):
        parse_model_config(text)


@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_model_config_error(text: str) -> None:
    with contextlib.suppress(ModelConfigError):
        parse_model_config(text)


@settings(max_examples=30, deadline=None)
@given(
    name=st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True),
    dims=st.lists(st.integers(min_value=-1, max_value=4096).filter(lambda d: d != 0), min_size=1, max_size=4),
    batch=st.integers(min_value=0, max_value=256),
)
def test_generated_configs_round_trip(name: str, dims: list[int], batch: int) -> None:
    text = (
        f'name: "{name}"\nbackend: "onnxruntime"\nmax_batch_size: {batch}\n'
        f'input [ {{ name: "in" data_type: TYPE_FP32 dims: {dims} }} ]\n'
        f'output [ {{ name: "out" data_type: TYPE_FP16 dims: {dims} }} ]\n'
    )
    config = parse_model_config(text)
    assert (config.name, config.max_batch_size, config.inputs[0].dims) == (name, batch, tuple(dims))


@pytest.mark.parametrize("path", sorted(MODELS.glob("*/config.pbtxt")), ids=lambda p: p.parent.name)
def test_every_shipped_config_reads_back_as_written(path: Path) -> None:
    parsed = parse_model_config(path.read_text())
    assert parse_model_config(format_model_config(parsed)) == parsed


def test_the_writer_and_the_parser_agree() -> None:
    parsed = parse_model_config(TRITON_CONFIG)
    text = format_model_config(parsed)
    assert parse_model_config(text) == parsed
    assert 'platform: "onnxruntime_onnx"' in text and "backend" not in text
    assert parsed.cpu_instances == 1 and "instance_group [ { count: 1 kind: KIND_CPU } ]" in text


def test_write_model_config_refuses_a_folder_named_otherwise(tmp_path: Path) -> None:
    config = parse_model_config(TRITON_CONFIG)
    with pytest.raises(ModelConfigError, match="folder"):
        write_model_config(tmp_path / "other", config)
    path = write_model_config(tmp_path / config.name, config)
    assert parse_model_config(path.read_text()) == config
