"""Where the model repository is: one answer for the server and every command that reads or writes it."""

from __future__ import annotations

import os
from pathlib import Path

MODELS_DIR_ENV = "MEALIMPACT_MODELS_DIR"


def default_models_dir() -> Path:
    """`$MEALIMPACT_MODELS_DIR`, else `./models` when started from a checkout, else `models/` of the install.

    The last fallback lets an installed server or command run from any directory; the environment
    variable comes first so that the server and the training commands always agree.
    """
    configured = os.environ.get(MODELS_DIR_ENV)
    if configured:
        return Path(configured)
    here = Path.cwd() / "models"
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "models"
