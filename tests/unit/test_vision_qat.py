"""Quantisation-aware fine-tuning (training/vision_qat.py) on a tiny recognizer-shaped graph."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from training.vision_qat import (
    QatConfig,
    QdqModule,
    classifier_output,
    dequantized_output,
    distill,
    fine_tune_qdq,
    teacher_logits,
    write_qdq,
)
from training.vision_quantize import post_training_quantize, quantize_recognizer

CLASSES = 6


def _tiny_recognizer(path: Path, seed: int = 0) -> None:
    """uint8 NHWC image -> conv -> ReLU6 -> mean -> classifier -> softmax -> two of the classes.

    One large weight per channel makes the int8 grid coarse for the others, so rounding matters."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 0.05, (8, 3, 3, 3)).astype(np.float32)
    w[:, 0, 0, 0] = 2.0
    fc = rng.normal(0.0, 0.5, (CLASSES, 8)).astype(np.float32)
    fc[:, 0] = 0.0  # a narrow logit range: the int8 logits step is small beside the conv's rounding
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Cast", ["nchw"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["x", "c255"], ["x01"]),
        helper.make_node("Conv", ["x01", "w", "b"], ["y"], pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["y", "zero", "six"], ["h"]),
        helper.make_node("ReduceMean", ["h", "axes"], ["f"], keepdims=0),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["all"], axis=1),
        helper.make_node("Gather", ["all", "class_index"], ["probabilities"], axis=1),
    ]
    for i, node in enumerate(nodes):
        node.name = f"{node.op_type}_{i}"  # the quantiser addresses nodes by name
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["n", 8, 8, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.array(255.0, np.float32), "c255"),
            numpy_helper.from_array(w, "w"),
            numpy_helper.from_array(rng.normal(0.0, 0.1, 8).astype(np.float32), "b"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
            numpy_helper.from_array(np.array(6.0, np.float32), "six"),
            numpy_helper.from_array(np.array([2, 3], np.int64), "axes"),
            numpy_helper.from_array(fc, "fc"),
            numpy_helper.from_array(rng.normal(0.0, 0.1, CLASSES).astype(np.float32), "fcb"),
            numpy_helper.from_array(np.array([1, 4], np.int64), "class_index"),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def _images(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3)).astype(np.uint8)


def _reference(path: Path, name: str, images: np.ndarray) -> np.ndarray:
    model = onnx.load(str(path))
    model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run([name], {"image": images})[0])


def _quantized(tmp_path: Path, images: np.ndarray) -> tuple[Path, Path, Path, str]:
    fp32, qdq, floats = tmp_path / "fp32.onnx", tmp_path / "qdq.onnx", tmp_path / "float.onnx"
    _tiny_recognizer(fp32)
    post_training_quantize(fp32, qdq, images, float_out=floats)
    return fp32, qdq, floats, dequantized_output(onnx.load(str(qdq)), classifier_output(onnx.load(str(qdq))))


def test_torch_runs_the_int8_graph_as_onnx_runtime_does(tmp_path: Path) -> None:
    images = _images(32)
    _, qdq, floats, logits = _quantized(tmp_path, images)
    module = QdqModule(qdq, logits, floats)
    with torch.no_grad():
        got = module(torch.from_numpy(images)).numpy()
    want = _reference(qdq, logits, images)
    model = onnx.load(str(qdq))
    quant = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "logits")
    step = float(numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == quant.input[1])))
    assert np.abs(got - want).max() <= step * 1.01  # float summation order may flip one rounding
    assert np.mean(np.abs(got - want) < 1e-6) > 0.9


def test_writing_the_module_back_unchanged_reproduces_the_int8_file(tmp_path: Path) -> None:
    images = _images(32)
    _, qdq, floats, logits = _quantized(tmp_path, images)
    write_qdq(QdqModule(qdq, logits, floats), qdq, tmp_path / "again.onnx")
    before = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(qdq)).graph.initializer}
    after = {
        i.name: numpy_helper.to_array(i) for i in onnx.load(str(tmp_path / "again.onnx")).graph.initializer
    }
    assert before.keys() == after.keys()
    for name, value in before.items():
        if value.dtype == np.int32:  # biases: float32 arithmetic may move the last integer digits
            assert np.allclose(value, after[name], rtol=1e-6, atol=2), name
        else:
            assert np.array_equal(value, after[name]), name


