"""The retraining pipeline behind `mealimpact train vision` and `mealimpact evaluate recognizer --figures classes`.

Read labelled photos, fit, export a new version, evaluate it through ONNX Runtime (the way serving runs
it), and write the report beside the model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from tqdm import tqdm

from mealimpact.model_repository.layout import next_version
from mealimpact.model_repository.sessions import open_session
from training.vision_dataset import LabelledPhoto, class_names, read_labelled_photos
from training.vision_report import ClassificationReport, classification_report, write_report
from training.vision_train import VisionTrainConfig, train_classifier
from training.vision_version import (
    base_metadata,
    foods_from_taxonomy,
    read_nutrition_file,
    write_version,
)
from vision.metadata import MODEL_NAME, parse_metadata
from vision.recognition import preprocess_photo

logger = logging.getLogger(__name__)


class EvaluationDataError(ValueError):
    """The photos cannot evaluate this model (no class in common, no photos in the split)."""


@dataclass(frozen=True)
class RetrainResult:
    version: int
    model_path: Path
    report: ClassificationReport
    report_files: tuple[Path, ...]
    train_seconds: float
    val_accuracy: float


def evaluation_photos(photos: Sequence[LabelledPhoto]) -> list[LabelledPhoto]:
    """The test split, or the validation split when the layout has no test photos."""
    test = [p for p in photos if p.split == "test"]
    return test or [p for p in photos if p.split == "val"]


def predict_onnx(
    model_path: Path, paths: Sequence[Path], batch_size: int = 8
) -> dict[str, npt.NDArray[np.float32]]:
    """Every output of the model for the photos, decoded and preprocessed as its metadata says."""
    session = open_session(model_path)
    spec = parse_metadata(session.get_modelmeta().custom_metadata_map).preprocess
    names = [o.name for o in session.get_outputs()]
    chunks: dict[str, list[npt.NDArray[np.float32]]] = {name: [] for name in names}
    for start in tqdm(range(0, len(paths), batch_size), desc="evaluate", unit="batch", disable=None):
        batch = np.stack([preprocess_photo(p.read_bytes(), spec) for p in paths[start : start + batch_size]])
        for name, value in zip(names, session.run(names, {"image": batch}), strict=True):
            chunks[name].append(value)
    return {name: np.concatenate(values) for name, values in chunks.items()}


def model_labels(model_path: Path) -> list[str]:
    """The class names in the order of the model's `probabilities` output (from its metadata)."""
    props = {p.key: p.value for p in onnx.load(str(model_path), load_external_data=False).metadata_props}
    return [label.name for label in parse_metadata(props).labels]


def evaluate_model(model_path: Path, version: str, photos: Sequence[LabelledPhoto]) -> ClassificationReport:
    """Figures of one ONNX model on labelled photos whose labels it knows (others are left out, logged)."""
    labels = model_labels(model_path)
    known = [p for p in photos if p.label in labels]
    if not known:
        raise EvaluationDataError(
            f"None of the photo classes {sorted({p.label for p in photos})} is a class of model version {version}."
        )
    if len(known) < len(photos):
        logger.warning("%d photos have classes this model does not know; left out", len(photos) - len(known))
    outputs = predict_onnx(model_path, [p.path for p in known])
    return classification_report(
        version,
        labels,
        np.array([labels.index(p.label) for p in known]),
        outputs["probabilities"],
        [p.path for p in known],
        carbs_g=outputs["carbs_g"],
        carbs_labels_g=[p.carbs_g for p in known],
        kcal=outputs["kcal"],
        kcal_labels=[p.kcal for p in known],
    )


def model_path_of(models_dir: Path, version: str) -> Path:
    """`models_dir/food_recognizer/<version>/model.onnx`, or a named error listing where to look."""
    path = models_dir / MODEL_NAME / version / "model.onnx"
    if not path.is_file():
        raise EvaluationDataError(f"{path} does not exist; list {models_dir / MODEL_NAME} for the versions.")
    return path


def retrain(
    data: Path,
    nutrition: Path | None,
    config: VisionTrainConfig,
    models_dir: Path,
    out_models_dir: Path,
    runs_dir: Path,
) -> RetrainResult:
    """Train, export `out_models_dir/food_recognizer/<n>/`, evaluate it and write its report there."""
    photos = read_labelled_photos(data, seed=config.seed)
    labels = tuple(class_names(photos))
    foods = read_nutrition_file(nutrition, labels) if nutrition else foods_from_taxonomy(labels)
    base = base_metadata(models_dir)
    trained = train_classifier(photos, labels, base.preprocess, config, runs_dir)
    version = next_version(models_dir / MODEL_NAME, out_models_dir / MODEL_NAME)
    counts = {split: sum(p.split == split for p in photos) for split in ("train", "val", "test")}
    training_data = {
        "photos": str(data),
        "photos_per_split": counts,
        "classes": list(labels),
        "nutrition": str(nutrition) if nutrition else "shipped taxonomy",
    }
    metrics = {"val_accuracy": trained.val_accuracy, "best_epoch": trained.best_epoch}
    path = write_version(trained, foods, base, out_models_dir, version, config, training_data, metrics)
    report = evaluate_model(path, str(version), evaluation_photos(photos))
    files = write_report(report, labels, path.parent / "report")
    summary = {"train_seconds": trained.seconds, "mode": config.mode, "version": version}
    (path.parent / "report" / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return RetrainResult(version, path, report, tuple(files), trained.seconds, trained.val_accuracy)
