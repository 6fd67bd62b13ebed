"""Open Inference Protocol codec: JSON and binary tensors, both directions, and its refusals."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mealimpact.model_repository.loading import TensorSpec
from serving.v2_protocol import (
    HEADER_LENGTH,
    InferenceProtocolError,
    check_inputs,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    tensor_from_raw,
    tensor_to_raw,
)

_DTYPES = st.sampled_from([np.uint8, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_])


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)))
def test_binary_request_round_trips_any_numeric_tensor(array: np.ndarray) -> None:
    body, headers = encode_request({"x": array}, ["y"])
    decoded = decode_request(body, headers[HEADER_LENGTH])
    np.testing.assert_array_equal(decoded.inputs["x"], array)
    assert decoded.inputs["x"].dtype == array.dtype
    assert decoded.outputs == ("y",) and decoded.binary_outputs == {"y"}


def test_json_request_with_nested_data_and_bytes() -> None:
    message = {
        "id": "7",
        "inputs": [
            {"name": "a", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4.5]]},
            {"name": "s", "shape": [2], "datatype": "BYTES", "data": ["rice", "bread"]},
        ],
    }
    decoded = decode_request(json.dumps(message).encode(), None)
    assert decoded.id == "7" and decoded.outputs is None and not decoded.binary_by_default
    np.testing.assert_array_equal(decoded.inputs["a"], np.array([[1, 2], [3, 4.5]], np.float32))
    assert decoded.inputs["s"].tolist() == [b"rice", b"bread"]


def test_bytes_tensor_binary_layout_is_length_prefixed() -> None:
    array = np.array([b"ab", b""], dtype=object)
    raw = tensor_to_raw(array)
    assert raw == b"\x02\x00\x00\x00ab\x00\x00\x00\x00"
    assert tensor_from_raw(raw, "BYTES", [2], "s").tolist() == [b"ab", b""]


def test_binary_matches_tritonclient_serialisation() -> None:
    utils = pytest.importorskip("tritonclient.utils")
    strings = np.array([b"pasta", b"salad"], dtype=object)
    assert tensor_to_raw(strings) == utils.serialize_byte_tensor(strings).item()


def test_response_binary_only_where_asked() -> None:
    request = decode_request(
        json.dumps(
            {
                "inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": [1]}],
                "outputs": [{"name": "p", "parameters": {"binary_data": True}}, {"name": "q"}],
            }
        ).encode(),
        None,
    )
    outputs: dict[str, np.ndarray] = {
        "p": np.arange(6, dtype=np.float32).reshape(2, 3),
        "q": np.array([1, 2], np.int64),
    }
    body, headers = encode_response("m", "1", request, outputs)
    assert headers["content-type"] == "application/octet-stream"
    header = json.loads(body[: int(headers[HEADER_LENGTH])])
    assert header["outputs"][0]["parameters"]["binary_data_size"] == 24 and "data" not in header["outputs"][0]
    assert header["outputs"][1]["data"] == [1, 2]
    decoded = decode_response(body, headers[HEADER_LENGTH])
    np.testing.assert_array_equal(decoded["p"], outputs["p"])


def test_binary_data_output_default_and_json_only_response() -> None:
    base = {"inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": [1]}]}
    request = decode_request(json.dumps({**base, "parameters": {"binary_data_output": True}}).encode(), None)
    _, headers = encode_response("m", "1", request, {"p": np.zeros(2, np.float32)})
    assert HEADER_LENGTH in headers
    body, headers = encode_response(
        "m", "1", decode_request(json.dumps(base).encode(), None), {"p": np.ones(2)}
    )
    assert HEADER_LENGTH not in headers and json.loads(body)["outputs"][0]["data"] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("message", "header_length", "error"),
    [
        (
            {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}]},
            None,
            "1 values for shape",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}]},
            None,
            "unknown datatype",
        ),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": ["a"]}]}, None, "INT32 values"),
        ({"inputs": [{"name": "x", "shape": [-1], "datatype": "INT32", "data": []}]}, None, "negative"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "INT32"}]}, None, "neither data"),
        ({"inputs": []}, None, "invalid inference request"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": [1]}]}, "999", "byte count"),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}
                ]
            },
            "header",
            "expected 8",
        ),
    ],
)
def test_malformed_requests_are_protocol_errors(message: dict, header_length: str | None, error: str) -> None:
    header = json.dumps(message).encode()
    body = header + (b"\x00" * 4 if header_length == "header" else b"")
    length = str(len(header)) if header_length == "header" else header_length
    with pytest.raises(InferenceProtocolError, match=error):
        decode_request(body, length)


@given(st.binary(max_size=300), st.one_of(st.none(), st.integers(0, 400).map(str)))
def test_arbitrary_bodies_raise_only_protocol_errors(body: bytes, header_length: str | None) -> None:
    with contextlib.suppress(InferenceProtocolError):
        decode_request(body, header_length)


def test_check_inputs_names_dtypes_shapes_and_batch() -> None:
    specs = (TensorSpec("image", "UINT8", (-1, 4, 4, 3)),)
    check_inputs("m", specs, {"image": np.zeros((2, 4, 4, 3), np.uint8)}, max_batch_size=8)
    with pytest.raises(InferenceProtocolError, match="takes inputs"):
        check_inputs("m", specs, {"img": np.zeros((1, 4, 4, 3), np.uint8)}, 8)
    with pytest.raises(InferenceProtocolError, match="must be UINT8"):
        check_inputs("m", specs, {"image": np.zeros((1, 4, 4, 3), np.float32)}, 8)
    with pytest.raises(InferenceProtocolError, match="shape"):
        check_inputs("m", specs, {"image": np.zeros((1, 5, 4, 3), np.uint8)}, 8)
    with pytest.raises(InferenceProtocolError, match="batch of 9"):
        check_inputs("m", specs, {"image": np.zeros((9, 4, 4, 3), np.uint8)}, 8)


@pytest.mark.parametrize("header_length", ["9" * 5000, "1" * 19, "²", "-1", "1e3", " 12"])
def test_absurd_header_lengths_are_protocol_errors(header_length: str) -> None:
    # int() of 5000 digits raised ValueError (a 500); non-ASCII digits passed str.isdigit().
    with pytest.raises(InferenceProtocolError, match=HEADER_LENGTH):
        decode_request(b'{"inputs": []}', header_length)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e39"])
def test_json_inputs_must_be_finite_within_their_datatype(value: str) -> None:
    body = f'{{"inputs":[{{"name":"x","shape":[1],"datatype":"FP32","data":[{value}]}}]}}'.encode()
    with pytest.raises(InferenceProtocolError, match=r"finite|does not fit"):
        decode_request(body, None)


def test_non_finite_outputs_go_binary_never_as_json_literals() -> None:
    outputs = {"y": np.array([np.nan, np.inf], np.float32)}
    as_json = decode_request(b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}', None)
    with pytest.raises(InferenceProtocolError, match="binary_data"):
        encode_response("m", "1", as_json, outputs)
    body, headers = encode_request({"x": np.ones(1, np.float32)}, ["y"])
    binary = decode_request(body, headers[HEADER_LENGTH])
    raw, raw_headers = encode_response("m", "1", binary, outputs)
    np.testing.assert_array_equal(decode_response(raw, raw_headers[HEADER_LENGTH])["y"], outputs["y"])
