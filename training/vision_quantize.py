"""Full-integer int8 recognizer: static QDQ quantisation, per-channel weights, calibrated on augmented photos.

Every convolution and the classifier run in int8; only the heads after the classifier (softmax, the
nutrition mixture) stay float, because their arithmetic (a CDF read off a 512-point grid) is not
worth quantising and holds few weights. Agreement with fp32 is judged person-wise: a person's photos
are checked by a model calibrated on the other people's photos only.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageEnhance

from vision.decode import decode_image
from vision.preprocess import PreprocessSpec, preprocess_image

if TYPE_CHECKING:
    from training.vision_qat import QatConfig

logger = logging.getLogger(__name__)

IMAGE_INPUT = "image"  # the recognizer's input
CLASSIFIER_OP = "Gemm"  # the ImageNet classifier; the last node quantised
AUGMENTED_COPIES = 6  # augmented views per calibration photo, besides the plain one
CARBS_TOLERANCE = 0.05  # relative change of a carbohydrate quantile counted as "unchanged"
CALIBRATION_BATCH = 8  # photos per calibration call; min/max over a batch equals min/max over its photos
EXTRA_COPIES = 15  # augmented views per extra (distillation-only) photograph, besides the plain one


@dataclass(frozen=True)
class AugmentConfig:
    """Views of a photo a phone could take: closer or further, shifted, mirrored, other light."""

    short_side_px: tuple[int, int] = (224, 320)  # random resize of the shorter side, then a random crop
    brightness: tuple[float, float] = (0.75, 1.25)
    contrast: tuple[float, float] = (0.8, 1.2)
    saturation: tuple[float, float] = (0.8, 1.2)


def photo_person(path: Path) -> str:
    """D1NAMO keeps each person's photos in <person>/food_pictures/; the person is the folder above."""
    return path.parent.parent.name if path.parent.name == "food_pictures" else path.parent.name


def augmented_views(
    image: Image.Image, spec: PreprocessSpec, copies: int, rng: np.random.Generator, config: AugmentConfig
) -> npt.NDArray[np.uint8]:
    """(1 + copies, crop, crop, 3): the photo as served, then `copies` random views of it."""
    views = [preprocess_image(image, spec)]
    for _ in range(copies):
        short = int(rng.integers(config.short_side_px[0], config.short_side_px[1] + 1))
        scale = short / min(image.size)
        resized = image.resize(
            (max(spec.crop_px, round(image.width * scale)), max(spec.crop_px, round(image.height * scale))),
            Image.Resampling.BICUBIC,
        )
        left = int(rng.integers(0, resized.width - spec.crop_px + 1))
        top = int(rng.integers(0, resized.height - spec.crop_px + 1))
        view = resized.crop((left, top, left + spec.crop_px, top + spec.crop_px))
        if rng.random() < 0.5:
            view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        view = ImageEnhance.Brightness(view).enhance(float(rng.uniform(*config.brightness)))
        view = ImageEnhance.Contrast(view).enhance(float(rng.uniform(*config.contrast)))
        view = ImageEnhance.Color(view).enhance(float(rng.uniform(*config.saturation)))
        views.append(np.asarray(view, dtype=np.uint8))
    return np.stack(views)


def calibration_images(
    paths: Sequence[Path],
    spec: PreprocessSpec,
    copies: int = AUGMENTED_COPIES,
    seed: int = 0,
    config: AugmentConfig | None = None,
) -> npt.NDArray[np.uint8]:
    """(len(paths) * (1 + copies), crop, crop, 3) uint8: each photo as served plus augmented views."""
    rng = np.random.default_rng(seed)
    config = config or AugmentConfig()
    views = [
        augmented_views(
            decode_image(p.read_bytes(), min_size_px=spec.resize_short_side_px), spec, copies, rng, config
        )
        for p in paths
    ]
    return np.concatenate(views)


