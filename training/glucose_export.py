"""Export the response network as one self-describing ONNX file plus its Triton/KServe config.

Every export is run through ONNX Runtime and compared with torch before it is kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from glucose_model.explanation import (
    HISTORY_SLOT,
    NO_HISTORY_SLOT,
    PERSONAL_FACTOR_GROUPS,
    reference_meal_metadata,
)
from glucose_model.features import (
    CGM_POINTS,
    CURVE_MINUTES,
    FACTOR_GROUPS,
    FEATURE_NAMES,
    INPUT_CGM,
    INPUT_CGM_MASK,
    INPUT_FEATURES,
    N_FEATURES,
    QUANTILES,
    UNKNOWN_KIND_SPIKE_THRESHOLD_MG_DL,
    ModelInputs,
    metadata_inputs,
)
from glucose_model.impact import OUTPUT_RISE, OUTPUT_SPIKE, OUTPUT_SPIKE_SLOPE
from glucose_model.personal import (
    INPUT_HISTORY_CGM,
    INPUT_HISTORY_CGM_MASK,
    INPUT_HISTORY_FEATURES,
    INPUT_HISTORY_RISE,
    INPUT_HISTORY_SLOT,
    INPUT_PERSON,
    MAX_HISTORY_MEALS,
    N_PERSON_FIELDS,
    PERSON_FIELD_NAMES,
    PERSON_FIELDS,
    metadata_person_inputs,
)
from glucose_model.records import KIND_ORDER
from glucose_model.response_network import PersonEncoder, ResponseNetwork, parameter_count
from mealimpact.model_repository.config import ONNX_PLATFORM, ModelConfig, TensorConfig, format_model_config
from mealimpact.model_repository.metadata import ResponseMetadata
from mealimpact.model_repository.sessions import open_session

logger = logging.getLogger(__name__)

MODEL_NAME = "glucose_response"
OPSET = 18
EXPORT_TOLERANCE_MG_DL = 1e-2  # ORT must match torch to this on every export (rise)
EXPORT_TOLERANCE_PROBABILITY = 1e-4
OUTPUT_NAMES = (OUTPUT_RISE, OUTPUT_SPIKE, OUTPUT_SPIKE_SLOPE)
# Where the data sets come from, for the metadata and the model card.
DATA_ATTRIBUTION = {
    "simulated": "mealimpact simulator (Dalla Man 2007 meal model), generated, no licence restriction",
    "shanghai": "ShanghaiT1DM/T2DM, Zhao et al. 2023, Scientific Data; CC BY 4.0",
    "d1namo": "D1NAMO, Dubosson et al. 2018, Informatics in Medicine Unlocked; CC BY-SA 4.0",
    "dubosson": "D1NAMO as processed by GlucoBench (Sergazinov et al.); CC BY-SA 4.0",
    "weinstock": "Weinstock et al. 2016 via GlucoBench; CC BY-SA 4.0",
}


class ResponseExportError(RuntimeError):
    """The exported ONNX graph does not reproduce the torch network."""


def _save_with_metadata(program: Any, metadata: Mapping[str, str], out: Path) -> None:
    """Write an exported program as one ONNX file carrying its metadata, and check it."""
    if program is None:
        raise ResponseExportError("torch.onnx.export returned no program")
    model = program.model_proto
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save_model(model, str(out))
    onnx.checker.check_model(str(out))


def attribution(cohort: str) -> str:
    """Source and licence of a cohort name as the loaders spell it ("shanghai_t2dm" -> Shanghai's)."""
    for name, text in DATA_ATTRIBUTION.items():
        if cohort == name or cohort.startswith(f"{name}_"):
            return text
    return f"{cohort} (user-supplied; add its source and licence to the model card)"


def weights_sha256(network: torch.nn.Module) -> str:
    """sha256 of the state dict (names and bytes, sorted): the same weights give the same digest."""
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def config_pbtxt(max_batch_size: int = 1024) -> str:
    """Triton/KServe model configuration; one impact request is ~70 rows, so batches are large."""
    n_t, n_q = CURVE_MINUTES.shape[0], len(QUANTILES)
    return format_model_config(
        ModelConfig(
            name=MODEL_NAME,
            platform=ONNX_PLATFORM,
            max_batch_size=max_batch_size,
            inputs=(
                TensorConfig(INPUT_CGM, "TYPE_FP32", (CGM_POINTS,)),
                TensorConfig(INPUT_CGM_MASK, "TYPE_FP32", (CGM_POINTS,)),
                TensorConfig(INPUT_FEATURES, "TYPE_FP32", (N_FEATURES,)),
            ),
            outputs=(
                TensorConfig(OUTPUT_RISE, "TYPE_FP32", (n_t, n_q)),
                TensorConfig(OUTPUT_SPIKE, "TYPE_FP32", (1,)),
                TensorConfig(OUTPUT_SPIKE_SLOPE, "TYPE_FP32", (1,)),
            ),
            dynamic_batching=True,
            max_queue_delay_us=500,
        )
    )


def response_metadata(
    network: ResponseNetwork,
    config: object,
    version: int,
    training_data: Mapping[str, str],
    held_out_people: Sequence[str],
    metrics: Mapping[str, object],
    trained_people: Sequence[str] = (),
) -> dict[str, str]:
    """The ONNX metadata_props (JSON values): the contract `glucose_model.impact` checks, and provenance."""
    values: dict[str, object] = {
        "name": MODEL_NAME,
        "version": str(version),
        "inputs": metadata_inputs(),
        "outputs": {
            OUTPUT_RISE: {
                "shape": ["batch", CURVE_MINUTES.shape[0], len(QUANTILES)],
                "unit": "mg/dL change from the pre-meal baseline, at curve_minutes x quantiles",
            },
            OUTPUT_SPIKE: {
                "shape": ["batch", 1],
                "unit": "probability the peak crosses spike_threshold_mg_dl",
            },
            OUTPUT_SPIKE_SLOPE: {
                "shape": ["batch", 1],
                "unit": "d logit(spike) / d p50 peak rise, 1/(mg/dL)",
            },
        },
        "feature_names": list(FEATURE_NAMES),
        "curve_minutes": CURVE_MINUTES.tolist(),
        "quantiles": list(QUANTILES),
        "factor_groups": list(FACTOR_GROUPS),
        "reference_meal": reference_meal_metadata(),
        "spike_thresholds_mg_dl": {
            **{k.value: k.spike_threshold_mg_dl for k in KIND_ORDER},
            "unknown": UNKNOWN_KIND_SPIKE_THRESHOLD_MG_DL,
        },
        "monotone": {"increasing": ["carbs_g"], "decreasing": ["planned_walk_min", "rapid_insulin_units"]},
        "training_config": asdict(config),  # type: ignore[call-overload]
        "training_data": dict(training_data),
        "held_out_people": list(held_out_people),
        "trained_people": list(trained_people),
        "metrics": metrics,
        "parameters": parameter_count(network),
        "weights_sha256": weights_sha256(network),
    }
    return ResponseMetadata(**values).to_props()  # type: ignore[arg-type]


def dynamic_shapes(
    batch_inputs: Sequence[str], history_inputs: Sequence[str] = ()
) -> dict[str, dict[int, Any]]:
    """torch.export's dynamic axes of a response graph, by input name: the batch axis of each row input,
    the (sets, meals) axes of each history input."""
    batch = torch.export.Dim("batch", min=1, max=65536)
    sets = torch.export.Dim("sets", min=1, max=4096)
    meals = torch.export.Dim("meals", min=1, max=1024)
    return {
        **{name: {0: batch} for name in batch_inputs},
        **{name: {0: sets, 1: meals} for name in history_inputs},
    }


def export_response(
    network: ResponseNetwork, metadata: Mapping[str, str], model_dir: Path, check: ModelInputs | None = None
) -> Path:
    """Write `model_dir/<version>/model.onnx` (one file) and `model_dir/config.pbtxt`; check ORT vs torch."""
    out = model_dir / json.loads(metadata["version"]) / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    network.eval()
    example = (torch.zeros(2, CGM_POINTS), torch.ones(2, CGM_POINTS), torch.zeros(2, N_FEATURES))
    example[2][:, 2] = 50.0  # a plausible meal keeps the traced graph away from degenerate values
    program = torch.onnx.export(
        network,
        example,
        dynamo=True,
        input_names=[INPUT_CGM, INPUT_CGM_MASK, INPUT_FEATURES],
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes=dynamic_shapes([INPUT_CGM, INPUT_CGM_MASK, INPUT_FEATURES]),
        opset_version=OPSET,
        external_data=False,
    )
    _save_with_metadata(program, metadata, out)

    probe = (
        check
        if check is not None and check.features.shape[0] > 0
        else ModelInputs(*(t.numpy() for t in example))
    )
    feed = {k: v[:512] for k, v in probe.as_feed().items()}
    session = open_session(out)
    got = session.run(list(OUTPUT_NAMES), feed)
    with torch.no_grad():
        want = [t.numpy() for t in network(*(torch.from_numpy(feed[k]) for k in feed))]
    worst_rise = float(np.max(np.abs(got[0] - want[0])))
    worst_p = float(max(np.max(np.abs(g - w)) for g, w in zip(got[1:], want[1:], strict=True)))
    if worst_rise > EXPORT_TOLERANCE_MG_DL or worst_p > EXPORT_TOLERANCE_PROBABILITY:
        out.unlink()
        raise ResponseExportError(
            f"ONNX Runtime differs from torch by {worst_rise:.4g} mg/dL and {worst_p:.3g} in the spike outputs "
            f"(tolerances {EXPORT_TOLERANCE_MG_DL}, {EXPORT_TOLERANCE_PROBABILITY}); the file was not kept"
        )
    logger.info("exported %s; max |ORT - torch| = %.2e mg/dL", out, worst_rise)
    (model_dir / "config.pbtxt").write_text(config_pbtxt())
    return out


PERSONAL_INPUT_NAMES = (
    INPUT_CGM,
    INPUT_CGM_MASK,
    INPUT_FEATURES,
    INPUT_PERSON,
    INPUT_HISTORY_SLOT,
    INPUT_HISTORY_CGM,
    INPUT_HISTORY_CGM_MASK,
    INPUT_HISTORY_FEATURES,
    INPUT_HISTORY_RISE,
)


def personal_config_pbtxt() -> str:
    """Triton/KServe configuration of the personal graph: the history inputs have their own first
    axis (history sets), so the batch axis is explicit (max_batch_size 0; one request = one call)."""
    n_t, n_q = CURVE_MINUTES.shape[0], len(QUANTILES)
    dims = {
        INPUT_CGM: (-1, CGM_POINTS),
        INPUT_CGM_MASK: (-1, CGM_POINTS),
        INPUT_FEATURES: (-1, N_FEATURES),
        INPUT_PERSON: (-1, N_PERSON_FIELDS),
        INPUT_HISTORY_SLOT: (-1,),
        INPUT_HISTORY_CGM: (-1, -1, CGM_POINTS),
        INPUT_HISTORY_CGM_MASK: (-1, -1, CGM_POINTS),
        INPUT_HISTORY_FEATURES: (-1, -1, N_FEATURES),
        INPUT_HISTORY_RISE: (-1, -1, n_t),
    }
    return format_model_config(
        ModelConfig(
            name=MODEL_NAME,
            platform=ONNX_PLATFORM,
            max_batch_size=0,
            inputs=tuple(
                TensorConfig(name, "TYPE_INT64" if name == INPUT_HISTORY_SLOT else "TYPE_FP32", dims[name])
                for name in PERSONAL_INPUT_NAMES
            ),
            outputs=(
                TensorConfig(OUTPUT_RISE, "TYPE_FP32", (-1, n_t, n_q)),
                TensorConfig(OUTPUT_SPIKE, "TYPE_FP32", (-1, 1)),
                TensorConfig(OUTPUT_SPIKE_SLOPE, "TYPE_FP32", (-1, 1)),
            ),
            dynamic_batching=False,
            max_queue_delay_us=0,
        )
    )


def personal_metadata_extra(encoder: PersonEncoder) -> dict[str, str]:
    """The metadata keys a personal graph adds (the ResponsePredictor switches on `person_fields`)."""
    used = [n for n, u in zip(PERSON_FIELD_NAMES, encoder.field_used.tolist(), strict=True) if u > 0]
    values: dict[str, object] = {
        "person_fields": list(PERSON_FIELD_NAMES),
        "person_fields_units": {f.name: f.unit for f in PERSON_FIELDS},
        "person_fields_trained": used,
        "personal_inputs": metadata_person_inputs(),
        "factor_groups": list(PERSONAL_FACTOR_GROUPS),
        "history": {
            "max_meals": MAX_HISTORY_MEALS,
            "slots": {"with_history": HISTORY_SLOT, "without": NO_HISTORY_SLOT},
            "what": "past meals of the same person: their model inputs and the measured rise after them",
        },
    }
    return {key: json.dumps(value) for key, value in values.items()}


def export_personal_response(
    network: torch.nn.Module, metadata: Mapping[str, str], model_dir: Path, check: Mapping[str, Any]
) -> Path:
    """Write the personal graph (one file, opset OPSET) and its config; check ORT against torch on `check`."""
    out = model_dir / json.loads(metadata["version"]) / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    network.eval()
    example = tuple(torch.from_numpy(np.ascontiguousarray(check[name])) for name in PERSONAL_INPUT_NAMES)
    dynamic = dynamic_shapes(
        [INPUT_CGM, INPUT_CGM_MASK, INPUT_FEATURES, INPUT_PERSON, INPUT_HISTORY_SLOT],
        [INPUT_HISTORY_CGM, INPUT_HISTORY_CGM_MASK, INPUT_HISTORY_FEATURES, INPUT_HISTORY_RISE],
    )
    program = torch.onnx.export(
        network,
        example,
        dynamo=True,
        input_names=list(PERSONAL_INPUT_NAMES),
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes=dynamic,
        opset_version=OPSET,
        external_data=False,
    )
    _save_with_metadata(program, metadata, out)
    session = open_session(out)
    feed = {name: np.ascontiguousarray(check[name]) for name in PERSONAL_INPUT_NAMES}
    got = session.run(list(OUTPUT_NAMES), feed)
    with torch.no_grad():
        want = [t.numpy() for t in network(*example)]
    worst_rise = float(np.max(np.abs(got[0] - want[0])))
    worst_p = float(max(np.max(np.abs(g - w)) for g, w in zip(got[1:], want[1:], strict=True)))
    if worst_rise > EXPORT_TOLERANCE_MG_DL or worst_p > EXPORT_TOLERANCE_PROBABILITY:
        out.unlink()
        raise ResponseExportError(
            f"ONNX Runtime differs from torch by {worst_rise:.4g} mg/dL and {worst_p:.3g} in the spike outputs "
            f"(tolerances {EXPORT_TOLERANCE_MG_DL}, {EXPORT_TOLERANCE_PROBABILITY}); the file was not kept"
        )
    logger.info("exported %s; max |ORT - torch| = %.2e mg/dL, %.2e spike", out, worst_rise, worst_p)
    (model_dir / "config.pbtxt").write_text(personal_config_pbtxt())
    return out
