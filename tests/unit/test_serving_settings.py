"""Serving settings: environment parsing and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.settings import REQUIRED_MODELS, Settings


def test_environment_variables_with_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEALIMPACT_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("MEALIMPACT_API_KEYS", "key-one, key-two,")
    monkeypatch.setenv("MEALIMPACT_CORS_ORIGINS", "https://app.example")
    monkeypatch.setenv("MEALIMPACT_MODEL_VERSIONS", '{"food_recognizer": 2}')
    monkeypatch.setenv("MEALIMPACT_MODEL_BACKEND", "v2://models.internal:8001")
    monkeypatch.setenv("MEALIMPACT_BATCHER_ENABLED", "true")
    settings = Settings()
    assert settings.models_dir == tmp_path
    assert settings.api_keys == ("key-one", "key-two")
    assert settings.cors_origins == ("https://app.example",)
    assert settings.model_versions == {"food_recognizer": 2}
    assert settings.remote_backend_url == "http://models.internal:8001"
    assert settings.batcher_enabled


def test_defaults_serve_locally_with_the_three_models() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]  # a pydantic-settings init option
    assert settings.remote_backend_url is None
    assert settings.required_models == REQUIRED_MODELS
    assert settings.api_keys == ()


@pytest.mark.parametrize("backend", ["http://host:1", "v2://host", "v2://host:port", "grpc://h:1"])
def test_unknown_backends_are_refused(backend: str) -> None:
    with pytest.raises(ValidationError, match="model_backend"):
        Settings(model_backend=backend)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        Settings(request_timeout_s=0)
    with pytest.raises(ValidationError):
        Settings(inference_threads=0)
