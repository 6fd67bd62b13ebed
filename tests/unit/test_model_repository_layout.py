"""The one default model repository folder that the server and the commands share."""

from __future__ import annotations

from pathlib import Path

import pytest

from mealimpact.model_repository.layout import (
    MODELS_DIR_ENV,
    ModelRepositoryError,
    default_models_dir,
    model_files,
    next_version,
    version_dir,
)

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


def test_model_files_lists_every_version_of_every_model(tmp_path: Path) -> None:
    for name, versions in (("b_model", ("1", "10", "2")), ("a_model", ("3",))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.pbtxt").write_text("")
        for version in versions:
            (tmp_path / name / version).mkdir()
            (tmp_path / name / version / "model.onnx").write_bytes(b"")
    (tmp_path / "no_config" / "1").mkdir(parents=True)
    found = [p.relative_to(tmp_path).as_posix() for p in model_files(tmp_path)]
    assert found == [
        "a_model/3/model.onnx",
        "b_model/1/model.onnx",
        "b_model/2/model.onnx",
        "b_model/10/model.onnx",
    ]
    assert version_dir(tmp_path / "b_model", None) == (10, tmp_path / "b_model" / "10")
    with pytest.raises(ModelRepositoryError, match="version 4"):
        version_dir(tmp_path / "b_model", 4)


def test_next_version_looks_in_every_folder_given(tmp_path: Path) -> None:
    assert next_version(tmp_path / "missing") == 1
    (tmp_path / "a" / "3").mkdir(parents=True)
    (tmp_path / "b" / "7").mkdir(parents=True)
    (tmp_path / "b" / "notes").mkdir()
    assert next_version(tmp_path / "a") == 4
    assert next_version(tmp_path / "a", tmp_path / "b", tmp_path / "missing") == 8
