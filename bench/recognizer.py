"""The served food recognizer as the benches find it: its newest ONNX file and its parsed metadata."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from mealimpact.model_repository.layout import MODEL_FILE, version_dir
from mealimpact.model_repository.sessions import open_session
from serving.settings import Settings
from vision.metadata import MODEL_NAME, RecognizerMetadata, parse_metadata


def recognizer_path() -> Path:
    """models/food_recognizer/<highest version>/model.onnx, as the server picks it by default."""
    _, folder = version_dir(Settings().models_dir / MODEL_NAME, None)
    return folder / MODEL_FILE


def recognizer_metadata() -> RecognizerMetadata:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # metadata only
    session = open_session(recognizer_path(), options=options)
    return parse_metadata(session.get_modelmeta().custom_metadata_map)
