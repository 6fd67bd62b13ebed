"""The one signature of a model call, shared by the glucose predictors, the recognizer and serving.

`infer(feeds) -> outputs` maps input names to arrays and returns every output by name, so the same
predictor code runs over in-process ONNX Runtime, a Triton/KServe client, or a test double.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy.typing as npt

InferFn = Callable[[dict[str, npt.NDArray[Any]]], dict[str, npt.NDArray[Any]]]


class Session(Protocol):
    """What `session_infer` needs of an `onnxruntime.InferenceSession` (kept out of the import)."""

    def get_outputs(self) -> list[Any]: ...

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any]) -> list[Any]: ...


def session_infer(session: Session) -> InferFn:
    """The `InferFn` of an in-process ONNX Runtime session: every output, by name."""
    names = [o.name for o in session.get_outputs()]

    def infer(feeds: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        return dict(zip(names, session.run(names, feeds), strict=True))

    return infer
