"""The self-contained response graph: `feature_graph.RawResponseInputs` in front of an exported
personal response graph (same weights, its nodes untouched), written as the next model version; or,
for a population graph (no person, no history), `feature_graph.FeatureGraph` in front of it.

The front is exported from torch and checked against torch; then the two ONNX graphs are joined
(the front's outputs feed the personal graph's cgm/features/history inputs), so the network is
byte for byte the one evaluated. Every export checks the joined file against the front and the
network run one after the other; tests/integration/test_glucose_response_raw.py checks it against
the personal graph fed with `features.py`'s arrays.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnx.compose
import torch

from glucose_model.explanation import reference_meal_raw_metadata
from glucose_model.feature_graph import FeatureGraph, RawResponseInputs
from glucose_model.features import (
    CGM_POINTS,
    CURVE_MINUTES,
    FEATURE_NAMES,
    INPUT_CGM,
    INPUT_CGM_MASK,
    INPUT_FEATURES,
    N_FEATURES,
    QUANTILES,
    ModelInputs,
)
from glucose_model.impact import OUTPUT_RISE, OUTPUT_SPIKE, OUTPUT_SPIKE_SLOPE
from glucose_model.personal import (
    INPUT_HISTORY_CGM,
    INPUT_HISTORY_CGM_MASK,
    INPUT_HISTORY_FEATURES,
    INPUT_HISTORY_RISE,
    INPUT_HISTORY_SLOT,
    INPUT_PERSON,
    N_PERSON_FIELDS,
)
from glucose_model.response_inputs import (
    INPUT_CONTEXT,
    INPUT_HISTORY_CONTEXT,
    INPUT_HISTORY_GLUCOSE,
    INPUT_HISTORY_KIND,
    INPUT_HISTORY_MEAL,
    INPUT_HISTORY_RAW_CGM,
    INPUT_KIND,
    INPUT_MEAL,
    INPUT_RAW_CGM,
    N_CONTEXT,
    N_MEAL,
    OUTPUT_FEATURES,
    metadata_raw_inputs,
)
from glucose_model.response_network import ResponseNetwork
from mealimpact.model_repository.config import (
    ModelConfig,
    TensorConfig,
    format_model_config,
    write_model_config,
)
from mealimpact.model_repository.layout import CONFIG_FILE, model_path, versions
from mealimpact.model_repository.metadata import ResponseMetadata
from mealimpact.model_repository.sessions import open_session
from training.glucose_export import (
    MODEL_NAME,
    OPSET,
    dynamic_shapes,
    export_personal_response,
    export_response,
)

logger = logging.getLogger(__name__)

FRONT_PREFIX = "raw_inputs/"
FRONT_TOLERANCE = 1e-4  # ORT vs torch on the front's outputs (mg/dL and feature units)
RAW_INPUT_NAMES = (
    INPUT_RAW_CGM,
    INPUT_MEAL,
    INPUT_CONTEXT,
    INPUT_KIND,
    INPUT_HISTORY_RAW_CGM,
    INPUT_HISTORY_MEAL,
    INPUT_HISTORY_CONTEXT,
    INPUT_HISTORY_KIND,
    INPUT_HISTORY_GLUCOSE,
)
# The personal graph's inputs the front produces, in RawResponseInputs' output order.
FRONT_OUTPUTS = (
    INPUT_CGM,
    INPUT_CGM_MASK,
    INPUT_FEATURES,
    INPUT_HISTORY_CGM,
    INPUT_HISTORY_CGM_MASK,
    INPUT_HISTORY_FEATURES,
    INPUT_HISTORY_RISE,
)
# The inputs of the joined graph, in order (person and history_slot pass through to the network).
INPUT_NAMES = (
    INPUT_RAW_CGM,
    INPUT_MEAL,
    INPUT_CONTEXT,
    INPUT_KIND,
    INPUT_PERSON,
    INPUT_HISTORY_SLOT,
    INPUT_HISTORY_RAW_CGM,
    INPUT_HISTORY_MEAL,
    INPUT_HISTORY_CONTEXT,
    INPUT_HISTORY_KIND,
    INPUT_HISTORY_GLUCOSE,
)
OUTPUT_NAMES = (OUTPUT_RISE, OUTPUT_SPIKE, OUTPUT_SPIKE_SLOPE, OUTPUT_FEATURES)
# A population graph (no person, no history: `train glucose`) behind the meal-only front (FeatureGraph).
POPULATION_INPUT_NAMES = (INPUT_RAW_CGM, INPUT_MEAL, INPUT_CONTEXT, INPUT_KIND)
POPULATION_FRONT_OUTPUTS = (INPUT_CGM, INPUT_CGM_MASK, INPUT_FEATURES)


class RawExportError(RuntimeError):
    """The front or the joined graph does not reproduce what it was built from."""


def example_feed(
    seed: int = 0, batch: int = 3, sets: int = 2, meals: int = 4
) -> dict[str, npt.NDArray[np.float32]]:
    """Plausible raw inputs with gaps and unknowns, for tracing and checks."""
    rng = np.random.default_rng(seed)

    def cgm(*shape: int) -> npt.NDArray[np.float32]:
        values = 120 + np.cumsum(rng.normal(0, 2, (*shape, CGM_POINTS)), axis=-1)
        values[rng.random(values.shape) < 0.15] = np.nan
        return values.astype(np.float32)

    def meal(*shape: int) -> npt.NDArray[np.float32]:
        values = rng.uniform(5, 80, (*shape, N_MEAL))
        values[rng.random(values.shape) < 0.3] = np.nan
        return values.astype(np.float32)

    def context(*shape: int) -> npt.NDArray[np.float32]:
        values = rng.uniform(0, 1400, (*shape, N_CONTEXT))
        values[rng.random(values.shape) < 0.3] = np.nan
        return values.astype(np.float32)

    return {
        INPUT_RAW_CGM: cgm(batch),
        INPUT_MEAL: meal(batch),
        INPUT_CONTEXT: context(batch),
        INPUT_KIND: rng.integers(-1, 4, (batch, 1)).astype(np.float32),
        INPUT_HISTORY_RAW_CGM: cgm(sets, meals),
        INPUT_HISTORY_MEAL: meal(sets, meals),
        INPUT_HISTORY_CONTEXT: context(sets, meals),
        INPUT_HISTORY_KIND: rng.integers(-1, 4, (sets, meals)).astype(np.float32),
        INPUT_HISTORY_GLUCOSE: cgm(sets, meals),
    }


def export_front(path: Path, personal: bool = True) -> onnx.ModelProto:
    """RawResponseInputs (a personal graph's front; else FeatureGraph, the meal rows only) as ONNX
    (opset OPSET, one file), checked against torch; outputs FRONT_PREFIX + name."""
    front: torch.nn.Module = (RawResponseInputs() if personal else FeatureGraph()).eval()
    names = RAW_INPUT_NAMES if personal else POPULATION_INPUT_NAMES
    outputs = FRONT_OUTPUTS if personal else POPULATION_FRONT_OUTPUTS
    feed = example_feed()
    example = tuple(torch.from_numpy(feed[name]) for name in names)
    dynamic = dynamic_shapes(
        [INPUT_RAW_CGM, INPUT_MEAL, INPUT_CONTEXT, INPUT_KIND],
        [
            INPUT_HISTORY_RAW_CGM,
            INPUT_HISTORY_MEAL,
            INPUT_HISTORY_CONTEXT,
            INPUT_HISTORY_KIND,
            INPUT_HISTORY_GLUCOSE,
        ],
    )
    program = torch.onnx.export(
        front,
        example,
        dynamo=True,
        input_names=list(names),
        output_names=[FRONT_PREFIX + name for name in outputs],
        # by name for the personal front (as shipped); by position for FeatureGraph (its argument is `kind`)
        dynamic_shapes=dynamic if personal else tuple(dynamic[name] for name in names),
        opset_version=OPSET,
        external_data=False,
    )
    if program is None:
        raise RawExportError("torch.onnx.export returned no program")
    model = program.model_proto
    onnx.save_model(model, str(path))
    session = open_session(path)
    for check in (feed, example_feed(seed=1, batch=1, sets=1, meals=1)):
        got = session.run(None, {name: check[name] for name in names})
        with torch.no_grad():
            want = front(*(torch.from_numpy(check[name]) for name in names))
        for name, g, w in zip(outputs, got, want, strict=True):
            if not np.allclose(g, w.numpy(), atol=FRONT_TOLERANCE, rtol=0, equal_nan=True):
                raise RawExportError(f"front output {name}: ONNX Runtime differs from torch")
    return model


def join(front: onnx.ModelProto, personal: onnx.ModelProto, population: bool = False) -> onnx.ModelProto:
    """One graph: the front's outputs feed the personal graph's (or, `population`, the population
    graph's) inputs of the same name; the front's `features` is also an output (OUTPUT_FEATURES).
    Metadata is left empty."""
    front_outputs = POPULATION_FRONT_OUTPUTS if population else FRONT_OUTPUTS
    input_names = POPULATION_INPUT_NAMES if population else INPUT_NAMES
    front = onnx.ModelProto.FromString(front.SerializeToString())
    personal = onnx.ModelProto.FromString(personal.SerializeToString())
    for model in (front, personal):
        del model.metadata_props[:]
    for node in front.graph.node:  # the exporter's per-node source traces: 0.4 MB a phone need not carry
        del node.metadata_props[:]
        node.doc_string = ""
    # Internal names of the front get the prefix (its outputs have it): no clash with the network's.
    front = onnx.compose.add_prefix(front, FRONT_PREFIX, rename_inputs=False, rename_outputs=False)
    joined = onnx.compose.merge_models(
        front,
        personal,
        io_map=[(FRONT_PREFIX + name, name) for name in front_outputs],
        outputs=[OUTPUT_RISE, OUTPUT_SPIKE, OUTPUT_SPIKE_SLOPE],
    )
    joined.graph.node.append(
        onnx.helper.make_node(
            "Identity", [FRONT_PREFIX + INPUT_FEATURES], [OUTPUT_FEATURES], name="features_out"
        )
    )
    joined.graph.output.append(
        onnx.helper.make_tensor_value_info(OUTPUT_FEATURES, onnx.TensorProto.FLOAT, ["batch", N_FEATURES])
    )
    # Inputs in the documented order.
    by_name = {i.name: i for i in joined.graph.input}
    missing = [n for n in input_names if n not in by_name]
    if missing or len(by_name) != len(input_names):
        raise RawExportError(f"joined graph inputs {sorted(by_name)} are not {list(input_names)}")
    ordered = [onnx.ValueInfoProto.FromString(by_name[n].SerializeToString()) for n in input_names]
    del joined.graph.input[:]
    joined.graph.input.extend(ordered)
    return joined


def raw_metadata(
    personal_metadata: Mapping[str, str], network_file: str | None, version: int
) -> dict[str, str]:
    """The personal graph's metadata (provenance, training, metrics) with the raw contract on top.

    `network_file`: the repository file the network was taken from, or None when it was exported from
    torch in the same run (train glucose-personal) and kept only inside this graph.
    """
    values = {key: json.loads(value) for key, value in personal_metadata.items()}
    network_inputs = values.get("inputs", {})
    contract = {**metadata_raw_inputs(), **values.get("personal_inputs", {})}
    values.update(
        {
            "version": str(version),
            "inputs": {
                name: contract[name]
                for name in (INPUT_NAMES if "person_fields" in values else POPULATION_INPUT_NAMES)
            },
            "reference_meal": {**values["reference_meal"], "raw": reference_meal_raw_metadata()},
            "network": {
                "file": network_file,
                "weights_sha256": values.get("weights_sha256"),
                "what": (
                    "the graph of that version behind the raw front, weights and nodes unchanged; its "
                    if network_file is not None
                    else "the graph trained in the same run, exported from torch and checked against it, "
                    "behind the raw front, weights and nodes unchanged (not kept as a version); its "
                )
                + "inputs (computed in this graph from the raw inputs) were:",
                "inputs": {**network_inputs, **values.get("personal_inputs", {})},
            },
        }
    )
    values["outputs"] = {
        **values.get("outputs", {}),
        OUTPUT_FEATURES: {
            "shape": ["batch", N_FEATURES],
            "unit": "the network's input features as computed in the graph (feature_names); "
            "column baseline_glucose_mg_dl turns rise_mg_dl into glucose",
        },
    }
    values.pop("personal_inputs", None)
    if values["feature_names"] != list(FEATURE_NAMES):
        raise RawExportError(f"{network_file}: feature_names differ from glucose_model.features")
    # Through the one schema (it refuses what it does not know as `extra` in its tests).
    return ResponseMetadata.from_props({key: json.dumps(value) for key, value in values.items()}).to_props()


def model_config() -> ModelConfig:
    """Triton/KServe configuration of the raw graph (batch axis explicit, as the personal graph's:
    the history inputs have their own first axis, so one request is one call)."""
    fp32, n_t = "TYPE_FP32", CURVE_MINUTES.shape[0]
    inputs = (
        TensorConfig(INPUT_RAW_CGM, fp32, (-1, CGM_POINTS)),
        TensorConfig(INPUT_MEAL, fp32, (-1, N_MEAL)),
        TensorConfig(INPUT_CONTEXT, fp32, (-1, N_CONTEXT)),
        TensorConfig(INPUT_KIND, fp32, (-1, 1)),
        TensorConfig(INPUT_PERSON, fp32, (-1, N_PERSON_FIELDS)),
        TensorConfig(INPUT_HISTORY_SLOT, "TYPE_INT64", (-1,)),
        TensorConfig(INPUT_HISTORY_RAW_CGM, fp32, (-1, -1, CGM_POINTS)),
        TensorConfig(INPUT_HISTORY_MEAL, fp32, (-1, -1, N_MEAL)),
        TensorConfig(INPUT_HISTORY_CONTEXT, fp32, (-1, -1, N_CONTEXT)),
        TensorConfig(INPUT_HISTORY_KIND, fp32, (-1, -1)),
        TensorConfig(INPUT_HISTORY_GLUCOSE, fp32, (-1, -1, n_t)),
    )
    outputs = (
        TensorConfig(OUTPUT_RISE, fp32, (-1, n_t, len(QUANTILES))),
        TensorConfig(OUTPUT_SPIKE, fp32, (-1, 1)),
        TensorConfig(OUTPUT_SPIKE_SLOPE, fp32, (-1, 1)),
        TensorConfig(OUTPUT_FEATURES, fp32, (-1, N_FEATURES)),
    )
    return ModelConfig(MODEL_NAME, "onnxruntime_onnx", 0, inputs, outputs, False, 0)


def population_model_config(max_batch_size: int = 1024) -> ModelConfig:
    """Triton/KServe configuration of a raw population graph: one row per meal, so batched like the
    features-based population graph (`glucose_export.config_pbtxt`)."""
    fp32, n_t = "TYPE_FP32", CURVE_MINUTES.shape[0]
    inputs = (
        TensorConfig(INPUT_RAW_CGM, fp32, (CGM_POINTS,)),
        TensorConfig(INPUT_MEAL, fp32, (N_MEAL,)),
        TensorConfig(INPUT_CONTEXT, fp32, (N_CONTEXT,)),
        TensorConfig(INPUT_KIND, fp32, (1,)),
    )
    outputs = (
        TensorConfig(OUTPUT_RISE, fp32, (n_t, len(QUANTILES))),
        TensorConfig(OUTPUT_SPIKE, fp32, (1,)),
        TensorConfig(OUTPUT_SPIKE_SLOPE, fp32, (1,)),
        TensorConfig(OUTPUT_FEATURES, fp32, (N_FEATURES,)),
    )
    return ModelConfig(MODEL_NAME, "onnxruntime_onnx", max_batch_size, inputs, outputs, True, 500)


def latest_network(model_dir: Path) -> Path:
    """The newest version under `model_dir` whose graph takes features.py's arrays and the history
    (a personal graph without a raw front): what the raw front goes in front of."""
    for version in reversed(versions(model_dir)):
        path = model_path(model_dir, version)
        if not path.is_file():
            continue
        names = {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}
        if {INPUT_FEATURES, INPUT_HISTORY_FEATURES} <= names:
            return path
    raise RawExportError(
        f"no personal response graph (inputs {INPUT_FEATURES}, {INPUT_HISTORY_FEATURES}) in {model_dir}"
    )


def joined_difference(joined: Any, front: Any, network: Any, population: bool = False) -> float:
    """Worst |joined - network(front(x))| over the outputs, on example raw inputs with gaps and unknowns."""
    feed = example_feed(seed=2, batch=4, sets=2, meals=3)
    if population:
        feed = {name: feed[name] for name in POPULATION_INPUT_NAMES}
    front_outputs = POPULATION_FRONT_OUTPUTS if population else FRONT_OUTPUTS
    network_inputs = dict(zip(front_outputs, front.run(None, feed), strict=True))
    extra = (
        {}
        if population
        else {
            INPUT_PERSON: np.full((4, N_PERSON_FIELDS), np.nan, np.float32),
            INPUT_HISTORY_SLOT: np.array([0, 1, 0, 1], np.int64),
        }
    )
    want = network.run(list(OUTPUT_NAMES[:3]), {**network_inputs, **extra})
    got = joined.run(list(OUTPUT_NAMES), {**feed, **extra})
    diffs = [np.max(np.abs(g - w)) for g, w in zip(got, [*want, network_inputs[INPUT_FEATURES]], strict=True)]
    return float(max(diffs))


def repository_file(path: Path) -> str:
    """`models/<name>/<version>/model.onnx`: how the metadata names a version's file."""
    return f"models/{path.parent.parent.name}/{path.parent.name}/{path.name}"


def export_raw_response(
    personal_path: Path, model_dir: Path, version: int, scratch: Path, kept: bool = True
) -> Path:
    """Write `model_dir/<version>/model.onnx` (the raw front joined to `personal_path`) and the config.

    `kept`: `personal_path` is a version of the repository (its metadata names it); False for a graph
    exported into `scratch` by the same run.
    """
    personal = onnx.load(str(personal_path))
    population = INPUT_HISTORY_FEATURES not in {i.name for i in personal.graph.input}
    front = export_front(scratch / "raw_front.onnx", personal=not population)
    joined = join(front, personal, population)
    network_file = repository_file(personal_path) if kept else None
    metadata = raw_metadata({p.key: p.value for p in personal.metadata_props}, network_file, version)
    for key, value in metadata.items():
        joined.metadata_props.add(key=key, value=value)
    out = model_path(model_dir, version)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(joined, str(out))
    onnx.checker.check_model(str(out))
    session = open_session(out)
    if [i.name for i in session.get_inputs()] != list(POPULATION_INPUT_NAMES if population else INPUT_NAMES):
        out.unlink()
        raise RawExportError(f"{out}: inputs {[i.name for i in session.get_inputs()]}")
    worst = joined_difference(
        session, open_session(scratch / "raw_front.onnx"), open_session(personal_path), population
    )
    if worst > FRONT_TOLERANCE:
        out.unlink()
        raise RawExportError(
            f"the joined graph differs from front + network by {worst:.3g}; the file was not kept"
        )
    _write_config(model_dir, version, population_model_config() if population else model_config())
    logger.info("exported %s from %s", out, personal_path)
    return out


def _write_config(model_dir: Path, version: int, config: ModelConfig) -> None:
    """config.pbtxt describes every served version (Triton/KServe): it follows the newest version only.

    Writing an older version (`export response-raw --version 3` beside a version 4) leaves the folder's
    config alone, so the newest version stays servable; the older one is then served pinned from a
    repository with its own config (serving/README.md, "Pinning a version").
    """
    newest = max(versions(model_dir), default=version)
    if version >= newest:
        write_model_config(model_dir, config)
        return
    existing = model_dir / CONFIG_FILE
    if existing.is_file() and existing.read_text(encoding="utf-8") != format_model_config(config):
        logger.warning(
            "%s describes version %d, the newest; version %d takes other inputs and is served only pinned "
            "from a repository with its own config.pbtxt (serving/README.md, 'Pinning a version')",
            existing,
            newest,
            version,
        )


def export_trained_raw_response(
    network: torch.nn.Module,
    metadata: Mapping[str, str],
    model_dir: Path,
    check: Mapping[str, Any] | ModelInputs | None = None,
) -> Path:
    """`train glucose`, `train glucose-personal` and the federated server's export: the trained network
    as a servable version that takes raw inputs.

    The network's graph (features.py's arrays in) is an intermediate: exported to a scratch folder and
    checked against torch on `check` (`export_response` for a population network, whose check is
    ModelInputs, or None for export_response's own example rows: the federated server holds no
    records; `export_personal_response` for a personal one, whose check is its feed), then joined
    behind the raw front and checked again (`export_raw_response`); only the joined graph is written,
    as `metadata`'s version, with the raw graph's config.pbtxt.
    """
    version = int(json.loads(metadata["version"]))
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        if check is None or isinstance(check, ModelInputs):
            assert isinstance(network, ResponseNetwork)
            graph = export_response(network, metadata, scratch / MODEL_NAME, check)
        else:
            graph = export_personal_response(network, metadata, scratch / MODEL_NAME, check)
        return export_raw_response(graph, model_dir, version, scratch, kept=False)


def network_metadata(props: Mapping[str, str]) -> dict[str, str]:
    """A raw graph's metadata as the network inside it carries it (its features inputs and outputs,
    the feature reference meal), for training on top of it (`train glucose-personal --base`); other
    metadata, and a features-based graph's, unchanged."""
    values = {key: json.loads(value) for key, value in props.items()}
    network = values.pop("network", None)
    if network is None:
        return dict(props)
    values["inputs"] = network["inputs"]
    values["outputs"] = {k: v for k, v in values["outputs"].items() if k != OUTPUT_FEATURES}
    values["reference_meal"] = {k: v for k, v in values["reference_meal"].items() if k != "raw"}
    return {key: json.dumps(value) for key, value in values.items()}
