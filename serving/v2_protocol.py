"""The Open Inference Protocol (KServe V2) inference messages: JSON tensors and the binary-tensor extension.

Binary extension: the body is a JSON header of `Inference-Header-Content-Length` bytes followed by the raw
tensors, in order, of every input (or output) whose parameters carry `binary_data_size`. BYTES elements are
each a 4-byte little-endian length followed by the bytes. Used by the server routes and the remote client.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mealimpact.model_repository.config import numpy_dtype
from mealimpact.model_repository.loading import TensorSpec
from serving.schemas.closed import ClosedModel

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_CONTENT_TYPE = "application/octet-stream"
JSON_CONTENT_TYPE = "application/json"
# A byte count of at most 18 digits: longer strings are no length (and int() of 5000 digits raises).
_BYTE_COUNT = re.compile(r"^[0-9]{1,18}$")
_NUMPY_TO_V2 = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "object": "BYTES",
    "bytes": "BYTES",
}


class InferenceProtocolError(ValueError):
    """An inference request or response does not follow the protocol (the message says where)."""


class TensorMessage(BaseModel):
    """One tensor of a request or response; `data` is absent when the tensor travels as binary."""

    model_config = ConfigDict(strict=True)  # a shape of ["1"] or [true] is refused, not coerced
    name: str = Field(min_length=1)
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    data: list[Any] | None = None


class InputTensor(TensorMessage, ClosedModel):
    """A request's tensor: an unknown key is refused (the protocol's open objects are the `parameters`)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class RequestedOutput(ClosedModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)


