"""How the recognizer's int8 weight rounding alone moves its answers: nearest rounding, nearest plus bias
correction (what `training/vision_quantize.py` ships), and GPTQ (Frantar et al. 2023: round one input
column at a time and spread each rounding error over the columns not yet rounded, weighted by the
layer's input second moments).

Weights only: every convolution and the classifier get int8 weights on ONNX Runtime's grid (per output
channel, symmetric, absmax / 127), activations stay float. Compared with fp32 on the 48 D1NAMO photos
(in-sample: the moments come from the same photos plus one augmented view each).

Run: `python scripts/int8_weight_rounding.py [--data ../shared/data/d1namo]` (about 2 min on 2 cores).
Measured 2026-12-03: nearest 0.812 top-1 agreement / 0.292 carbohydrate interval unchanged; nearest +
bias correction 0.938 / 0.708; GPTQ 0.938 / 0.812 (embedding cosine min 0.9799 / 0.9963 / 0.9982).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from numpy.lib.stride_tricks import sliding_window_view
from onnx import numpy_helper

from mealimpact.model_repository.sessions import open_session
from training.mobile_bundle import INT8_CARBS_TOLERANCE, latest_version
from training.vision_quantize import _float_heads, calibration_images
from vision.preprocess import PreprocessSpec
from vision.recognition import preprocess_photo

REPO = Path(__file__).resolve().parents[1]
COLUMNS = 20_000  # input columns sampled per batch for a layer's second moments


def _attr(node: onnx.NodeProto, name: str, default: object) -> object:
    for a in node.attribute:
        if a.name == name:
            return list(a.ints) if a.ints else a.i
    return default


def _columns(node: onnx.NodeProto, x: np.ndarray, kernel: int, rng: np.random.Generator) -> np.ndarray:
    """The layer's input as (channels, kernel*kernel, samples) columns, the way the weights see it."""
    if node.op_type == "Gemm":
        return x.T[:, None, :]  # (in, 1, N)
    pads = _attr(node, "pads", [0, 0, 0, 0])
    strides = _attr(node, "strides", [1, 1])
    assert isinstance(pads, list) and isinstance(strides, list)
    padded = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    windows = sliding_window_view(padded, (kernel, kernel), axis=(2, 3))[:, :, :: strides[0], :: strides[1]]
    cols = windows.transpose(1, 4, 5, 0, 2, 3).reshape(x.shape[1], kernel * kernel, -1)  # (C, k*k, samples)
    return cols[:, :, rng.integers(0, cols.shape[2], COLUMNS)] if cols.shape[2] > COLUMNS else cols