def test_distillation_repairs_int8_weights_moved_off_the_fp32_model(tmp_path: Path) -> None:
    """Start from float weights knocked a few int8 steps off; distilling from fp32 must bring the int8
    graph's logits back toward the fp32 ones (gradients reach every weight; the result is written back)."""
    images = _images(64)
    fp32, qdq, floats, logits = _quantized(tmp_path, images)
    model = onnx.load(str(floats))
    rng = np.random.default_rng(2)
    for init in model.graph.initializer:
        if init.name == "w":
            w = numpy_helper.to_array(init)
            step = np.abs(w).reshape(len(w), -1).max(axis=1) / 127
            noisy = w + rng.normal(0.0, 3.0, w.shape) * step[:, None, None, None] * (np.abs(w) < 1.0)
            init.CopyFrom(numpy_helper.from_array(noisy.astype(np.float32), "w"))
    knocked = tmp_path / "knocked.onnx"
    onnx.save(model, str(knocked))
    start, tuned = tmp_path / "start.onnx", tmp_path / "tuned.onnx"
    write_qdq(QdqModule(qdq, logits, knocked), qdq, start)
    losses = fine_tune_qdq(fp32, qdq, knocked, images, tuned, QatConfig(steps=40, batch=64, lr=0.1))
    assert len(losses) == 40 and np.mean(losses[-5:]) < losses[0] / 2
    want = teacher_logits(fp32, images, "image")
    before = np.abs(_reference(start, logits, images) - want).mean()
    after = np.abs(_reference(tuned, logits, images) - want).mean()
    assert after < before / 2, (before, after)


def test_the_recipe_fine_tunes_and_compacts_the_int8_file(tmp_path: Path) -> None:
    """quantize_recognizer with a QatConfig: distillation runs on the views plus the extra ones, and the
    written file keeps the graph's inputs and outputs under their names (everything else is renamed)."""
    images = _images(32)
    fp32, plain, tuned = tmp_path / "fp32.onnx", tmp_path / "plain.onnx", tmp_path / "tuned.onnx"
    _tiny_recognizer(fp32)
    quantize_recognizer(fp32, plain, images)
    quantize_recognizer(
        fp32, tuned, images, qat=QatConfig(steps=3, batch=8, lr=0.5), distill_extra=_images(8, seed=3)
    )
    for path in (plain, tuned):
        graph = onnx.load(str(path)).graph
        assert [o.name for o in graph.output] == ["probabilities"] and graph.input[0].name == "image"
        assert all(len(i.name) <= 4 for i in graph.initializer)
        want = ort.InferenceSession(str(fp32)).run(None, {"image": images})[0]
        got = ort.InferenceSession(str(path)).run(None, {"image": images})[0]
        assert np.abs(got - want).max() < 0.05
    weights = [
        {
            i.name: numpy_helper.to_array(i)
            for i in onnx.load(str(p)).graph.initializer
            if i.data_type == TensorProto.INT8
        }
        for p in (plain, tuned)
    ]
    assert any(
        not np.array_equal(weights[0][k], weights[1][k]) for k in weights[0]
    )  # fine-tuning moved weights


def _distilled_state(tmp_path: Path, images: np.ndarray, config: QatConfig) -> list[np.ndarray]:
    tmp_path.mkdir()
    fp32, qdq, floats, logits = _quantized(tmp_path, images)
    module = QdqModule(qdq, logits, floats)
    targets = teacher_logits(fp32, images, "image")
    index = np.arange(CLASSES, dtype=np.int64)
    distill(module, lambda _rng, n: images[:n], lambda _batch: targets, index, config)
    return [p.detach().numpy().copy() for p in (*module.weights, *module.biases)]


def test_tail_averaging_keeps_the_mean_of_the_last_steps(tmp_path: Path) -> None:
    """average_from=0.5 over 6 steps: the result is the mean of the values after steps 4, 5 and 6 of the
    same (seeded, constant-rate) run, not the last of them."""
    images = _images(16)
    config = QatConfig(steps=6, batch=16, lr=0.5)
    after = [_distilled_state(tmp_path / str(k), images, replace(config, steps=k)) for k in (4, 5, 6)]
    averaged = _distilled_state(tmp_path / "avg", images, replace(config, average_from=0.5))
    for index, value in enumerate(averaged):
        trajectory = [state[index] for state in after]
        assert np.allclose(value, np.mean(trajectory, axis=0), rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(a, b) for a, b in zip(averaged, after[-1], strict=True))


def test_cosine_schedule_moves_less_than_constant_and_unknown_schedules_are_refused(tmp_path: Path) -> None:
    images = _images(16)
    config = QatConfig(steps=4, batch=16, lr=0.5)
    start = _distilled_state(tmp_path / "0", images, replace(config, steps=0))
    constant = _distilled_state(tmp_path / "c", images, config)
    cosine = _distilled_state(tmp_path / "cos", images, replace(config, schedule="cosine"))
    moved = [
        sum(float(np.abs(a - b).sum()) for a, b in zip(s, start, strict=True)) for s in (constant, cosine)
    ]
    assert 0 < moved[1] < moved[0]
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'linear'"):
        _distilled_state(tmp_path / "x", images, replace(config, schedule="linear"))
