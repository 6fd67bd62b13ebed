"""Labelled photo sets for retraining the recognizer: split folders, Food-101, a CSV, D1NAMO.

Every layout becomes one list of `LabelledPhoto`; a set without a validation split gets one carved
from its training photos, stratified by class with a fixed seed.
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"})
# Share of each class held out when a layout has no validation (or test) split of its own.
HELD_OUT_FRACTION = 0.2


class DatasetLayoutError(ValueError):
    """The data folder or CSV is not one of the accepted layouts; the message says what was found."""


@dataclass(frozen=True)
class LabelledPhoto:
    """One photo with its class; `carbs_g` / `kcal` are the meal's labels when the data has them."""

    path: Path
    label: str
    split: str  # one of SPLITS, or "" until assigned
    carbs_g: float | None = None
    kcal: float | None = None
    group: str = ""  # who took the photo, when known (for splitting by person)


def read_labelled_photos(data: Path, *, seed: int) -> list[LabelledPhoto]:
    """Read any accepted layout; photos without a split get a stratified train/val(/test) split."""
    if data.is_file():
        if data.suffix.lower() != ".csv":
            raise DatasetLayoutError(f"{data} is a file but not a .csv of path,label rows.")
        photos = read_csv_layout(data)
    elif (data / "meta" / "train.txt").is_file() and (data / "images").is_dir():
        photos = read_food101_layout(data)
    elif any((data / split).is_dir() for split in SPLITS):
        photos = read_split_folders(data)
    elif any(data.glob("*/food.csv")):
        from training.d1namo_labels import read_d1namo_photos  # here: d1namo_labels imports this module

        photos = read_d1namo_photos(data)
    else:
        raise DatasetLayoutError(
            f"{data} is not a recognised layout. Use DIR/train/<class>/*.jpg (plus val/, test/), the "
            "Food-101 layout (images/<class>/*.jpg with meta/train.txt and meta/test.txt), a CSV with "
            "columns path,label[,split,carbs_g,kcal], or the D1NAMO folder (<person>/food.csv)."
        )
    if not photos:
        raise DatasetLayoutError(f"No labelled photos found in {data}.")
    missing = [str(p.path) for p in photos if not p.path.is_file()]
    if missing:
        raise DatasetLayoutError(
            f"{len(missing)} listed photos do not exist (first: {missing[:3]}); fix the paths in {data}."
        )
    return assign_missing_splits(photos, seed=seed)


def _photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_split_folders(data: Path) -> list[LabelledPhoto]:
    """DIR/{train,val,test}/<class>/<photo>."""
    photos = []
    for split in SPLITS:
        if not (data / split).is_dir():
            continue
        for class_dir in sorted(p for p in (data / split).iterdir() if p.is_dir()):
            photos += [LabelledPhoto(path, class_dir.name, split) for path in _photos_in(class_dir)]
    return photos


def read_food101_layout(data: Path) -> list[LabelledPhoto]:
    """Food-101: images/<class>/<id>.jpg listed as `<class>/<id>` in meta/train.txt and meta/test.txt."""
    photos = []
    for split, listing in (("train", "train.txt"), ("test", "test.txt")):
        path = data / "meta" / listing
        if not path.is_file():
            continue
        for line in path.read_text().split():
            label = line.split("/", 1)[0]
            photos.append(LabelledPhoto(data / "images" / f"{line}.jpg", label, split))
    return photos


def _optional_float(row: dict[str, str], column: str, where: str) -> float | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError as err:
        raise DatasetLayoutError(f"{where}: {column} must be a number, got {text!r}.") from err


def read_csv_layout(path: Path) -> list[LabelledPhoto]:
    """A CSV with a header `path,label` and optionally `split`, `carbs_g`, `kcal`, `group`.

    Relative paths are relative to the CSV's folder.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise DatasetLayoutError(f"{path} is not UTF-8 text; save the CSV as UTF-8.") from err
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = set(reader.fieldnames or ())
    if not {"path", "label"} <= columns:
        raise DatasetLayoutError(
            f"{path} needs a header with at least the columns path,label; found {sorted(columns)}."
        )
    photos = []
    for line, row in enumerate(reader, start=2):
        where = f"{path}:{line}"
        # A short row leaves its missing cells None (csv.DictReader's restval).
        path_text, label = (row["path"] or "").strip(), (row["label"] or "").strip()
        split = (row.get("split") or "").strip()
        if not path_text:
            raise DatasetLayoutError(f"{where}: empty path.")
        if not label:
            raise DatasetLayoutError(f"{where}: empty label.")
        if split and split not in SPLITS:
            raise DatasetLayoutError(f"{where}: split must be one of {SPLITS}, got {split!r}.")
        photos.append(
            LabelledPhoto(
                path=path.parent / path_text,
                label=label,
                split=split,
                carbs_g=_optional_float(row, "carbs_g", where),
                kcal=_optional_float(row, "kcal", where),
                group=(row.get("group") or "").strip(),
            )
        )
    return photos


def stratified_split(labels: Sequence[str], *, seed: int, with_test: bool) -> list[str]:
    """A split name per label: per class, HELD_OUT_FRACTION (at least one photo) to val and to test.

    A class with too few photos to give one to each held-out split stays in train.
    """
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    splits = ["train"] * len(labels)
    rng = random.Random(seed)
    held_out = ("val", "test") if with_test else ("val",)
    for label in sorted(by_class):
        indices = by_class[label]
        rng.shuffle(indices)
        n_held = max(1, round(len(indices) * HELD_OUT_FRACTION))
        if len(indices) < n_held * len(held_out) + 1:
            continue
        for k, split in enumerate(held_out):
            for i in indices[k * n_held : (k + 1) * n_held]:
                splits[i] = split
    return splits


def assign_missing_splits(photos: list[LabelledPhoto], *, seed: int) -> list[LabelledPhoto]:
    """Photos with split "" get a stratified one; a set with train but no val gets val from train."""
    unassigned = [p for p in photos if not p.split]
    assigned = [p for p in photos if p.split]
    if unassigned:
        has_test = any(p.split == "test" for p in assigned)
        names = stratified_split([p.label for p in unassigned], seed=seed, with_test=not has_test)
        assigned += [replace(p, split=s) for p, s in zip(unassigned, names, strict=True)]
    if not any(p.split == "val" for p in assigned):
        train = [p for p in assigned if p.split == "train"]
        names = stratified_split([p.label for p in train], seed=seed, with_test=False)
        assigned = [p for p in assigned if p.split != "train"]
        assigned += [replace(p, split=s) for p, s in zip(train, names, strict=True)]
    return sorted(assigned, key=lambda p: (SPLITS.index(p.split), p.label, str(p.path)))


def class_names(photos: Sequence[LabelledPhoto]) -> list[str]:
    """The classes in a fixed (sorted) order: the order of the new head's outputs."""
    return sorted({p.label for p in photos})


def keep_classes_with(photos: list[LabelledPhoto], min_photos: int) -> list[LabelledPhoto]:
    """Drop classes with fewer than `min_photos` photos (too few to train and to test)."""
    counts = Counter(p.label for p in photos)
    return [p for p in photos if counts[p.label] >= min_photos]