@dataclass(frozen=True)
class RealPhotos:
    """Real photos as the model sees them, with whose they are, and the augmented views that calibrate."""

    images: npt.NDArray[np.uint8]  # (N, H, W, 3), preprocessed as served
    people: tuple[str, ...]  # (N,)
    calibration: npt.NDArray[np.uint8]  # (M, H, W, 3): each photo as served plus augmented views
    calibration_people: tuple[str, ...]  # (M,)
    # (E, H, W, 3): augmented views of other photographs (no meal photo, nobody's), distillation only
    distill_extra: npt.NDArray[np.uint8] | None = None
    # (N, H, W, 3): the same photos through another correct decoder (the JPEG decoded whole, without the
    # server's DCT scaling; a phone's platform decoder differs from the server's as much): the fp32 model's
    # own noise floor (training/mobile_bundle.py, decoder_noise_floor)
    other_decoding: npt.NDArray[np.uint8] | None = None


def read_real_photos(
    paths: Sequence[Path],
    spec: PreprocessSpec,
    copies: int = AUGMENTED_COPIES,
    seed: int = 0,
    extra_paths: Sequence[Path] = (),
) -> RealPhotos:
    """Decode, preprocess and augment `paths`; the person of each photo from its folder (photo_person).
    `extra_paths`: other photographs whose augmented views (EXTRA_COPIES each) only feed the distillation."""
    from vision.recognition import preprocess_photo

    people = tuple(photo_person(p) for p in paths)
    views = calibration_images(paths, spec, copies, seed)  # (len(paths) * (1 + copies), ...)
    return RealPhotos(
        images=np.stack([preprocess_photo(p.read_bytes(), spec) for p in paths]),
        people=people,
        calibration=views,
        calibration_people=tuple(person for person in people for _ in range(1 + copies)),
        distill_extra=calibration_images(extra_paths, spec, EXTRA_COPIES, seed + 1) if extra_paths else None,
        other_decoding=np.stack([full_decode(p.read_bytes(), spec) for p in paths]),
    )


def full_decode(data: bytes, spec: PreprocessSpec) -> npt.NDArray[np.uint8]:
    """The model input from the photo decoded whole (no DCT scaling), then preprocessed as served: another
    correct decoding of the same bytes, as a phone's platform decoder is."""
    return preprocess_image(decode_image(data), spec)


def _float_heads(model_path: Path) -> list[str]:
    """Names of every node computed from the classifier's output (softmax, nutrition heads): kept float."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    classifiers = [n for n in graph.node if n.op_type == CLASSIFIER_OP]
    if not classifiers:
        return []
    live = set(classifiers[-1].output)
    names = []
    for node in graph.node:  # nodes are topologically sorted in a valid ONNX graph
        if any(i in live for i in node.input):
            names.append(node.name)
            live.update(node.output)
    return names


def _quantize_static(
    prepared: Path, int8_path: Path, images: npt.NDArray[np.uint8], exclude: list[str]
) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class _Photos(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(
                [
                    {IMAGE_INPUT: images[i : i + CALIBRATION_BATCH]}
                    for i in range(0, len(images), CALIBRATION_BATCH)
                ]
            )

        def get_next(self) -> dict[str, npt.NDArray[np.uint8]] | None:
            return next(self._batches, None)

    quantize_static(
        str(prepared),
        str(int8_path),
        _Photos(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=exclude,
    )


def channel_means(
    model_path: Path, tensor_names: Sequence[str], images: npt.NDArray[np.uint8]
) -> dict[str, npt.NDArray[np.float64]]:
    """Mean of each named float tensor per channel (axis 1) over `images`, from the unoptimised graph."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(model_path))
    present = {o.name for o in model.graph.output}
    for name in tensor_names:
        if name not in present:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = list(tensor_names)
    sums = {name: np.zeros(0) for name in names}
    for start in range(0, len(images), CALIBRATION_BATCH):
        values = session.run(names, {IMAGE_INPUT: images[start : start + CALIBRATION_BATCH]})
        for name, value in zip(names, values, strict=True):
            axes = (0, *range(2, value.ndim))  # (N, C, ...) -> (C,)
            total = value.astype(np.float64).sum(axis=axes) / (value.size / value.shape[1])
            sums[name] = (
                total * value.shape[0] if sums[name].size == 0 else sums[name] + total * value.shape[0]
            )
    return {name: total / len(images) for name, total in sums.items()}