class InferRequestMessage(ClosedModel):
    """An infer request: unknown keys are refused at every level but inside `parameters` (open objects in
    the protocol, for extensions such as `binary_data_output`); a response from a remote server is read leniently."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "1",
                    "inputs": [
                        {"name": "image", "shape": [1, 2, 2, 3], "datatype": "UINT8", "data": [0] * 12}
                    ],
                    "outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}],
                }
            ]
        },
    )

    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: list[InputTensor] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = None


class InferResponseMessage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_name": "glucose_forecast",
                    "model_version": "1",
                    "id": "1",
                    "outputs": [
                        {"name": "glucose_mg_dl", "shape": [1, 1], "datatype": "FP32", "data": [112.5]}
                    ],
                }
            ]
        }
    )

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    outputs: list[TensorMessage]


@dataclass(frozen=True)
class InferRequest:
    """A decoded request: the input arrays and which outputs to send back, and how."""

    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: tuple[str, ...] | None  # None = every output
    binary_outputs: frozenset[str]
    binary_by_default: bool


def v2_datatype(array: np.ndarray) -> str:
    kind = "bytes" if array.dtype.kind in "SU" else array.dtype.name
    if kind not in _NUMPY_TO_V2:
        raise InferenceProtocolError(
            f"arrays of dtype {array.dtype} have no Open Inference Protocol datatype"
        )
    return _NUMPY_TO_V2[kind]


def _element_count(shape: Sequence[int], name: str) -> int:
    if any(d < 0 for d in shape):
        raise InferenceProtocolError(f"tensor {name}: shape {list(shape)} has a negative dimension")
    return math.prod(shape)


def _bytes_from_raw(raw: bytes, count: int, name: str) -> npt.NDArray[np.object_]:
    items: list[bytes] = []
    at = 0
    for _ in range(count):
        if at + 4 > len(raw):
            raise InferenceProtocolError(f"tensor {name}: binary BYTES data ends inside an element length")
        length = int.from_bytes(raw[at : at + 4], "little")
        at += 4
        if at + length > len(raw):
            raise InferenceProtocolError(f"tensor {name}: binary BYTES element runs past the data")
        items.append(raw[at : at + length])
        at += length
    if at != len(raw):
        raise InferenceProtocolError(
            f"tensor {name}: {len(raw) - at} bytes left after {count} BYTES elements"
        )
    return np.array(items, dtype=np.object_)


def tensor_from_raw(raw: bytes, datatype: str, shape: Sequence[int], name: str) -> np.ndarray:
    """Decode one binary tensor."""
    count = _element_count(shape, name)
    if datatype == "BYTES":
        return _bytes_from_raw(raw, count, name).reshape(shape)
    dtype = _dtype(datatype, name)
    if len(raw) != count * dtype.itemsize:
        raise InferenceProtocolError(
            f"tensor {name}: {len(raw)} bytes of binary data, expected {count * dtype.itemsize} for "
            f"{datatype} {list(shape)}"
        )
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)


def tensor_to_raw(array: np.ndarray) -> bytes:
    """Encode one tensor for the binary extension (little-endian, row-major)."""
    if v2_datatype(array) == "BYTES":
        parts = []
        for item in array.reshape(-1):
            data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
            parts.append(len(data).to_bytes(4, "little") + data)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _dtype(datatype: str, name: str) -> np.dtype:
    try:
        return numpy_dtype(datatype)
    except KeyError as err:
        raise InferenceProtocolError(f"tensor {name}: unknown datatype {datatype!r}") from err


def tensor_from_json(message: TensorMessage) -> np.ndarray:
    """Decode one JSON tensor (`data` flat row-major, nested lists accepted)."""
    count = _element_count(message.shape, message.name)
    flat = np.array(message.data, dtype=object).reshape(-1) if message.data else np.array([], dtype=object)
    if flat.size != count:
        raise InferenceProtocolError(
            f"tensor {message.name}: {flat.size} values for shape {message.shape} ({count} expected)"
        )
    if message.datatype == "BYTES":
        items = [v.encode("utf-8") if isinstance(v, str) else v for v in flat]
        if not all(isinstance(v, bytes) for v in items):
            raise InferenceProtocolError(f"tensor {message.name}: BYTES data must be strings")
        return np.array(items, dtype=np.object_).reshape(message.shape)
    dtype = _dtype(message.datatype, message.name)
    kinds = (bool,) if dtype.kind == "b" else (int, float) if dtype.kind == "f" else (int,)
    if not all(isinstance(v, kinds) and (dtype.kind == "b" or not isinstance(v, bool)) for v in flat):
        raise InferenceProtocolError(f"tensor {message.name}: data must all be {message.datatype} values")
    try:
        with np.errstate(over="raise", invalid="raise"):
            array = flat.astype(dtype).reshape(message.shape)
    except (OverflowError, FloatingPointError) as err:
        raise InferenceProtocolError(
            f"tensor {message.name}: a value does not fit {message.datatype}"
        ) from err
    if dtype.kind == "f" and not np.isfinite(array).all():
        # JSON has no NaN or Infinity (a value like 1e39 overflows FP32 to Infinity); binary data may.
        raise InferenceProtocolError(
            f"tensor {message.name}: JSON data must be finite numbers within {message.datatype}"
        )
    return array


def tensor_to_json(array: np.ndarray, name: str = "tensor") -> list[Any]:
    """Flat JSON values; refuses non-finite floats, which JSON cannot carry (binary data can)."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InferenceProtocolError(
            f"output {name} holds NaN or infinite values, which JSON cannot carry; "
            "ask for it with binary_data"
        )
    if v2_datatype(array) == "BYTES":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
    return array.reshape(-1).tolist()


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tail of a message."""
    if header_length is None:
        return body, b""
    if not _BYTE_COUNT.match(header_length) or int(header_length) > len(body):
        raise InferenceProtocolError(
            f"{HEADER_LENGTH} must be a byte count no larger than the body ({len(body)} bytes)"
        )
    return body[: int(header_length)], body[int(header_length) :]


def _tensors(messages: Sequence[TensorMessage], tail: bytes) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    at = 0
    for message in messages:
        size = message.parameters.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or at + size > len(tail):
                raise InferenceProtocolError(
                    f"tensor {message.name}: binary_data_size {size!r} is past the body"
                )
            arrays[message.name] = tensor_from_raw(
                tail[at : at + size], message.datatype, message.shape, message.name
            )
            at += size
        elif message.data is None:
            raise InferenceProtocolError(f"tensor {message.name} has neither data nor binary_data_size")
        else:
            arrays[message.name] = tensor_from_json(message)
    if at != len(tail):
        raise InferenceProtocolError(f"{len(tail) - at} bytes of binary data are not claimed by any tensor")
    return arrays


def decode_request(body: bytes, header_length: str | None) -> InferRequest:
    """Parse an infer request body (JSON, or JSON + binary tensors)."""
    header, tail = split_body(body, header_length)
    try:
        message = InferRequestMessage.model_validate_json(header)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InferenceProtocolError(f"invalid inference request at {where}: {first['msg']}") from err
    names = [t.name for t in message.inputs]
    if len(set(names)) != len(names):
        raise InferenceProtocolError(f"input names repeat: {names}")
    outputs = None if message.outputs is None else tuple(o.name for o in message.outputs)
    # `binary_data_output` is the default for every output; an output's own `binary_data` overrides it.
    by_default = message.parameters.get("binary_data_output") is True
    binary = frozenset(
        o.name for o in message.outputs or () if o.parameters.get("binary_data", by_default) is True
    )
    return InferRequest(
        id=message.id,
        inputs=_tensors(message.inputs, tail),
        outputs=outputs,
        binary_outputs=binary,
        binary_by_default=by_default,
    )


def check_inputs(
    model_name: str, specs: Sequence[TensorSpec], inputs: Mapping[str, np.ndarray], max_batch_size: int
) -> None:
    """Names, datatypes and shapes of the inputs against the model's declared inputs."""
    expected = {s.name: s for s in specs}
    if set(inputs) != set(expected):
        raise InferenceProtocolError(
            f"model {model_name} takes inputs {sorted(expected)}, got {sorted(inputs)}"
        )
    for name, array in inputs.items():
        spec = expected[name]
        if v2_datatype(array) != spec.datatype:
            raise InferenceProtocolError(f"input {name} must be {spec.datatype}, got {v2_datatype(array)}")
        if len(array.shape) != len(spec.shape) or any(
            d != s and s != -1 for d, s in zip(array.shape, spec.shape, strict=True)
        ):
            raise InferenceProtocolError(
                f"input {name} must have shape {list(spec.shape)}, got {list(array.shape)}"
            )
        if max_batch_size > 0 and not 1 <= array.shape[0] <= max_batch_size:
            raise InferenceProtocolError(
                f"input {name}: batch of {array.shape[0]}, allowed 1..{max_batch_size}"
            )


