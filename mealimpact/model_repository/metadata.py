"""The one metadata schema of the repository's models: ONNX `metadata_props`, every value JSON.

One dataclass per model kind (recognizer, response, forecast) lists the keys a file of that kind
carries; exporters write through `to_props()` and `read_metadata()` reads any file back, so writer
and reader cannot drift apart again (they did: `sha256` vs `weights_sha256`, `train_config` vs
`training_config`). Each file names its `metadata_schema` version and `kind`. The values are kept as
their JSON decodes (lists, dicts, numbers): what they mean is checked by the code that uses them
(`vision.metadata`, `glucose_model.impact`, `glucose_model.forecast`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

SCHEMA_VERSION = 1
# Keys written before schema 1 under another name -> their schema name (`rewrite-metadata` applies them).
RENAMED_KEYS: dict[str, str] = {"sha256": "weights_sha256", "train_config": "training_config"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ModelMetadataError(ValueError):
    """The model file does not carry the metadata this code needs, or it contradicts itself."""


@dataclass(frozen=True, kw_only=True)
class ModelMetadata:
    """Keys every model carries, whatever its kind."""

    kind: ClassVar[str] = ""

    metadata_schema: int = SCHEMA_VERSION  # the version of this schema the file was written with
    version: str  # the model version: its folder name in the repository
    weights_sha256: str  # sha256 of the weights as the exporter saw them (see each kind)
    training_config: dict[str, Any] | None = None  # the trainer's frozen config; None when not trained here
    training_data: Any = None  # where the training data came from, with its licence
    metrics: dict[str, Any] = field(default_factory=dict)  # evaluation figures written at export
    # Keys this schema does not name, kept as written so a rewrite loses nothing; the shipped models
    # have none (tests/unit/test_model_repository_metadata.py): a new key belongs in a dataclass here.
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _SHA256.match(self.weights_sha256):
            raise ModelMetadataError(
                f"weights_sha256 must be 64 lowercase hex digits, got {self.weights_sha256!r}"
            )
        if not self.version:
            raise ModelMetadataError("metadata 'version' is empty")

    def to_props(self) -> dict[str, str]:
        """The metadata_props to write: `metadata_schema`, `kind`, then every set field, each JSON."""
        props = {"metadata_schema": json.dumps(self.metadata_schema), "kind": json.dumps(self.kind)}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name in ("metadata_schema", "extra") or value is None:
                continue
            props[item.name] = json.dumps(value)
        props.update((key, json.dumps(value)) for key, value in self.extra.items())
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> Self:
        """Read `props` as this kind's metadata; `ModelMetadataError` names what is missing or wrong."""
        decoded = decode_props(props)
        schema = decoded.get("metadata_schema")
        if schema is None:
            raise ModelMetadataError(
                "model metadata has no metadata_schema (written before the schema); "
                "run `mealimpact export rewrite-metadata` on its repository"
            )
        if schema != SCHEMA_VERSION:
            raise ModelMetadataError(
                f"model metadata is schema {schema!r}; this code reads schema {SCHEMA_VERSION}"
            )
        if decoded.get("kind") != cls.kind:
            raise ModelMetadataError(f"model metadata kind is {decoded.get('kind')!r}, expected {cls.kind!r}")
        values: dict[str, Any] = {}
        missing = []
        for item in dataclasses.fields(cls):
            if item.name == "extra":
                continue
            if item.name in decoded:
                values[item.name] = decoded[item.name]
            elif item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                missing.append(item.name)
        if missing:
            raise ModelMetadataError(f"{cls.kind} model metadata lacks {missing}; re-export the model")
        known = {item.name for item in dataclasses.fields(cls)} | {"kind"}
        values["extra"] = {key: value for key, value in decoded.items() if key not in known}
        for key in ("version", "weights_sha256"):
            if not isinstance(values[key], str):
                raise ModelMetadataError(f"metadata {key!r} must be a JSON string, got {values[key]!r}")
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class RecognizerMetadata(ModelMetadata):
    """The food recognizer: photo -> classes, food probability, carbohydrates, kcal, embedding.

    `weights_sha256` is the sha256 of the serialised ONNX graph (initializers included).
    """

    kind: ClassVar[str] = "recognizer"

    labels: list[dict[str, str]]  # per output class: name, category, role
    preprocess: dict[str, Any]  # vision.preprocess.PreprocessSpec: resize, crop, layout; normalised in-graph
    units: dict[str, str]  # of every input and output
    food_threshold: float  # food_probability above which a photo counts as food
    quantiles: list[float]  # order of the carbs_g and kcal columns
    licence: str
    source_weights_sha256: str | None = None  # the packaged ImageNet .pth the backbone came from
    nutrition: list[dict[str, Any]] | None = None  # per class, for retrained versions with their own classes