def correct_biases(prepared: Path, quantized: Path, corrected: Path, images: npt.NDArray[np.uint8]) -> int:
    """Bias correction (Nagel et al. 2019, "Data-free quantization", section 4.2) of every int8 layer.

    Rounding the weights W to W_q shifts each output channel's mean by (W_q - W) E[x]; subtracting it
    from the float bias before quantising again removes that systematic error. E[x] per input channel
    comes from the float model on the calibration photos; W_q is what ONNX Runtime wrote in `quantized`
    (the second quantisation rounds the same weights the same way). Writes `corrected`; returns the
    number of layers corrected. On the recognizer it lifts top-1 agreement with fp32 by several photos
    in 48 (figures in models/food_recognizer/MODEL_CARD.md, "Mobile bundle").
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(prepared))
    weights = {i.name: i for i in model.graph.initializer}
    written = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(quantized)).graph.initializer}
    layers = [
        n
        for n in model.graph.node
        if n.op_type in ("Conv", CLASSIFIER_OP)
        and len(n.input) > 2
        and f"{n.input[1]}_quantized" in written
        and n.input[2] in weights
    ]
    means = channel_means(prepared, sorted({n.input[0] for n in layers}), images)
    for node in layers:
        w = numpy_helper.to_array(weights[node.input[1]]).astype(
            np.float64
        )  # (C_out, C_in/groups, k, k) or (out, in)
        scale = written[f"{node.input[1]}_scale"].astype(np.float64)  # (C_out,)
        zero = written[f"{node.input[1]}_zero_point"].astype(np.float64)
        q = written[f"{node.input[1]}_quantized"].astype(np.float64)
        broadcast = (-1,) + (1,) * (w.ndim - 1)
        delta = (q - zero.reshape(broadcast)) * scale.reshape(broadcast) - w  # rounding error of each weight
        x_mean = means[node.input[0]]  # (C_in,)
        groups = next((a.i for a in node.attribute if a.name == "group"), 1)
        if node.op_type == CLASSIFIER_OP:
            shift = delta @ x_mean  # Gemm with transB=1: weight (out, in)
        elif groups == w.shape[0] and w.shape[1] == 1:
            shift = delta.reshape(w.shape[0], -1).sum(axis=1) * x_mean  # depthwise: channel c reads input c
        else:
            shift = delta.sum(axis=(2, 3)) @ x_mean
        bias = weights[node.input[2]]
        corrected_bias = (numpy_helper.to_array(bias).astype(np.float64) - shift).astype(np.float32)
        bias.CopyFrom(numpy_helper.from_array(corrected_bias, bias.name))
    onnx.save(model, str(corrected))
    return len(layers)


def quantize_recognizer(
    fp32_path: Path,
    int8_path: Path,
    images: npt.NDArray[np.uint8],  # (N, H, W, 3)
    float_out: Path | None = None,
    qat: QatConfig | None = None,
    distill_extra: npt.NDArray[np.uint8] | None = None,
) -> None:
    """Full-integer int8 QDQ: per-channel symmetric int8 weights, uint8 activations calibrated (min/max)
    on `images`, biases corrected for the weights' rounding. Only the heads after the classifier stay float.

    `qat`: then fine-tune the int8 graph by distillation from fp32 (training/vision_qat.py) on `images`
    plus `distill_extra` (views of other photographs). The written file is compacted for phones: the
    nutrition head's CDF tables computed in the graph, short tensor names (compact_int8).
    `float_out`: where to keep the float model that was quantised (bias-corrected), for fine-tuning."""
    with tempfile.TemporaryDirectory() as tmp:
        ptq, floats, tuned = Path(tmp) / "ptq.onnx", Path(tmp) / "float.onnx", Path(tmp) / "qat.onnx"
        post_training_quantize(fp32_path, ptq, images, floats)
        if float_out is not None:
            shutil.copyfile(floats, float_out)
        if qat is not None and _has_classifier(ptq):
            from training.vision_qat import fine_tune_qdq

            views = (
                images
                if distill_extra is None or not len(distill_extra)
                else np.concatenate([images, distill_extra])
            )
            losses = fine_tune_qdq(fp32_path, ptq, floats, views, tuned, qat)
            logger.info(
                "int8 fine-tuned by distillation: loss %.4f -> %.4f",
                np.mean(losses[:10]),
                np.mean(losses[-10:]),
            )
            compact_int8(tuned, int8_path)
        else:
            compact_int8(ptq, int8_path)


def _has_classifier(path: Path) -> bool:
    import onnx

    return any(n.op_type == CLASSIFIER_OP for n in onnx.load(str(path), load_external_data=False).graph.node)


def compact_int8(src: Path, dst: Path) -> None:
    """The phone file: the nutrition head's CDF tables computed in the graph (0.4 MB less), no all-zero
    zero points on the constant weights and biases (0.11 MB less), short names."""
    with tempfile.TemporaryDirectory() as tmp:
        tables, no_zeros = Path(tmp) / "tables.onnx", Path(tmp) / "no_zeros.onnx"
        replaced = compute_cdf_tables_in_graph(src, tables)
        logger.info("int8: %d CDF tables computed in the graph instead of stored", replaced)
        dropped = drop_zero_points(tables, no_zeros)
        logger.info("int8: %d all-zero weight and bias zero points dropped", dropped)
        shorten_names(no_zeros, dst)


def drop_zero_points(src: Path, dst: Path) -> int:
    """Remove the zero-point input of every DequantizeLinear of a constant int8 or int32 tensor whose zero
    points are all 0: the symmetric weights' (int8, one per output channel) and the biases' (int32, one per
    channel). ONNX defines a missing zero point as 0, so the arithmetic is unchanged (the outputs are
    bit-identical, with and without ONNX Runtime's fused int8 kernels); ~0.11 MB less on the recognizer.
    Activations keep theirs (uint8, not 0). Returns the number of initialisers removed."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    removed = 0
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) < 3 or node.input[0] not in inits:
            continue
        zero = node.input[2]
        if zero not in inits:
            continue
        values = numpy_helper.to_array(inits[zero])
        if values.dtype not in (np.int8, np.int32) or values.any():
            continue
        del node.input[2]
        uses[zero] -= 1
        if uses[zero] == 0:
            graph.initializer.remove(inits.pop(zero))
            removed += 1
    onnx.save(model, str(dst))
    return removed


