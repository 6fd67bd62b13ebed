"""The one default model repository folder that the server and the commands share."""

from __future__ import annotations

from pathlib import Path

import pytest

from mealimpact.model_repository.layout import MODELS_DIR_ENV, default_models_dir

INSTALLED = Path(__file__).resolve().parents[2] / "models"


def test_the_environment_variable_comes_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    assert default_models_dir() == tmp_path / "elsewhere"


def test_a_checkout_models_folder_then_the_installed_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_models_dir() == INSTALLED
    (tmp_path / "models").mkdir()
    assert default_models_dir() == tmp_path / "models"
