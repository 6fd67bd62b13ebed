"""Triton's `config.pbtxt`: the writer every exporter uses and a parser for the text-proto subset.

Covers name, platform/backend, max_batch_size, input/output (name, data_type, dims, reshape),
dynamic_batching and instance_group; other scalar or message fields are read past, unvalidated, so
Triton and this server read one file. The writer spells the platform one way, `onnxruntime_onnx`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ONNX_PLATFORM = "onnxruntime_onnx"  # Triton's platform name; `backend: "onnxruntime"` reads as this too

# Triton config data types -> Open Inference Protocol datatypes -> numpy.
CONFIG_TO_V2_DATATYPE = {
    "TYPE_BOOL": "BOOL",
    "TYPE_UINT8": "UINT8",
    "TYPE_UINT16": "UINT16",
    "TYPE_UINT32": "UINT32",
    "TYPE_UINT64": "UINT64",
    "TYPE_INT8": "INT8",
    "TYPE_INT16": "INT16",
    "TYPE_INT32": "INT32",
    "TYPE_INT64": "INT64",
    "TYPE_FP16": "FP16",
    "TYPE_FP32": "FP32",
    "TYPE_FP64": "FP64",
    "TYPE_STRING": "BYTES",
}

_TOKEN = re.compile(
    r"""\s*(?:(?P<comment>\#[^\n]*)|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    |(?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+))|(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    |(?P<punct>[{}\[\]:,;<>]))""",
    re.VERBOSE,
)

Value = str | int | float | bool | dict[str, list["Value"]]


class ModelConfigError(ValueError):
    """config.pbtxt is not valid text proto, or lacks a field the server needs."""


@dataclass(frozen=True)
class TensorConfig:
    """One input or output; `dims` excludes the batch dimension when max_batch_size > 0 (Triton's rule)."""

    name: str
    data_type: str  # TYPE_FP32 ...
    dims: tuple[int, ...]  # -1 = variable; the shape clients see
    reshape: tuple[int, ...] | None = None  # the shape the ONNX graph has, when it differs from dims

    @property
    def v2_datatype(self) -> str:
        return CONFIG_TO_V2_DATATYPE[self.data_type]


@dataclass(frozen=True)
class ModelConfig:
    name: str
    platform: str  # "onnxruntime_onnx" (from platform, or from backend "onnxruntime")
    max_batch_size: int
    inputs: tuple[TensorConfig, ...]
    outputs: tuple[TensorConfig, ...]
    dynamic_batching: bool
    max_queue_delay_us: int  # dynamic_batching.max_queue_delay_microseconds, 0 when absent
    cpu_instances: int = 0  # instance_group { count kind: KIND_CPU }; 0 = not stated (the engine decides)

    def full_shape(self, tensor: TensorConfig) -> tuple[int, ...]:
        """The shape clients see (V2 metadata and tensors): batch dimension first when batched."""
        return ((-1,) if self.max_batch_size > 0 else ()) + tensor.dims

    def graph_shape(self, tensor: TensorConfig) -> tuple[int, ...]:
        """The shape of the ONNX graph's tensor: `reshape` instead of `dims` where one is given."""
        return ((-1,) if self.max_batch_size > 0 else ()) + (
            tensor.dims if tensor.reshape is None else tensor.reshape
        )


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            return
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            line = text.count("\n", 0, position) + 1
            raise ModelConfigError(
                f"config.pbtxt line {line}: unexpected text {text[position : position + 20]!r}"
            )
        position = match.end()
        kind = match.lastgroup
        if kind is not None and kind != "comment":
            yield kind, match.group(kind)


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens = list(_tokens(text))
        self._at = 0

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _next(self, what: str) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ModelConfigError(f"config.pbtxt ends early: expected {what}")
        self._at += 1
        return token

    def message(self, closing: str | None) -> dict[str, list[Value]]:
        fields: dict[str, list[Value]] = {}
        while True:
            token = self._peek()
            if token is None:
                if closing is not None:
                    raise ModelConfigError(f"config.pbtxt ends early: expected {closing!r}")
                return fields
            if token == ("punct", closing):
                self._at += 1
                return fields
            if token[1] in (",", ";"):
                self._at += 1
                continue
            kind, name = self._next("a field name")
            if kind != "ident":
                raise ModelConfigError(f"config.pbtxt: expected a field name, got {name!r}")
            fields.setdefault(name, []).extend(self._field_value(name))

    def _field_value(self, name: str) -> list[Value]:
        token = self._next(f"a value for {name}")
        if token == ("punct", ":"):
            token = self._next(f"a value for {name}")
        if token[1] in ("{", "<"):
            return [self.message("}" if token[1] == "{" else ">")]
        if token == ("punct", "["):
            values: list[Value] = []
            while True:
                item = self._next(f"']' closing {name}")
                if item == ("punct", "]"):
                    return values
                if item == ("punct", ","):
                    continue
                values.append(self.message("}") if item[1] == "{" else _scalar(item, name))
        return [_scalar(token, name)]


def _scalar(token: tuple[str, str], name: str) -> Value:
    kind, text = token
    if kind == "string":
        return text[1:-1]
    if kind == "number":
        return float(text) if any(c in text for c in ".eE") else int(text)
    if kind == "ident":
        return {"true": True, "false": False}.get(text, text)
    raise ModelConfigError(f"config.pbtxt: unexpected {text!r} as the value of {name}")


def _one(fields: dict[str, list[Value]], name: str, kind: type, default: object = None) -> object:
    values = fields.get(name, [])
    if not values:
        if default is None:
            raise ModelConfigError(f"config.pbtxt has no {name}")
        return default
    value = values[-1]
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ModelConfigError(f"config.pbtxt: {name} must be a {kind.__name__}, got {value!r}")
    return value


def _tensor(fields: Value, section: str) -> TensorConfig:
    if not isinstance(fields, dict):
        raise ModelConfigError(f"config.pbtxt: each {section} must be a {{...}} block")
    name = str(_one(fields, "name", str))
    data_type = str(_one(fields, "data_type", str))
    if data_type not in CONFIG_TO_V2_DATATYPE:
        raise ModelConfigError(f"config.pbtxt: {section} {name} has unknown data_type {data_type}")
    dims = fields.get("dims", [])
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= -1 and d != 0 for d in dims):
        raise ModelConfigError(f"config.pbtxt: {section} {name} dims must be positive integers or -1: {dims}")
    reshape = None
    for block in fields.get("reshape", [])[-1:]:
        shape = block.get("shape", []) if isinstance(block, dict) else None
        if shape is None or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape
        ):
            raise ModelConfigError(f"config.pbtxt: {section} {name} reshape must be {{ shape: [ ... ] }}")
        reshape = tuple(int(d) for d in shape)  # type: ignore[arg-type]
    return TensorConfig(
        name=name,
        data_type=data_type,
        dims=tuple(int(d) for d in dims),  # type: ignore[arg-type]
        reshape=reshape,
    )