def post_training_quantize(
    fp32_path: Path, int8_path: Path, images: npt.NDArray[np.uint8], float_out: Path | None = None
) -> None:
    """Static QDQ with min/max ranges on `images` and bias correction (the recipe before fine-tuning)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared, first, corrected = (
            Path(tmp) / "prepared.onnx",
            Path(tmp) / "first.onnx",
            Path(tmp) / "bc.onnx",
        )
        # Symbolic shape inference chokes on the exported quantile head; ONNX shape inference suffices.
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        exclude = _float_heads(prepared)
        _quantize_static(prepared, first, images, exclude)
        layers = correct_biases(prepared, first, corrected, images)
        logger.info("bias-corrected %d layers; quantising again", layers)
        _quantize_static(corrected, int8_path, images, exclude)
        if float_out is not None:
            shutil.copyfile(corrected, float_out)


def _fit_normal_cdf(
    table: npt.NDArray[np.float32], grid: npt.NDArray[np.float32]
) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sd) per row of a table of normal CDFs on `grid`: Phi((grid - mu) / sd), from its interior."""
    from scipy.special import ndtri

    mus, sds = [], []
    for row in table.astype(np.float64):
        inside = (row > 1e-4) & (row < 1 - 1e-4)
        if inside.sum() < 2:
            raise ValueError("a CDF row has fewer than two interior points")
        z = ndtri(row[inside])
        slope, intercept = np.polyfit(grid[inside].astype(np.float64), z, 1)
        mus.append(-intercept / slope)
        sds.append(1.0 / slope)
    return np.asarray(mus), np.asarray(sds)


CDF_TABLE_TOLERANCE = 1e-5  # max |difference| allowed between a table and its in-graph recomputation


