"""Evaluation report of a recognizer on labelled photos: accuracy, per-class figures, plots, few-shot.

Numbers go to a JSON; the confusion matrix and the worst confusions (with thumbnails) to PNGs beside it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from vision.decode import decode_image
from vision.fewshot import build_prototype
from vision.preprocess import PreprocessSpec, preprocess_image

TOP_K = 5
WORST_CONFUSIONS = 6  # pairs shown with thumbnails
THUMBNAIL_PX = 160


@dataclass(frozen=True)
class ClassFigures:
    label: str
    support: int  # photos of this class
    precision: float  # NaN (null in the JSON) when the model never predicted the class
    recall: float


@dataclass(frozen=True)
class Confusion:
    true_label: str
    predicted_label: str
    count: int
    example_paths: tuple[str, ...]


@dataclass(frozen=True)
class ClassificationReport:
    model_version: str
    photos: int
    top1_accuracy: float
    top5_accuracy: float  # top-min(5, K)
    balanced_accuracy: float  # mean recall over classes: what a class imbalance cannot flatter
    per_class: tuple[ClassFigures, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]  # [true][predicted], in label order
    worst_confusions: tuple[Confusion, ...]
    carbs_median_abs_error_g: float | None  # where the data has carbohydrate labels
    kcal_median_abs_error: float | None  # where the data has kcal labels
    kcal_share_within_30pct: float | None

    def to_json(self) -> dict[str, Any]:
        """The figures as strict JSON values: an undefined figure (NaN) becomes null."""
        return _nan_to_none(asdict(self))


def _nan_to_none(value: Any) -> Any:
    # json.dumps would write NaN, which strict JSON readers (browsers, jq) refuse.
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value


def classification_report(
    model_version: str,
    labels: Sequence[str],
    true_index: npt.NDArray[np.int64],  # (N,)
    probabilities: npt.NDArray[np.float32],  # (N, K)
    paths: Sequence[Path],
    *,
    carbs_g: npt.NDArray[np.float32] | None = None,  # (N, 3) predicted p10, median, p90
    carbs_labels_g: Sequence[float | None] = (),
    kcal: npt.NDArray[np.float32] | None = None,  # (N, 3)
    kcal_labels: Sequence[float | None] = (),
) -> ClassificationReport:
    """All figures of one model on one labelled set; probabilities are over `labels`."""
    k = len(labels)
    ranked = np.argsort(-probabilities, axis=1)  # (N, K)
    predicted = ranked[:, 0]
    top_k = ranked[:, : min(TOP_K, k)]
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (true_index, predicted), 1)
    per_class = []
    for i, label in enumerate(labels):
        predicted_i = matrix[:, i].sum()
        support = matrix[i].sum()
        per_class.append(
            ClassFigures(
                label=label,
                support=int(support),
                precision=float(matrix[i, i] / predicted_i) if predicted_i else float("nan"),
                recall=float(matrix[i, i] / support) if support else float("nan"),
            )
        )
    recalls = [c.recall for c in per_class if c.support]
    off_diagonal = [(int(matrix[t, p]), t, p) for t in range(k) for p in range(k) if t != p and matrix[t, p]]
    worst = []
    for count, t, p in sorted(off_diagonal, reverse=True)[:WORST_CONFUSIONS]:
        examples = [str(paths[n]) for n in np.flatnonzero((true_index == t) & (predicted == p))[:3]]
        worst.append(Confusion(labels[t], labels[p], count, tuple(examples)))
    carbs_error = _median_abs_error(carbs_g, carbs_labels_g)
    kcal_error = _median_abs_error(kcal, kcal_labels)
    return ClassificationReport(
        model_version=model_version,
        photos=len(true_index),
        top1_accuracy=float((predicted == true_index).mean()),
        top5_accuracy=float((top_k == true_index[:, None]).any(axis=1).mean()),
        balanced_accuracy=float(np.mean(recalls)),
        per_class=tuple(per_class),
        confusion_matrix=tuple(tuple(int(v) for v in row) for row in matrix),
        worst_confusions=tuple(worst),
        carbs_median_abs_error_g=carbs_error,
        kcal_median_abs_error=kcal_error,
        kcal_share_within_30pct=_share_within(kcal, kcal_labels, 0.3),
    )


def _labelled(predicted: npt.NDArray[np.float32] | None, truth: Sequence[float | None]) -> tuple[Any, Any]:
    if predicted is None or not truth:
        return None, None
    mask = np.array([t is not None and t > 0 for t in truth])
    if not mask.any():
        return None, None
    return predicted[mask, 1], np.array([t for t in truth if t is not None and t > 0], dtype=np.float64)


def _median_abs_error(
    predicted: npt.NDArray[np.float32] | None, truth: Sequence[float | None]
) -> float | None:
    median, labels = _labelled(predicted, truth)
    return None if median is None else float(np.median(np.abs(median - labels)))


def _share_within(
    predicted: npt.NDArray[np.float32] | None, truth: Sequence[float | None], rel: float
) -> float | None:
    median, labels = _labelled(predicted, truth)
    return None if median is None else float((np.abs(median - labels) <= rel * labels).mean())


def write_report(report: ClassificationReport, labels: Sequence[str], folder: Path) -> list[Path]:
    """report.json, confusion_matrix.png and worst_confusions.png in `folder`; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "report.json"
    json_path.write_text(json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n")
    matrix = np.array(report.confusion_matrix)
    size = max(4.0, 0.45 * len(labels) + 2)
    # A bare Figure, not pyplot: files only, no display or global figure state on a training machine.
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    for (t, p), count in np.ndenumerate(matrix):
        if count:
            ax.text(p, t, str(count), ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report.model_version}: top-1 {report.top1_accuracy:.2f} on {report.photos} photos")
    fig.tight_layout()
    matrix_path = folder / "confusion_matrix.png"
    fig.savefig(matrix_path, dpi=100)
    paths = [json_path, matrix_path]
    if report.worst_confusions:
        paths.append(_write_confusion_thumbnails(report.worst_confusions, folder / "worst_confusions.png"))
    return paths


def _write_confusion_thumbnails(confusions: Sequence[Confusion], path: Path) -> Path:
    spec = PreprocessSpec(resize_short_side_px=THUMBNAIL_PX, crop_px=THUMBNAIL_PX)
    columns = max(len(c.example_paths) for c in confusions)
    fig = Figure(figsize=(2.2 * columns, 2.4 * len(confusions)))
    axes = fig.subplots(len(confusions), columns, squeeze=False)
    for row, confusion in enumerate(confusions):
        for col in range(columns):
            ax = axes[row][col]
            ax.axis("off")
            if col < len(confusion.example_paths):
                image = decode_image(
                    Path(confusion.example_paths[col]).read_bytes(), min_size_px=THUMBNAIL_PX
                )
                ax.imshow(preprocess_image(image, spec))
        axes[row][0].set_title(
            f"{confusion.true_label} -> {confusion.predicted_label} ({confusion.count})",
            fontsize=9,
            loc="left",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path


@dataclass(frozen=True)
class FewShotResult:
    shots: int
    ways: int  # classes in each episode (those with more than `shots` photos)
    queries_per_episode: float
    episodes: int
    mean_accuracy: float
    sd_accuracy: float
    chance_accuracy: float


def evaluate_few_shot(
    embeddings: npt.NDArray[np.float32],  # (N, D) unit rows
    labels: Sequence[str],
    shots: int,
    *,
    episodes: int = 200,
    seed: int = 0,
) -> FewShotResult | None:
    """Episodes: `shots` random photos per class build prototypes; every other photo of those classes
    is a held-out query. None when fewer than two classes have more than `shots` photos."""
    label_array = np.asarray(labels)
    classes = [c for c in sorted(set(labels)) if (label_array == c).sum() > shots]
    if len(classes) < 2:
        return None
    rng = np.random.default_rng(seed)
    accuracies, queries = [], []
    for _ in range(episodes):
        prototypes, query_index, query_class = [], [], []
        for k, name in enumerate(classes):
            members = rng.permutation(np.flatnonzero(label_array == name))
            prototypes.append(build_prototype(embeddings[members[:shots]]))
            query_index += list(members[shots:])
            query_class += [k] * (len(members) - shots)
        predicted = (embeddings[query_index] @ np.stack(prototypes).T).argmax(axis=1)
        accuracies.append(float((predicted == np.array(query_class)).mean()))
        queries.append(len(query_index))
    return FewShotResult(
        shots=shots,
        ways=len(classes),
        queries_per_episode=float(np.mean(queries)),
        episodes=episodes,
        mean_accuracy=float(np.mean(accuracies)),
        sd_accuracy=float(np.std(accuracies)),
        chance_accuracy=1.0 / len(classes),
    )


@dataclass(frozen=True)
class TakeoverRates:
    """How often a personal class built from `shots` photos wins over the model (w_c > w_0)."""

    shots: int
    same_dish: float  # held-out photos of the taught dish: should be high
    other_dish: float  # photos of other dishes: should be low
    episodes: int


def personal_class_takeover(
    embeddings: npt.NDArray[np.float32],  # (N, D) unit rows
    labels: Sequence[str],
    shots: int,
    *,
    temperature: float,
    threshold: float,
    episodes: int = 200,
    seed: int = 0,
) -> TakeoverRates | None:
    """Teach one dish from `shots` photos; count takeovers on its other photos and on other dishes."""
    label_array = np.asarray(labels)
    classes = [c for c in sorted(set(labels)) if (label_array == c).sum() > shots]
    if not classes:
        return None
    rng = np.random.default_rng(seed)
    same, other = [], []
    for _ in range(episodes):
        name = classes[rng.integers(len(classes))]
        members = rng.permutation(np.flatnonzero(label_array == name))
        prototype = build_prototype(embeddings[members[:shots]])
        similarity = embeddings @ prototype  # (N,)
        wins = similarity > threshold  # w_c > w_0 exactly when the similarity beats the threshold
        same.append(wins[members[shots:]].mean())
        other.append(wins[label_array != name].mean())
    del temperature  # takeover (w_c > w_0) does not depend on it; it only sharpens the weights
    return TakeoverRates(shots, float(np.mean(same)), float(np.mean(other)), episodes)