@dataclass(frozen=True, kw_only=True)
class ResponseMetadata(ModelMetadata):
    """The glucose response model: meal + CGM (+ person and history) -> the curve after the meal.

    `weights_sha256` is the sha256 of the torch state dict (training.glucose_export.weights_sha256).
    """

    kind: ClassVar[str] = "response"

    name: str  # the model's folder in the repository
    inputs: dict[str, Any]  # per input: shape, unit (and minutes, columns)
    outputs: dict[str, Any]  # per output: shape, unit
    curve_minutes: list[int]
    quantiles: list[float]
    feature_names: list[str] | None = None
    factor_groups: list[str] | None = None  # the explanation's factor groups, in order
    reference_meal: dict[str, Any] | None = None  # what the explanation compares a meal with
    spike_thresholds_mg_dl: dict[str, float] | None = None  # per diabetes kind
    monotone: dict[str, list[str]] | None = None  # features the curve must rise or fall with
    held_out_people: list[str] | None = None
    trained_people: list[str] | None = None
    parameters: int | None = None  # trainable parameters
    # The personal graph (person fields and the person's past meals) only:
    person_fields: list[str] | None = None
    person_fields_units: dict[str, str] | None = None
    person_fields_trained: list[str] | None = None
    personal_inputs: dict[str, Any] | None = None
    history: dict[str, Any] | None = None
    population_model: dict[str, Any] | None = (
        None  # the population file it was trained from, and its weights_sha256
    )
    person_training_config: dict[str, Any] | None = None
    person_validation_loss: list[float] | None = None
    # A self-contained graph (raw inputs, features built in the graph: training/glucose_raw_export.py):
    # the version whose network it carries unchanged, that network's weights_sha256 and its inputs.
    network: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class ForecastMetadata(ModelMetadata):
    """The glucose forecast model: recent CGM -> glucose at the horizons, with bands.

    `weights_sha256` is the sha256 of the torch state dict (training.glucose_export.weights_sha256).
    """

    kind: ClassVar[str] = "forecast"

    horizons_min: list[int]
    quantiles: list[float]
    cgm_steps: int
    grid_step_min: int
    inputs: list[str]
    kind_codes: dict[str, int]
    units: dict[str, str]
    features: list[str] | None = None
    scale_features: list[str] | None = None
    change_shrinkage: dict[str, list[float]] | None = None
    held_out_people: list[str] | None = None
    trained_people: list[str] | None = None


KINDS: dict[str, type[ModelMetadata]] = {
    cls.kind: cls for cls in (RecognizerMetadata, ResponseMetadata, ForecastMetadata)
}


def decode_props(props: Mapping[str, str]) -> dict[str, Any]:
    """Every metadata value JSON-decoded; `ModelMetadataError` names a value that is not JSON."""
    decoded = {}
    for key, text in props.items():
        try:
            decoded[key] = json.loads(text)
        except json.JSONDecodeError as err:
            raise ModelMetadataError(f"metadata {key!r} is not valid JSON: {err}") from err
    return decoded


def read_metadata(props: Mapping[str, str]) -> ModelMetadata:
    """The metadata of a file of any kind, read by its kind's dataclass."""
    kind = decode_props({"kind": props["kind"]})["kind"] if "kind" in props else None
    if kind not in KINDS:
        raise ModelMetadataError(
            f"model metadata kind {kind!r} is none of {sorted(KINDS)}; "
            "run `mealimpact export rewrite-metadata` on files written before the schema"
        )
    return KINDS[kind].from_props(props)


def upgraded_props(props: Mapping[str, str], kind: str) -> dict[str, str]:
    """Props written before schema 1, with the schema's key names, `metadata_schema` and `kind`.

    Values are kept as written; props already at this schema come back unchanged (in schema order).
    """
    renamed = {RENAMED_KEYS.get(key, key): value for key, value in props.items()}
    clash = [new for old, new in RENAMED_KEYS.items() if old in props and new in props]
    if clash:
        raise ModelMetadataError(f"metadata has both the old and the new name of {clash}")
    renamed.setdefault("metadata_schema", json.dumps(SCHEMA_VERSION))
    renamed.setdefault("kind", json.dumps(kind))
    return KINDS[kind].from_props(renamed).to_props()
