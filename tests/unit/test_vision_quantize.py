"""int8 recipe pieces: whose photo it is, augmented views, and bias correction removing the mean shift
that rounding the weights causes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from training.vision_quantize import (
    AugmentConfig,
    _quantize_static,
    augmented_views,
    correct_biases,
    photo_person,
)
from vision.preprocess import PreprocessSpec, preprocess_image


def test_the_person_is_the_folder_above_food_pictures() -> None:
    assert photo_person(Path("d1namo/004/food_pictures/003.jpg")) == "004"
    assert photo_person(Path("photos/alice/dinner.jpg")) == "alice"


def test_augmented_views_start_with_the_photo_as_served_and_differ_after() -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8), "RGB")
    spec = PreprocessSpec(resize_short_side_px=40, crop_px=32)
    views = augmented_views(image, spec, 3, np.random.default_rng(1), AugmentConfig(short_side_px=(32, 48)))
    assert views.shape == (4, 32, 32, 3) and views.dtype == np.uint8
    assert np.array_equal(views[0], preprocess_image(image, spec))
    assert all(not np.array_equal(views[0], views[i]) for i in (1, 2, 3))
    again = augmented_views(image, spec, 3, np.random.default_rng(1), AugmentConfig(short_side_px=(32, 48)))
    assert np.array_equal(views, again)  # a seed gives the same calibration set


def _conv_model(path: Path, weight: np.ndarray, bias: np.ndarray) -> None:
    """uint8 NHWC image -> float conv output (N, C, H, W): the recognizer's input contract in miniature."""
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Cast", ["nchw"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["x", "c255"], ["x01"]),
        helper.make_node("Conv", ["x01", "w", "b"], ["y"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["n", 8, 8, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.array(255.0, np.float32), "c255"),
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(bias, "b"),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def _mean_output(path: Path, images: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    (y,) = ort.InferenceSession(str(path), options).run(None, {"image": images})
    return y.mean(axis=(0, 2, 3))  # (C,)


def test_bias_correction_removes_the_mean_shift_of_rounded_weights(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # One large weight per channel makes the int8 step coarse for the rest: rounding shifts the mean.
    weight = rng.normal(0.0, 0.02, (4, 3, 3, 3)).astype(np.float32)
    weight[:, 0, 0, 0] = 1.0
    bias = np.zeros(4, np.float32)
    images = np.clip(rng.normal(200, 20, (16, 8, 8, 3)), 0, 255).astype(np.uint8)  # bright: E[x] far from 0
    float_model, plain, corrected, corrected_int8 = (
        tmp_path / n for n in ("f.onnx", "q.onnx", "bc.onnx", "qbc.onnx")
    )
    _conv_model(float_model, weight, bias)
    _quantize_static(float_model, plain, images, [])
    assert correct_biases(float_model, plain, corrected, images) == 1
    _quantize_static(corrected, corrected_int8, images, [])

    want = _mean_output(float_model, images)
    before = np.abs(_mean_output(plain, images) - want).max()
    after = np.abs(_mean_output(corrected_int8, images) - want).max()
    assert before > 1e-3 and after < before / 3, (before, after)