def parse_model_config(text: str) -> ModelConfig:
    """Parse config.pbtxt text; raises `ModelConfigError` saying what is wrong and where."""
    fields = _Parser(text).message(None)
    platform = str(_one(fields, "platform", str, default="-"))
    backend = str(_one(fields, "backend", str, default="-"))
    if platform == "-" and backend == "-":
        raise ModelConfigError("config.pbtxt names neither a platform nor a backend")
    if platform == "-":
        platform = f"{backend}_onnx" if backend == "onnxruntime" else backend
    batching = fields.get("dynamic_batching", [])
    delay = 0
    if batching and isinstance(batching[-1], dict):
        delay = int(_one(batching[-1], "max_queue_delay_microseconds", int, default=0))  # type: ignore[call-overload]
    cpu_instances = 0
    for group in fields.get("instance_group", []):
        if isinstance(group, dict) and _one(group, "kind", str, default="KIND_CPU") == "KIND_CPU":
            cpu_instances += int(_one(group, "count", int, default=1))  # type: ignore[call-overload]
    max_batch_size = int(_one(fields, "max_batch_size", int, default=0))  # type: ignore[call-overload]
    if max_batch_size < 0:
        raise ModelConfigError(f"config.pbtxt: max_batch_size must be >= 0, got {max_batch_size}")
    inputs = tuple(_tensor(t, "input") for t in fields.get("input", []))
    outputs = tuple(_tensor(t, "output") for t in fields.get("output", []))
    if not inputs or not outputs:
        raise ModelConfigError("config.pbtxt must list at least one input and one output")
    return ModelConfig(
        name=str(_one(fields, "name", str)),
        platform=platform,
        max_batch_size=max_batch_size,
        inputs=inputs,
        outputs=outputs,
        dynamic_batching=bool(batching),
        max_queue_delay_us=delay,
        cpu_instances=cpu_instances,
    )


def _dims(shape: tuple[int, ...]) -> str:
    return f"[ {', '.join(str(d) for d in shape)} ]" if shape else "[ ]"


def _tensor_line(tensor: TensorConfig) -> str:
    line = f'  {{ name: "{tensor.name}" data_type: {tensor.data_type} dims: {_dims(tensor.dims)}'
    if tensor.reshape is not None:
        line += f" reshape: {{ shape: {_dims(tensor.reshape)} }}"
    return line + " }"


def format_model_config(config: ModelConfig) -> str:
    """config.pbtxt text of `config`; `parse_model_config` reads it back to the same `ModelConfig`."""
    lines = [
        f'name: "{config.name}"',
        f'platform: "{config.platform}"',
        f"max_batch_size: {config.max_batch_size}",
        "input [",
        ",\n".join(_tensor_line(t) for t in config.inputs),
        "]",
        "output [",
        ",\n".join(_tensor_line(t) for t in config.outputs),
        "]",
    ]
    if config.dynamic_batching:
        delay = config.max_queue_delay_us
        lines.append(
            f"dynamic_batching {{ max_queue_delay_microseconds: {delay} }}"
            if delay
            else "dynamic_batching { }"
        )
    if config.cpu_instances:
        lines.append(f"instance_group [ {{ count: {config.cpu_instances} kind: KIND_CPU }} ]")
    return "\n".join(lines) + "\n"


def write_model_config(model_dir: Path, config: ModelConfig) -> Path:
    """Write `model_dir/config.pbtxt` (the folder must be named as the model) and return its path."""
    if model_dir.name != config.name:
        raise ModelConfigError(f"config.pbtxt names {config.name!r} but its folder is {model_dir.name!r}")
    text = format_model_config(config)
    if parse_model_config(text) != config:  # a name or type the text cannot carry
        raise ModelConfigError(f"config.pbtxt of {config.name} does not read back as written")
    path = model_dir / "config.pbtxt"
    model_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def numpy_dtype(v2_datatype: str) -> np.dtype:
    """numpy dtype of an Open Inference Protocol datatype (BYTES -> object)."""
    return np.dtype(object) if v2_datatype == "BYTES" else np.dtype(_V2_TO_NUMPY[v2_datatype])


_V2_TO_NUMPY = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}