def encode_response(
    model_name: str, model_version: str, request: InferRequest, outputs: Mapping[str, np.ndarray]
) -> tuple[bytes, dict[str, str]]:
    """The response body and headers; binary when any requested output asks for it."""
    names = request.outputs if request.outputs is not None else tuple(outputs)
    messages: list[dict[str, Any]] = []
    tail: list[bytes] = []
    for name in names:
        array = outputs[name]
        message: dict[str, Any] = {"name": name, "datatype": v2_datatype(array), "shape": list(array.shape)}
        if name in request.binary_outputs or (request.binary_by_default and request.outputs is None):
            raw = tensor_to_raw(array)
            message["parameters"] = {"binary_data_size": len(raw)}
            tail.append(raw)
        else:
            message["data"] = tensor_to_json(array, name)
        messages.append(message)
    response = {"model_name": model_name, "model_version": model_version, "outputs": messages}
    if request.id is not None:
        response["id"] = request.id
    header = json.dumps(response, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if not tail:
        return header, {"content-type": JSON_CONTENT_TYPE}
    return header + b"".join(tail), {"content-type": BINARY_CONTENT_TYPE, HEADER_LENGTH: str(len(header))}


def encode_request(
    inputs: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
) -> tuple[bytes, dict[str, str]]:
    """A binary infer request asking for binary outputs: what the remote backend sends."""
    messages = []
    tail = []
    for name, array in inputs.items():
        raw = tensor_to_raw(array)
        messages.append(
            {
                "name": name,
                "datatype": v2_datatype(array),
                "shape": list(array.shape),
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        tail.append(raw)
    request: dict[str, Any] = {"inputs": messages}
    if outputs is None:
        request["parameters"] = {"binary_data_output": True}
    else:
        request["outputs"] = [{"name": name, "parameters": {"binary_data": True}} for name in outputs]
    header = json.dumps(request, separators=(",", ":")).encode("utf-8")
    headers = {"content-type": BINARY_CONTENT_TYPE, HEADER_LENGTH: str(len(header))}
    return header + b"".join(tail), headers


def decode_response(body: bytes, header_length: str | None) -> dict[str, np.ndarray]:
    """The output arrays of an infer response (JSON or binary)."""
    header, tail = split_body(body, header_length)
    try:
        message = InferResponseMessage.model_validate_json(header)
    except ValidationError as err:
        raise InferenceProtocolError(f"invalid inference response: {err.errors()[0]['msg']}") from err
    return _tensors(message.outputs, tail)
