"""Pinning a model version (MEALIMPACT_MODEL_VERSIONS): one config.pbtxt describes every served version,
as in Triton/KServe, so a pinned version with other inputs stops start-up with one line saying why and
what to do; a version the config describes, or one with its own config.pbtxt, is served."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shipped_app import impact_body, wait_ready
from test_serving_startup import linked_copy, shipped_models_dir

from mealimpact.model_repository.layout import ModelRepositoryError
from serving.main import create_app
from serving.settings import GLUCOSE_RESPONSE, Settings
from training.glucose_export import personal_config_pbtxt

REPO_ROOT = Path(__file__).resolve().parents[2]


def _served_version(models_dir: Path, pinned: int) -> str:
    settings = Settings(models_dir=models_dir, model_versions={GLUCOSE_RESPONSE: pinned})
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        response = client.post("/v1/meals/impact", json=impact_body())
    assert response.status_code == 200, response.text
    return str(response.json()["model"]["version"])


def test_a_pinned_version_with_other_inputs_stops_start_up(tmp_path: Path) -> None:
    repo = linked_copy(shipped_models_dir(), tmp_path / "models")  # config.pbtxt: version 3's raw inputs
    settings = Settings(models_dir=repo, model_versions={GLUCOSE_RESPONSE: 2})
    with (
        pytest.raises(
            ModelRepositoryError, match=r"version 2, pinned by MEALIMPACT_MODEL_VERSIONS.*unpin it"
        ),
        TestClient(create_app(settings)),
    ):
        pass


def test_serve_prints_one_whole_line_and_exits_2() -> None:
    shipped_models_dir()
    env = {**os.environ, "MEALIMPACT_MODEL_VERSIONS": '{"glucose_response": 2}'}
    done = subprocess.run(
        [sys.executable, "-m", "mealimpact.cli", "serve", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("cannot start:")]
    assert len(lines) == 1
    assert "version 2, pinned by MEALIMPACT_MODEL_VERSIONS" in lines[0]
    assert lines[0].endswith('(serving/README.md, "Pinning a version")')  # not cut by the 500-character limit


def test_a_pinned_version_the_config_describes_is_served(tmp_path: Path) -> None:
    assert _served_version(linked_copy(shipped_models_dir(), tmp_path / "models"), 3) == "3"


def test_a_pinned_version_with_its_own_config_is_served(tmp_path: Path) -> None:
    """serving/README.md's recipe: version 2 from a repository whose config.pbtxt describes its inputs."""
    repo = linked_copy(shipped_models_dir(), tmp_path / "models")
    (repo / GLUCOSE_RESPONSE / "config.pbtxt").write_text(personal_config_pbtxt())
    assert _served_version(repo, 2) == "2"
