"""Serving settings: environment parsing and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.auth import ApiKeys, key_digest, new_key_entry
from serving.settings import REQUIRED_MODELS, Settings


def test_environment_variables_with_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEALIMPACT_MODELS_DIR", str(tmp_path))
    entries = f"app:{key_digest('key-one')}, ops-1:{key_digest('key-two')},"
    monkeypatch.setenv("MEALIMPACT_API_KEYS", entries)
    monkeypatch.setenv("MEALIMPACT_CORS_ORIGINS", "https://app.example")
    monkeypatch.setenv("MEALIMPACT_MODEL_VERSIONS", '{"food_recognizer": 2}')
    monkeypatch.setenv("MEALIMPACT_MODEL_BACKEND", "v2://models.internal:8001")
    monkeypatch.setenv("MEALIMPACT_BATCHER_ENABLED", "true")
    settings = Settings()
    assert settings.models_dir == tmp_path
    assert settings.api_keys == (f"app:{key_digest('key-one')}", f"ops-1:{key_digest('key-two')}")
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


@pytest.mark.parametrize(
    "entry",
    ["plain-key", "app:" + "0" * 63, "app:" + "A" * 64, "bad name:" + "0" * 64, ":" + "0" * 64],
)
def test_api_keys_must_be_named_sha256_digests(entry: str) -> None:
    with pytest.raises(ValidationError, match="NAME:SHA256-HEX") as caught:
        Settings(api_keys=(entry,))
    assert entry not in str(caught.value.errors(include_input=False))  # the refusal never echoes the entry


def test_api_key_names_are_unique() -> None:
    with pytest.raises(ValidationError, match="unique"):
        Settings(api_keys=(f"app:{key_digest('a')}", f"app:{key_digest('b')}"))


def test_a_key_is_identified_by_its_name_and_never_held_in_plain_text() -> None:
    key, entry = new_key_entry("ward-7")
    settings = Settings(api_keys=(entry, f"lab:{key_digest('other')}"))
    assert key not in repr(settings)
    keys = ApiKeys.from_entries(settings.api_keys)
    assert keys.identify(key) == "ward-7"
    assert keys.identify("other") == "lab"
    assert keys.identify(key[:-1]) is None and keys.identify("") is None and keys.identify(None) is None


def test_an_unknown_setting_variable_is_named_with_the_setting_meant() -> None:
    environ = {
        "MEALIMPACT_MAX_BODY_BYTE": "1",  # misspelt
        "mealimpact_log_levl": "DEBUG",  # names are read case-insensitively
        "MEALIMPACT_SOMETHING_ELSE": "x",
        "MEALIMPACT_MAX_BODY_BYTES": "2048",  # a setting
        "MEALIMPACT_GOLDEN": "/tmp/g",  # read by the mobile tests, not the server
        "PATH": "/bin",
    }
    assert Settings.unknown_variables(environ) == [
        "MEALIMPACT_MAX_BODY_BYTE is not a serving setting and is ignored (did you mean MEALIMPACT_MAX_BODY_BYTES?); "
        "see serving/README.md",
        "MEALIMPACT_SOMETHING_ELSE is not a serving setting and is ignored; see serving/README.md",
        "mealimpact_log_levl is not a serving setting and is ignored (did you mean MEALIMPACT_LOG_LEVEL?); "
        "see serving/README.md",
    ]
