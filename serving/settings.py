"""Serving configuration: one pydantic-settings class read from `MEALIMPACT_*` environment variables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mealimpact.model_repository.layout import default_models_dir
from serving.auth import ApiKeys
from serving.schemas.closed import closest_field
from vision.decode import MAX_ASPECT_RATIO, MAX_DECODED_PIXELS, MAX_IMAGE_PIXELS
from vision.metadata import MODEL_NAME as FOOD_RECOGNIZER

# The models the /v1 routes need; every other model in models/ is still served over /v2.
GLUCOSE_RESPONSE = "glucose_response"
GLUCOSE_FORECAST = "glucose_forecast"
REQUIRED_MODELS = (FOOD_RECOGNIZER, GLUCOSE_RESPONSE, GLUCOSE_FORECAST)

ENV_PREFIX = "MEALIMPACT_"
# MEALIMPACT_* variables that other tools read (the mobile reference client's tests, the data tests).
OTHER_TOOLS_VARIABLES = frozenset({"MEALIMPACT_BUNDLE", "MEALIMPACT_GOLDEN", "MEALIMPACT_DATA"})
_V2_BACKEND = re.compile(r"^v2://(?P<host>[A-Za-z0-9.\-\[\]:]+):(?P<port>\d{1,5})$")


def _split_commas(value: object) -> object:
    # Env values like "a,b" arrive as one string; JSON lists from init kwargs pass through.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything an operator can set; defaults suit one laptop or one small container."""

    # extra="ignore" is about keyword arguments; an unknown MEALIMPACT_* variable is never read, and
    # `unknown_variables` names it (the server logs a warning at start-up).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, protected_namespaces=(), extra="ignore")

    models_dir: Path = Field(default_factory=default_models_dir, description="Triton/KServe model repository")
    # {"food_recognizer": 2}: pin a version; unnamed models use their highest version.
    model_versions: dict[str, int] = Field(default_factory=dict)
    required_models: Annotated[tuple[str, ...], NoDecode] = REQUIRED_MODELS
    # "local" (in-process ONNX Runtime) or "v2://host:port" (Triton, KServe or another mealimpact).
    model_backend: str = "local"
    model_backend_api_key: str | None = None  # sent as X-API-Key to a remote model tier that wants one
    intra_op_threads: int = Field(default=1, ge=1, le=64, description="ONNX Runtime threads per call")
    inference_threads: int = Field(default=2, ge=1, le=64, description="concurrent model calls")
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=MAX_IMAGE_PIXELS, ge=1)
    # Pixels the decoder may materialise per photo (after JPEG DCT scaling): the decode-time budget.
    max_decoded_pixels: int = Field(default=MAX_DECODED_PIXELS, ge=1)
    max_image_aspect_ratio: float = Field(default=MAX_ASPECT_RATIO, ge=1.0, le=100.0)
    request_timeout_s: float = Field(default=30.0, gt=0)
    # Connection hygiene (see serving/README.md, "Limits"): a client has this long to send its request
    # headers, then its body; idle keep-alive connections close; beyond max_connections new ones are shut.
    header_read_timeout_s: float = Field(default=10.0, gt=0, le=600)
    body_read_timeout_s: float = Field(default=30.0, gt=0, le=600)
    keep_alive_timeout_s: float = Field(default=5.0, gt=0, le=600)
    max_connections: int = Field(default=256, ge=1, le=100_000)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    http_parser: Literal["auto", "httptools", "h11"] = "auto"  # auto: httptools where installed
    # Refuse new work (503 + Retry-After) while the process's resident memory is above this; 0 = no budget.
    max_rss_mb: int = Field(default=0, ge=0)
    # Requests a minute per API key (per client address without keys); 0 = no limit. Bursts up to `burst`.
    rate_limit_per_min: int = Field(default=0, ge=0)
    rate_limit_burst: int = Field(default=20, ge=1)
    # A forecast refuses CGM whose last reading is older than this (a stale trace is not "now");
    # 0 turns the check off, for replaying recorded traces (the README examples) only.
    max_cgm_age_min: float = Field(default=20.0, ge=0, le=24 * 60)
    # Serve /metrics on its own port (bound to metrics_host) instead of the API port; 0 = API port.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    batcher_enabled: bool = False
    batcher_max_batch: int = Field(default=8, ge=1, le=256)
    # 0: a lone photo never waits for company; batches still form while the model is busy (batcher.py).
    batcher_max_wait_ms: float = Field(default=0.0, ge=0, le=1000)
    # NAME:SHA256-HEX entries (`mealimpact api-key NAME` prints a key and its entry); empty = no keys.
    api_keys: Annotated[tuple[str, ...], NoDecode] = ()
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("required_models", "api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("api_keys")
    @classmethod
    def _hashed_named_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        ApiKeys.from_entries(value)  # raises ValueError naming the rule, never the entry
        return value

    @field_validator("model_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value != "local" and not _V2_BACKEND.match(value):
            raise ValueError(f"model_backend must be 'local' or 'v2://host:port', got {value!r}")
        return value

    @classmethod
    def unknown_variables(cls, environ: Mapping[str, str]) -> list[str]:
        """Each MEALIMPACT_* variable in `environ` that sets nothing, with the setting it was probably
        meant to be: pydantic-settings ignores a misspelt name (`MEALIMPACT_MAX_BODY_BYTE`) silently."""
        settings = [f"{ENV_PREFIX}{name.upper()}" for name in cls.model_fields]
        lines = []
        for name in sorted(environ):
            upper = name.upper()
            if not upper.startswith(ENV_PREFIX) or upper in settings or upper in OTHER_TOOLS_VARIABLES:
                continue
            meant = closest_field(upper, settings)
            hint = f" (did you mean {meant}?)" if meant is not None else ""
            lines.append(f"{name} is not a serving setting and is ignored{hint}; see serving/README.md")
        return lines

    @property
    def remote_backend_url(self) -> str | None:
        """`http://host:port` of the remote V2 server, or None for in-process ONNX Runtime."""
        match = _V2_BACKEND.match(self.model_backend)
        return None if match is None else f"http://{match['host']}:{match['port']}"
