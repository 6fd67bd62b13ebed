"""Parsing the recognizer's metadata_props: round trip and every refusal."""

from __future__ import annotations

import json

import pytest

from vision.metadata import UNITS, LabelInfo, ModelMetadataError, RecognizerMetadata, parse_metadata
from vision.preprocess import PreprocessSpec


def _metadata() -> RecognizerMetadata:
    return RecognizerMetadata(
        version="3",
        labels=(LabelInfo("pizza", "mixed_plates", "food"), LabelInfo("plate", "mixed_plates", "setting")),
        preprocess=PreprocessSpec(),
        food_threshold=0.5,
        quantiles=(0.1, 0.5, 0.9),
        units=UNITS,
        training_data={"photos": 48},
        metrics={"kcal_median_abs_error": 200.0},
        weights_sha256="ab" * 32,
        licence="Apache-2.0",
    )


def test_round_trip() -> None:
    parsed = parse_metadata(_metadata().to_props())
    assert parsed == _metadata()
    assert parsed.labels[0].category_label == "mixed plates"


def test_every_value_is_json() -> None:
    for value in _metadata().to_props().values():
        json.loads(value)


@pytest.mark.parametrize(
    "key", ["labels", "preprocess", "units", "food_threshold", "weights_sha256", "licence"]
)
def test_missing_key_is_named(key: str) -> None:
    props = _metadata().to_props()
    del props[key]
    with pytest.raises(ModelMetadataError, match=key):
        parse_metadata(props)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("food_threshold", "1.5"),
        ("food_threshold", '"high"'),
        ("labels", "[]"),
        ("labels", '[{"name": "x", "category": "pies", "role": "food"}]'),
        ("labels", '[{"name": "x"}]'),
        ("units", '{"image": "uint8"}'),
        ("quantiles", "[0.05, 0.5, 0.95]"),
        ("metrics", "[]"),
        ("preprocess", '{"crop_px": 224}'),
        ("version", "not json"),
    ],
)
def test_inconsistent_values_are_refused(key: str, value: str) -> None:
    props = _metadata().to_props()
    props[key] = value
    with pytest.raises(ModelMetadataError):
        parse_metadata(props)


def test_duplicate_label_names_are_refused() -> None:
    props = _metadata().to_props()
    props["labels"] = json.dumps([{"name": "a", "category": "fruit", "role": "food"}] * 2)
    with pytest.raises(ModelMetadataError, match="duplicate"):
        parse_metadata(props)
