"""The one signature of a model call, shared by the glucose predictors, the recognizer and serving.

`infer(feeds) -> outputs` maps input names to arrays and returns every output by name, so the same
predictor code runs over in-process ONNX Runtime, a Triton/KServe client, or a test double.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy.typing as npt

InferFn = Callable[[dict[str, npt.NDArray[Any]]], dict[str, npt.NDArray[Any]]]
