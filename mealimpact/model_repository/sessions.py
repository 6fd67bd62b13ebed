"""Opening an ONNX model with ONNX Runtime: one place that chooses the provider and the threading.

Serving, training checks, the bench and the scripts all open sessions here, so a model measured by
the bench runs with the options the server gives it.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Options for `threads` intra-op threads (None: ONNX Runtime's default, one per core).

    Inter-op parallelism stays off (the graphs here are chains); idle intra-op threads do not spin:
    spinning took the cores from the other calls and from decoding (with 2 threads a photo took 20 ms
    spinning and 10 ms without, on `make bench`'s 2-core machine).
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if threads > 1:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def open_session(
    model: Path | str | bytes,
    threads: int | None = None,
    options: ort.SessionOptions | None = None,
) -> ort.InferenceSession:
    """An in-process CPU session over an ONNX file (path) or serialised model (bytes).

    `options` replaces the ones `threads` would build, for callers that need more (profiling, a
    disabled optimisation level); pass one or the other.
    """
    if options is not None and threads is not None:
        raise ValueError("open_session takes threads or options, not both")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(
        source, sess_options=options or session_options(threads), providers=["CPUExecutionProvider"]
    )
