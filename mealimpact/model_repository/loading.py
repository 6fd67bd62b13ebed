"""Loading one model of the repository, cross-checked (`<name>/config.pbtxt` + `<version>/model.onnx`).

A missing, corrupt or inconsistent model raises `ModelRepositoryError` at start-up: the config, the
ONNX graph and the ONNX metadata must agree on names, datatypes and dimensions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from mealimpact.model_repository.checksums import file_sha256
from mealimpact.model_repository.config import (
    ONNX_PLATFORM,
    ModelConfig,
    ModelConfigError,
    TensorConfig,
    parse_model_config,
)
from mealimpact.model_repository.layout import (
    CONFIG_FILE,
    MODEL_FILE,
    ModelRepositoryError,
    version_dir,
    versions,
)
from mealimpact.model_repository.metadata import ModelMetadataError, read_metadata
from mealimpact.model_repository.sessions import open_session

logger = logging.getLogger(__name__)

# ONNX Runtime's type strings -> Open Inference Protocol datatypes.
_ORT_TO_V2_DATATYPE = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


@dataclass(frozen=True)
class TensorSpec:
    """A tensor as the Open Inference Protocol describes it (shape includes the batch dimension)."""

    name: str
    datatype: str  # FP32, UINT8, BYTES ...
    shape: tuple[int, ...]  # -1 = variable


@dataclass(frozen=True)
class RepositoryModel:
    """One loaded, checked model version."""

    name: str
    version: int
    path: Path
    sha256: str
    config: ModelConfig
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: Mapping[str, str]  # ONNX metadata_props, values as written (JSON text)

    @property
    def platform(self) -> str:
        return self.config.platform

    def _reshaped(self, arrays: Mapping[str, np.ndarray], to_graph: bool) -> dict[str, np.ndarray]:
        tensors = {t.name: t for t in (*self.config.inputs, *self.config.outputs)}
        out = {}
        for name, array in arrays.items():
            tensor = tensors.get(name)
            if tensor is None or tensor.reshape is None:
                out[name] = array
                continue
            batch = (array.shape[0],) if self.config.max_batch_size > 0 else ()
            out[name] = array.reshape(batch + (tensor.reshape if to_graph else tensor.dims))
        return out

    def graph_arrays(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Tensors in client shapes (config dims) -> the ONNX graph's shapes (config reshape)."""
        return self._reshaped(arrays, to_graph=True)

    def api_arrays(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Tensors in the ONNX graph's shapes -> the shapes clients see (config dims)."""
        return self._reshaped(arrays, to_graph=False)

    def metadata_json(self) -> dict[str, object]:
        """metadata_props with each JSON value decoded (plain strings stay strings)."""
        decoded: dict[str, object] = {}
        for key, text in self.metadata.items():
            try:
                decoded[key] = json.loads(text)
            except json.JSONDecodeError:
                decoded[key] = text
        return decoded


def _check_tensors(
    name: str,
    section: str,
    config: ModelConfig,
    declared: Sequence[TensorConfig],
    graph: Sequence[ort.NodeArg],
) -> tuple[TensorSpec, ...]:
    graph_by_name = {arg.name: arg for arg in graph}
    declared_names = {t.name for t in declared}
    if section == "input" and declared_names != set(graph_by_name):
        raise ModelRepositoryError(
            f"{name}: config.pbtxt inputs {sorted(declared_names)} differ from the ONNX graph's "
            f"{sorted(graph_by_name)}; re-export the model or fix config.pbtxt"
        )
    specs = []
    for tensor in declared:
        arg = graph_by_name.get(tensor.name)
        if arg is None:
            raise ModelRepositoryError(
                f"{name}: config.pbtxt {section} {tensor.name!r} is not in the ONNX graph "
                f"(which has {sorted(graph_by_name)})"
            )
        graph_datatype = _ORT_TO_V2_DATATYPE.get(arg.type, arg.type)
        if graph_datatype != tensor.v2_datatype:
            raise ModelRepositoryError(
                f"{name}: {section} {tensor.name!r} is {tensor.data_type} in config.pbtxt but "
                f"{arg.type} in the ONNX graph"
            )
        shape = config.graph_shape(tensor)
        graph_shape = tuple(d if isinstance(d, int) else -1 for d in arg.shape)
        agree = len(graph_shape) == len(shape) and all(
            c == g or c == -1 or g == -1 for c, g in zip(shape, graph_shape, strict=True)
        )
        if not agree or (config.max_batch_size > 0 and graph_shape[0] not in (-1,)):
            raise ModelRepositoryError(
                f"{name}: {section} {tensor.name!r} has shape {list(shape)} per config.pbtxt "
                f"(batch first when max_batch_size > 0; reshape when given) but {list(graph_shape)} in the ONNX graph"
            )
        if tensor.reshape is not None and _count(tensor.dims) != _count(tensor.reshape):
            raise ModelRepositoryError(
                f"{name}: {section} {tensor.name!r} reshape {list(tensor.reshape)} "
                f"holds a different number of values than dims {list(tensor.dims)}"
            )
        specs.append(TensorSpec(tensor.name, tensor.v2_datatype, config.full_shape(tensor)))
    return tuple(specs)


def _count(shape: Sequence[int]) -> int:
    return int(np.prod([d for d in shape if d != -1], dtype=np.int64)) * (-1 if -1 in shape else 1)


def _check_metadata(
    name: str, metadata: Mapping[str, str], outputs: Sequence[TensorSpec], graph: Sequence[ort.NodeArg]
) -> None:
    if not metadata:
        raise ModelRepositoryError(
            f"{name}: the ONNX file has no metadata_props; export it with the project's exporter"
        )
    if "metadata_schema" in metadata:  # a file written with the schema is read by its kind's dataclass
        try:
            read_metadata(metadata)
        except ModelMetadataError as err:
            raise ModelRepositoryError(f"{name}: {err}") from err
    decoded: dict[str, object] = {}
    for key, text in metadata.items():
        try:
            decoded[key] = json.loads(text)
        except json.JSONDecodeError:
            decoded[key] = text
    labels = decoded.get("labels")
    if isinstance(labels, list) and not any(
        _class_axis(spec, graph) == len(labels) for spec in outputs if spec.shape
    ):
        raise ModelRepositoryError(
            f"{name}: metadata lists {len(labels)} labels but no output has {len(labels)} classes "
            f"(outputs: {[(s.name, list(s.shape)) for s in outputs]}); re-export the model or fix "
            "config.pbtxt (-1 on the class axis when its versions differ in label count)"
        )


def _class_axis(spec: TensorSpec, graph: Sequence[ort.NodeArg]) -> int:
    """The last axis of an output: config.pbtxt's count, or the loaded graph's where config says -1.

    A retrained version beside the shipped one makes the config's class axis -1 (one config serves
    every version), so the loaded version's own graph says how many classes it has.
    """
    if spec.shape[-1] != -1:
        return spec.shape[-1]
    arg = next((a for a in graph if a.name == spec.name), None)
    last = arg.shape[-1] if arg is not None and arg.shape else None
    return last if isinstance(last, int) else -1


def _check_pinned_inputs(
    model_dir: Path, version: int, config: ModelConfig, graph: Sequence[ort.NodeArg]
) -> None:
    """A pinned version must take the inputs config.pbtxt describes, as every served version must.

    In Triton and KServe one config.pbtxt describes every version served of a model; a version with
    other inputs is another model, so it is refused here with what to do rather than served under a
    contract it does not have (clients and `/v2/models/<name>` read the config).
    """
    declared = [t.name for t in config.inputs]
    names = [arg.name for arg in graph]
    if set(declared) == set(names):
        return
    latest = versions(model_dir)[-1]
    raise ModelRepositoryError(
        f"{model_dir.name}: version {version}, pinned by MEALIMPACT_MODEL_VERSIONS, takes other inputs than "
        f"config.pbtxt describes (it has {_few(set(names) - set(declared))}; config.pbtxt has "
        f"{_few(set(declared) - set(names))}), and one config.pbtxt describes every served version, as in "
        f"Triton/KServe: unpin it to serve version {latest}, or serve version {version} from a repository "
        f'with its own {CONFIG_FILE} (serving/README.md, "Pinning a version")'
    )


def _few(names: set[str], shown: int = 3) -> str:
    """'a, b, c +4 more': enough to recognise a contract in a one-line start-up error."""
    first = sorted(names)[:shown]
    more = len(names) - len(first)
    return ", ".join(first) + (f" +{more} more" if more else "") if names else "nothing else"


def load_model(
    model_dir: Path, pinned_version: int | None = None, session_options: ort.SessionOptions | None = None
) -> tuple[RepositoryModel, ort.InferenceSession]:
    """Read, check and open one model; returns its description and its ONNX Runtime session."""
    name = model_dir.name
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        raise ModelRepositoryError(f"{name}: {config_path} is missing")
    try:
        config = parse_model_config(config_path.read_text(encoding="utf-8"))
    except (ModelConfigError, UnicodeDecodeError) as err:
        raise ModelRepositoryError(f"{name}: {config_path} is invalid: {err}") from err
    if config.name != name:
        raise ModelRepositoryError(
            f"{name}: config.pbtxt names the model {config.name!r}; it must match its folder"
        )
    if config.platform != ONNX_PLATFORM:
        raise ModelRepositoryError(
            f"{name}: platform {config.platform!r} is not served; only {ONNX_PLATFORM}"
        )
    version, folder = version_dir(model_dir, pinned_version)
    onnx_path = folder / MODEL_FILE
    if not onnx_path.is_file():
        raise ModelRepositoryError(f"{name}: {onnx_path} is missing")
    try:
        session = open_session(onnx_path, options=session_options)
    except Exception as err:  # ORT raises its own unnamed error types for every kind of broken file
        raise ModelRepositoryError(f"{name}: {onnx_path} is not a loadable ONNX model: {err}") from err
    if pinned_version is not None:
        _check_pinned_inputs(model_dir, version, config, session.get_inputs())
    inputs = _check_tensors(name, "input", config, config.inputs, session.get_inputs())
    outputs = _check_tensors(name, "output", config, config.outputs, session.get_outputs())
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    _check_metadata(name, metadata, outputs, session.get_outputs())
    model = RepositoryModel(
        name=name,
        version=version,
        path=onnx_path,
        sha256=file_sha256(onnx_path),
        config=config,
        inputs=inputs,
        outputs=outputs,
        metadata=metadata,
    )
    logger.info("loaded model %s version %d (%s)", name, version, model.sha256[:12])
    return model, session
