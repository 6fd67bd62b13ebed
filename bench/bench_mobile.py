"""Mobile bundle: size and per-image latency of the recognizer's int8 model against fp32, in one run.

The int8 model is made here as `mealimpact export mobile` makes it (calibrated on the D1NAMO photos).
Latency runs on this machine's ONNX Runtime CPU kernels, one image, median of REPEATS calls alternating
between the two models; a phone's numbers differ, the ratio is what carries over. Run with `python -m bench mobile`.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from vision.metadata import MODEL_NAME

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / MODEL_NAME / "1" / "model.onnx"
PHOTOS = REPO.parent / "shared" / "data" / "d1namo"
REPEATS = 30


def _latencies_s(paths: tuple[Path, Path], image: np.ndarray, threads: int) -> tuple[float, float]:
    """Median seconds per call of each model; calls alternate so a shared, busy CPU slows both alike."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    sessions = [
        ort.InferenceSession(str(p), sess_options=options, providers=["CPUExecutionProvider"]) for p in paths
    ]
    times: tuple[list[float], list[float]] = ([], [])
    for session in sessions:
        session.run(None, {"image": image})  # warm-up
    for _ in range(REPEATS):
        for session, spent in zip(sessions, times, strict=True):
            start = time.perf_counter()
            session.run(None, {"image": image})
            spent.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    from training.mobile_bundle import FLOAT_LEADING_CONVS, quantize_image_model
    from vision.preprocess import PreprocessSpec
    from vision.recognition import preprocess_photo

    paths = sorted(PHOTOS.glob("*/food_pictures/*.jpg"))
    if not MODEL.is_file() or not paths:
        print(f"[mobile] skipped: needs {MODEL} and the D1NAMO photos in {PHOTOS}")
        return
    spec = PreprocessSpec()
    photos = np.stack([preprocess_photo(p.read_bytes(), spec) for p in paths])
    with tempfile.TemporaryDirectory() as tmp:
        int8 = Path(tmp) / "model.int8.onnx"
        quantize_image_model(MODEL, int8, photos[::2], FLOAT_LEADING_CONVS)
        fp32_mb, int8_mb = MODEL.stat().st_size / 1e6, int8.stat().st_size / 1e6
        print(f"[mobile] size: fp32 {fp32_mb:.1f} MB, int8 {int8_mb:.1f} MB, ratio {int8_mb / fp32_mb:.2f}")
        for threads in (1, 2):
            fp32_s, int8_s = _latencies_s((MODEL, int8), photos[:1], threads)
            print(
                f"[mobile] latency, {threads} thread(s), batch 1: fp32 {fp32_s * 1e3:.1f} ms, "
                f"int8 {int8_s * 1e3:.1f} ms, int8/fp32 {int8_s / fp32_s:.2f}"
            )


if __name__ == "__main__":
    main()
