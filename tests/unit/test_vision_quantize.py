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
    drop_zero_points,
    full_decode,
    photo_person,
)
from vision.preprocess import PreprocessSpec, preprocess_image
from vision.recognition import preprocess_photo


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


def _outputs(path: Path, images: np.ndarray, optimise: bool) -> np.ndarray:
    options = ort.SessionOptions()
    if not optimise:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    (y,) = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(
        None, {"image": images}
    )
    return y


def test_dropping_all_zero_weight_and_bias_zero_points_changes_no_output_bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    float_model, int8, dropped = tmp_path / "f.onnx", tmp_path / "q.onnx", tmp_path / "d.onnx"
    _conv_model(
        float_model,
        rng.normal(0.0, 0.3, (4, 3, 3, 3)).astype(np.float32),
        rng.normal(0, 0.1, 4).astype(np.float32),
    )
    images = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    _quantize_static(float_model, int8, images, [])
    assert drop_zero_points(int8, dropped) == 2  # the conv's int8 weight and int32 bias zero points
    kept = {i.name for i in onnx.load(str(dropped)).graph.initializer}
    before = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(int8)).graph.initializer}
    gone = set(before) - kept
    assert len(gone) == 2 and all(before[name].dtype in (np.int8, np.int32) for name in gone)
    assert any(v.dtype == np.uint8 for v in (before[n] for n in kept))  # activations keep their zero point
    for optimise in (False, True):  # the QDQ graph as written, and ONNX Runtime's fused int8 kernels
        assert np.array_equal(_outputs(int8, images, optimise), _outputs(dropped, images, optimise))


def test_a_nonzero_zero_point_is_kept(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    float_model, int8, dropped = tmp_path / "f.onnx", tmp_path / "q.onnx", tmp_path / "d.onnx"
    _conv_model(float_model, rng.normal(0.0, 0.3, (4, 3, 3, 3)).astype(np.float32), np.zeros(4, np.float32))
    images = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    _quantize_static(float_model, int8, images, [])
    model = onnx.load(str(int8))
    for init in model.graph.initializer:
        values = numpy_helper.to_array(init)
        if values.dtype == np.int8 and values.ndim == 1:  # the weight zero points: make one nonzero
            values = values.copy()
            values[0] = 1
            init.CopyFrom(numpy_helper.from_array(values, init.name))
    onnx.save(model, str(int8))
    assert drop_zero_points(int8, dropped) == 1  # only the bias's


def _jpeg(width: int, height: int) -> bytes:
    import io

    rng = np.random.default_rng(2)
    small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    image = Image.fromarray(small, "RGB").resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_the_other_decoding_decodes_a_large_jpeg_whole_and_differs_from_the_servers_by_a_few_levels() -> None:
    spec = PreprocessSpec(resize_short_side_px=64, crop_px=56)
    data = _jpeg(512, 384)  # the server decodes it at 2/8 scale (128 x 96 >= 64)
    served, whole = preprocess_photo(data, spec), full_decode(data, spec)
    assert served.shape == whole.shape == (56, 56, 3)
    diff = np.abs(served.astype(int) - whole.astype(int))
    assert 0 < diff.mean() < 8, diff.mean()
    small = _jpeg(64, 64)  # no DCT scaling possible: both decoders are the same
    assert np.array_equal(preprocess_photo(small, spec), full_decode(small, spec))
