"""The one metadata schema: each kind's dataclass writes and reads the same keys; the shipped files follow it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mealimpact.model_repository.layout import model_files
from mealimpact.model_repository.metadata import (
    SCHEMA_VERSION,
    ForecastMetadata,
    ModelMetadataError,
    RecognizerMetadata,
    ResponseMetadata,
    read_metadata,
    upgraded_props,
)

MODELS = Path(__file__).resolve().parents[2] / "models"
KIND_OF_FOLDER = {
    "food_recognizer": "recognizer",
    "glucose_response": "response",
    "glucose_forecast": "forecast",
}
SHA = "ab" * 32


def forecast(**changes: object) -> ForecastMetadata:
    values: dict[str, object] = {
        "version": "5",
        "weights_sha256": SHA,
        "training_config": {"seed": 0},
        "horizons_min": [15, 30],
        "quantiles": [0.1, 0.5, 0.9],
        "cgm_steps": 288,
        "grid_step_min": 5,
        "inputs": ["cgm_mg_dl", "diabetes_kind"],
        "kind_codes": {"none": 0},
        "units": {"cgm_mg_dl": "mg/dL"},
    }
    return ForecastMetadata(**(values | changes))  # type: ignore[arg-type]


def test_written_props_read_back_to_the_same_dataclass() -> None:
    written = forecast().to_props()
    assert (
        json.loads(written["metadata_schema"]) == SCHEMA_VERSION and json.loads(written["kind"]) == "forecast"
    )
    assert "features" not in written  # unset optional keys are not written
    assert ForecastMetadata.from_props(written) == forecast()
    assert read_metadata(written) == forecast()


def test_a_missing_key_an_old_schema_or_another_kind_is_refused() -> None:
    written = forecast().to_props()
    with pytest.raises(ModelMetadataError, match="lacks"):
        ForecastMetadata.from_props({k: v for k, v in written.items() if k != "cgm_steps"})
    with pytest.raises(ModelMetadataError, match="rewrite-metadata"):
        ForecastMetadata.from_props({k: v for k, v in written.items() if k != "metadata_schema"})
    with pytest.raises(ModelMetadataError, match="schema 2"):
        ForecastMetadata.from_props(written | {"metadata_schema": "2"})
    with pytest.raises(ModelMetadataError, match="kind"):
        ResponseMetadata.from_props(written)
    with pytest.raises(ModelMetadataError, match="weights_sha256"):
        forecast(weights_sha256="not a digest")


def test_old_key_names_are_renamed_and_values_kept() -> None:
    old = {k: v for k, v in forecast().to_props().items() if k not in ("metadata_schema", "kind")}
    old["sha256"] = old.pop("weights_sha256")
    old["train_config"] = old.pop("training_config")
    new = upgraded_props(old, "forecast")
    assert new == forecast().to_props()
    assert upgraded_props(new, "forecast") == new  # re-runnable
    with pytest.raises(ModelMetadataError, match="both"):
        upgraded_props(old | {"weights_sha256": json.dumps(SHA)}, "forecast")


def test_unknown_keys_are_kept_as_extra() -> None:
    props = forecast().to_props() | {"new_key": json.dumps([1, 2])}
    read = ForecastMetadata.from_props(props)
    assert read.extra == {"new_key": [1, 2]} and read.to_props() == props


onnx = pytest.importorskip("onnx")


@pytest.mark.parametrize("path", model_files(MODELS), ids=lambda p: "/".join(p.parts[-3:-1]))
def test_every_shipped_model_is_at_the_schema_with_no_unnamed_key(path: Path) -> None:
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    metadata = read_metadata(props)  # `mealimpact export rewrite-metadata` brings a file here
    assert metadata.kind == KIND_OF_FOLDER[path.parent.parent.name]
    assert metadata.version == path.parent.name
    assert metadata.extra == {}, f"add {sorted(metadata.extra)} to the {metadata.kind} schema"
    assert list(metadata.to_props().items()) == list(props.items())  # written by this code, byte for byte
    if isinstance(metadata, RecognizerMetadata):
        assert not {"mean", "std"} & metadata.preprocess.keys()  # normalised inside the graph
        assert "inside the graph" in metadata.preprocess["normalisation"]