def compute_cdf_tables_in_graph(src: Path, dst: Path) -> int:
    """Replace the constant-folded (classes x grid) normal-CDF tables of the nutrition head by their
    computation, 0.5 (1 + erf((grid - mu) / (sd sqrt 2))), from per-class mu and sd.

    The fp32 export folds them into two 97 x 512 float tables (0.4 MB); the int8 file for phones keeps
    only the 97 + 97 numbers per table and the grid. A DequantizeLinear of a constant one (which ONNX
    Runtime never folds) feeds the computation, so converting to ORT format does not fold it back.
    Each recomputed table must equal the folded one within CDF_TABLE_TOLERANCE. Returns how many
    tables were replaced."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    grids = [
        n.input[0] for n in graph.node if n.op_type == "Gather" and n.input[0] in inits
    ]  # the quantile code reads x0/x1 off the grid
    replaced = 0
    new_nodes: list[onnx.NodeProto] = []
    for name, init in list(inits.items()):
        table = numpy_helper.to_array(init)
        if table.ndim != 2 or table.dtype != np.float32 or not (table.min() >= 0 and table.max() <= 1):
            continue
        if not all(c.op_type == "MatMul" and c.input[1] == name for c in consumers.get(name, [])):
            continue
        grid_name = next(
            (
                g
                for g in grids
                if numpy_helper.to_array(inits[g]).shape == (table.shape[1],)
                and _recomputes(table, numpy_helper.to_array(inits[g]))
            ),
            None,
        )
        if grid_name is None:
            continue
        mu, sd = _fit_normal_cdf(table, numpy_helper.to_array(inits[grid_name]))
        prefix = f"{name}_cdf"
        graph.initializer.remove(init)
        graph.initializer.extend(
            [
                numpy_helper.from_array(mu.astype(np.float32).reshape(-1, 1), f"{prefix}_mu"),
                numpy_helper.from_array(
                    (sd * np.sqrt(2.0)).astype(np.float32).reshape(-1, 1), f"{prefix}_sd_sqrt2"
                ),
                numpy_helper.from_array(np.array(0.5, np.float32), f"{prefix}_half"),
            ]
        )
        if replaced == 0:
            graph.initializer.extend(
                [
                    numpy_helper.from_array(np.array([1], np.int8), "cdf_one_q"),
                    numpy_helper.from_array(np.array(1.0, np.float32), "cdf_one_scale"),
                ]
            )
            new_nodes.append(
                helper.make_node(
                    "DequantizeLinear", ["cdf_one_q", "cdf_one_scale"], ["cdf_one"], name="cdf_one"
                )
            )
        new_nodes += [
            helper.make_node("Mul", [grid_name, "cdf_one"], [f"{prefix}_grid"], name=f"{prefix}_grid"),
            helper.make_node("Sub", [f"{prefix}_grid", f"{prefix}_mu"], [f"{prefix}_d"], name=f"{prefix}_d"),
            helper.make_node(
                "Div", [f"{prefix}_d", f"{prefix}_sd_sqrt2"], [f"{prefix}_z"], name=f"{prefix}_z"
            ),
            helper.make_node("Erf", [f"{prefix}_z"], [f"{prefix}_erf"], name=f"{prefix}_erf"),
            helper.make_node("Add", [f"{prefix}_erf", "cdf_one"], [f"{prefix}_1p"], name=f"{prefix}_1p"),
            helper.make_node("Mul", [f"{prefix}_1p", f"{prefix}_half"], [name], name=f"{prefix}_table"),
        ]
        replaced += 1
    for node in reversed(new_nodes):
        graph.node.insert(0, node)
    onnx.save(model, str(dst))
    return replaced


def _recomputes(table: npt.NDArray[np.float32], grid: npt.NDArray[np.float32]) -> bool:
    from scipy.special import erf

    try:
        mu, sd = _fit_normal_cdf(table, grid)
    except ValueError:
        return False
    z = (grid[None, :].astype(np.float32) - mu.astype(np.float32)[:, None]) / (sd * np.sqrt(2.0)).astype(
        np.float32
    )[:, None]
    again = 0.5 * (1.0 + erf(z.astype(np.float32)))
    return bool(np.abs(again - table).max() <= CDF_TABLE_TOLERANCE)


def shorten_names(src: Path, dst: Path) -> None:
    """Tensor and node names as short hexadecimal numbers (graph inputs and outputs keep theirs): the
    exported names ('/_blocks.12/_act_1/Clip_output_0_DequantizeLinear_Output') cost ~80 kB in a phone file."""
    import onnx

    model = onnx.load(str(src))
    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, format(len(names), "x"))

    for init in graph.initializer:
        init.name = short(init.name)
    for node in graph.node:
        node.name = ""
        node.doc_string = ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    del graph.value_info[:]
    onnx.save(model, str(dst))