def _gptq(weight: np.ndarray, hessian: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(out, d) weights rounded onto scale * [-127, 127], column by column, errors carried forward."""
    w = weight.copy()
    d = w.shape[1]
    damped = hessian + (0.01 * np.mean(np.diag(hessian)) + 1e-8) * np.eye(d)
    upper = np.linalg.cholesky(np.linalg.inv(damped)).T
    rounded = np.zeros_like(w)
    for i in range(d):
        rounded[:, i] = np.clip(np.round(w[:, i] / scale), -127, 127) * scale
        error = (w[:, i] - rounded[:, i]) / upper[i, i]
        w[:, i + 1 :] -= np.outer(error, upper[i, i + 1 :])
    return rounded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "d1namo")
    args = parser.parse_args()
    from onnxruntime.quantization.shape_inference import quant_pre_process

    _, fp32 = latest_version(REPO / "models" / "food_recognizer")
    paths = sorted(args.data.glob("*/food_pictures/*.jpg"))
    spec = PreprocessSpec()
    served = np.stack([preprocess_photo(p.read_bytes(), spec) for p in paths])
    views = calibration_images(paths, spec, copies=1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        heads = set(_float_heads(prepared))
        layers = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm") and n.name not in heads]
        names = sorted({n.input[0] for n in layers})
        probe = onnx.load(str(prepared))
        for name in names:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = open_session(probe.SerializeToString(), options=options)
        weights = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}
        hessians: dict[str, np.ndarray] = {}
        means: dict[str, np.ndarray] = {}
        for start in range(0, len(views), 8):
            outputs = dict(zip(names, session.run(names, {"image": views[start : start + 8]}), strict=True))
            for node in layers:
                x = outputs[node.input[0]].astype(np.float64)
                w = weights[node.input[1]]
                kernel = 1 if node.op_type == "Gemm" else w.shape[2]
                cols = _columns(node, x, kernel, rng)  # (C, k*k, samples)
                groups = _attr(node, "group", 1)
                if node.op_type == "Conv" and isinstance(groups, int) and groups > 1:
                    h = np.einsum("cin,cjn->cij", cols, cols)  # depthwise: one (k*k) matrix per channel
                else:
                    flat = cols.reshape(-1, cols.shape[2])
                    h = flat @ flat.T
                hessians[node.name] = hessians.get(node.name, 0) + h
                axes = (0, 2, 3) if x.ndim == 4 else (0,)
                means[node.name] = means.get(node.name, 0) + x.mean(axis=axes) * len(x)
        fp32_out = _answers(fp32, served)
        for mode in ("nearest", "nearest+bias correction", "gptq"):
            variant = onnx.load(str(prepared))
            inits = {i.name: i for i in variant.graph.initializer}
            for node in layers:
                w = weights[node.input[1]]
                flat = w.reshape(w.shape[0], -1)
                scale = np.abs(flat).max(axis=1) / 127
                scale[scale == 0] = 1
                groups = _attr(node, "group", 1)
                depthwise = node.op_type == "Conv" and isinstance(groups, int) and groups > 1
                if mode == "gptq":
                    h = hessians[node.name]
                    rounded = (
                        np.stack([_gptq(flat[c : c + 1], h[c], scale[c])[0] for c in range(len(flat))])
                        if depthwise
                        else _gptq(flat, h, scale)
                    )
                else:
                    rounded = np.clip(np.round(flat / scale[:, None]), -127, 127) * scale[:, None]
                inits[node.input[1]].CopyFrom(
                    numpy_helper.from_array(rounded.reshape(w.shape).astype(np.float32), node.input[1])
                )
                if mode == "nearest+bias correction" and len(node.input) > 2:
                    delta = (rounded - flat).reshape(w.shape)
                    x_mean = means[node.name] / len(views)
                    if node.op_type == "Gemm":
                        shift = delta @ x_mean
                    elif depthwise:
                        shift = delta.reshape(len(delta), -1).sum(axis=1) * x_mean
                    else:
                        shift = delta.sum(axis=(2, 3)) @ x_mean
                    bias = weights[node.input[2]] - shift
                    inits[node.input[2]].CopyFrom(
                        numpy_helper.from_array(bias.astype(np.float32), node.input[2])
                    )
            path = Path(tmp) / "variant.onnx"
            onnx.save(variant, str(path))
            got = _answers(path, served)
            top1 = (fp32_out[0].argmax(1) == got[0].argmax(1)).mean()
            median = np.abs(fp32_out[1][:, 1:2])
            interval = (np.abs(got[1] - fp32_out[1]) <= INT8_CARBS_TOLERANCE * median).all(axis=1).mean()
            cosine = (got[2] * fp32_out[2]).sum(axis=1).min()
            print(
                f"{mode}: top-1 agreement {top1:.3f}, carbohydrate interval unchanged {interval:.3f}, "
                f"embedding cosine min {cosine:.4f} ({len(served)} photos)"
            )


def _answers(path: Path, images: np.ndarray) -> list[np.ndarray]:
    session = open_session(path)
    runs = [
        session.run(["probabilities", "carbs_g", "embedding"], {"image": images[i : i + 8]})
        for i in range(0, len(images), 8)
    ]
    return [np.concatenate([r[k] for r in runs]) for k in range(3)]


if __name__ == "__main__":
    main()
