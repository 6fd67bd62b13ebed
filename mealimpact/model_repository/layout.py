"""Where the model repository is and how it is laid out: `<root>/<name>/config.pbtxt` beside
`<root>/<name>/<version>/model.onnx`, the layout NVIDIA Triton and KServe read."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

MODELS_DIR_ENV = "MEALIMPACT_MODELS_DIR"
CONFIG_FILE = "config.pbtxt"
MODEL_FILE = "model.onnx"


class ModelRepositoryError(RuntimeError):
    """A model in the repository is missing, unreadable or inconsistent; the server must not start."""


def default_models_dir() -> Path:
    """`$MEALIMPACT_MODELS_DIR`, else `./models` when started from a checkout, else `models/` of the install.

    The last fallback lets an installed server or command run from any directory; the environment
    variable comes first so that the server and the training commands always agree.
    """
    configured = os.environ.get(MODELS_DIR_ENV)
    if configured:
        return Path(configured)
    here = Path.cwd() / "models"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "models"


def model_path(model_dir: Path, version: int | str) -> Path:
    """`<model_dir>/<version>/model.onnx`."""
    return model_dir / str(version) / MODEL_FILE


def versions(model_dir: Path) -> list[int]:
    """The numbered version folders of one model, lowest first."""
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(*model_dirs: Path) -> int:
    """One more than the highest version in any of `model_dirs` (1 when none holds one or none exists)."""
    return max((v for d in model_dirs if d.is_dir() for v in versions(d)), default=0) + 1


def version_dir(model_dir: Path, pinned: int | None) -> tuple[int, Path]:
    """The pinned version's folder, or the highest version's when none is pinned."""
    found = versions(model_dir)
    if pinned is not None:
        if pinned not in found:
            raise ModelRepositoryError(
                f"{model_dir.name}: version {pinned} is configured but {model_dir} holds versions "
                f"{found or 'none'}; fix MEALIMPACT_MODEL_VERSIONS or add {model_dir / str(pinned)}"
            )
        return pinned, model_dir / str(pinned)
    if not found:
        raise ModelRepositoryError(
            f"{model_dir.name}: no numbered version folder (e.g. 1/{MODEL_FILE}) in {model_dir}"
        )
    return found[-1], model_dir / str(found[-1])


def model_dirs(models_dir: Path, required: Sequence[str] = ()) -> list[Path]:
    """Every model folder (one holding config.pbtxt); raises when a required one is absent."""
    if not models_dir.is_dir():
        raise ModelRepositoryError(f"the model repository {models_dir} does not exist; set {MODELS_DIR_ENV}")
    found = sorted(p for p in models_dir.iterdir() if (p / CONFIG_FILE).is_file())
    missing = sorted(set(required) - {p.name for p in found})
    if missing:
        raise ModelRepositoryError(
            f"required model(s) {missing} not found in {models_dir} (each needs <name>/{CONFIG_FILE} and "
            f"<name>/<version>/{MODEL_FILE}); export them or set {MODELS_DIR_ENV}"
        )
    return found


def model_files(models_dir: Path) -> list[Path]:
    """Every `<name>/<version>/model.onnx` under the repository, by name then version."""
    return [
        model_path(model_dir, version)
        for model_dir in model_dirs(models_dir)
        for version in versions(model_dir)
        if model_path(model_dir, version).is_file()
    ]
