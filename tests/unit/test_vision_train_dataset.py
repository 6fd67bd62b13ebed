"""Photo set layouts, the stratified split and the D1NAMO label rules."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from training.d1namo_labels import label_description, read_d1namo_photos, read_label_rules
from training.vision_dataset import (
    DatasetLayoutError,
    read_csv_layout,
    read_labelled_photos,
    stratified_split,
)


def _photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 100, 50)).save(path)
    return path


def test_split_folders_keep_their_splits(tmp_path: Path) -> None:
    for split in ("train", "val", "test"):
        for label in ("rice", "salad"):
            _photo(tmp_path / split / label / f"{split}.jpg")
    photos = read_labelled_photos(tmp_path, seed=0)
    assert Counter(p.split for p in photos) == {"train": 2, "val": 2, "test": 2}
    assert {p.label for p in photos if p.split == "test"} == {"rice", "salad"}


def test_food101_layout_reads_meta_lists_and_carves_val(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    train = [f"pho/{i}" for i in range(5)] + [f"ramen/{i}" for i in range(5)]
    (tmp_path / "meta" / "train.txt").write_text("\n".join(train))
    (tmp_path / "meta" / "test.txt").write_text("pho/9\nramen/9\n")
    for line in [*train, "pho/9", "ramen/9"]:
        _photo(tmp_path / "images" / f"{line}.jpg")
    photos = read_labelled_photos(tmp_path, seed=0)
    counts = Counter((p.split, p.label) for p in photos)
    assert counts[("test", "pho")] == 1 and counts[("val", "pho")] == 1 and counts[("train", "pho")] == 4
    assert all(p.path.is_file() for p in photos)


def test_csv_layout_reads_optional_columns_relative_to_the_csv(tmp_path: Path) -> None:
    _photo(tmp_path / "a.jpg")
    (tmp_path / "set.csv").write_text("path,label,split,carbs_g,kcal\na.jpg,rice,test,45.5,\n")
    (photo,) = read_csv_layout(tmp_path / "set.csv")
    assert photo.path == tmp_path / "a.jpg" and photo.carbs_g == 45.5 and photo.kcal is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("file,class\na.jpg,rice\n", "path,label"),
        ("path,label,split\na.jpg,rice,holdout\n", "split must be one of"),
        ("path,label,carbs_g\na.jpg,rice,lots\n", "carbs_g must be a number"),
        ("path,label\na.jpg,\n", "empty label"),
        ("path,label\na.jpg\n", "empty label"),
        ("path,label\n,rice\n", "empty path"),
    ],
)
def test_bad_csv_is_a_named_error_that_says_what_is_wrong(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "set.csv").write_text(body)
    with pytest.raises(DatasetLayoutError, match=message):
        read_csv_layout(tmp_path / "set.csv")


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(["", "path,label\n", "path,label,split,carbs_g,kcal,group\n"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200),
)
def test_csv_parser_never_fails_with_anything_but_its_named_error(
    tmp_path_factory: pytest.TempPathFactory, header: str, text: str
) -> None:
    path = tmp_path_factory.mktemp("csv") / "set.csv"
    path.write_text(header + text, encoding="utf-8")
    try:
        photos = read_csv_layout(path)
    except DatasetLayoutError as err:
        assert str(err)  # a message a person can act on
        return
    assert all(p.label and p.split in ("", "train", "val", "test") for p in photos)


def test_a_csv_that_is_not_utf8_is_a_named_error(tmp_path: Path) -> None:
    (tmp_path / "set.csv").write_bytes("path,label\na.jpg,crêpe\n".encode("latin-1"))
    with pytest.raises(DatasetLayoutError, match="not UTF-8"):
        read_csv_layout(tmp_path / "set.csv")


def test_listed_photos_that_do_not_exist_are_a_named_error(tmp_path: Path) -> None:
    _photo(tmp_path / "a.jpg")
    (tmp_path / "set.csv").write_text("path,label\na.jpg,rice\ngone.jpg,rice\n")
    with pytest.raises(DatasetLayoutError, match=r"1 listed photos do not exist .*gone.jpg"):
        read_labelled_photos(tmp_path / "set.csv", seed=0)


def test_unknown_layout_names_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="Food-101"):
        read_labelled_photos(tmp_path, seed=0)


@given(st.lists(st.sampled_from("abcde"), min_size=1, max_size=60), st.integers(0, 10))
def test_stratified_split_is_deterministic_and_holds_out_every_large_class(
    labels: list[str], seed: int
) -> None:
    splits = stratified_split(labels, seed=seed, with_test=True)
    assert splits == stratified_split(labels, seed=seed, with_test=True)
    for label, count in Counter(labels).items():
        mine = Counter(s for s, lab in zip(splits, labels, strict=True) if lab == label)
        if count >= 3:
            assert mine["val"] >= 1 and mine["test"] >= 1 and mine["train"] >= 1
        else:
            assert mine["train"] == count


def test_label_rules_pick_the_dominant_food() -> None:
    rules = read_label_rules()
    assert label_description("Margarita pizza and lettuce,tomatoes and cucumber salad", rules) == "pizza"
    assert label_description("Lime yogurt and bread", rules) == "yogurt"
    assert label_description("Breaded fish with stewed eggplant", rules) == "fish"  # not "bread"
    assert label_description("Lettuce with tomato salad, spaguetti with pesto", rules) == "pasta"
    assert label_description("a plate of nothing we know", rules) is None


def test_d1namo_photos_get_labels_and_keep_classes_with_four_photos(shared_data: Path) -> None:
    photos = read_d1namo_photos(shared_data / "d1namo")
    counts = Counter(p.label for p in photos)
    assert min(counts.values()) >= 4
    assert {"potatoes", "salad", "yogurt", "rice"} <= set(counts)
    assert all(p.kcal is not None and p.kcal > 0 and p.path.is_file() for p in photos)
    with (shared_data / "d1namo" / "001" / "food.csv").open(newline="") as f:
        described = {r["picture"]: r["description"] for r in csv.DictReader(f)}
    assert all(p.group != "001" or p.path.name in described for p in photos)
