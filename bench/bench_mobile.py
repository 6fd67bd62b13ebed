"""Mobile bundle: size and per-image latency of the recognizer's int8 model against fp32, in one run.

The int8 model is made here as `mealimpact export mobile` makes it (full-integer QDQ, calibrated on
augmented views of the D1NAMO photos). This CPU's int8 instructions are printed with the figures: x86
without VNNI multiplies uint8 x int8 in 16 bits (vpmaddubsw) and gains little over fp32.
Latency runs on this machine's ONNX Runtime CPU kernels, one image, median of REPEATS calls alternating
between the two models; a phone's numbers differ, the ratio is what carries over. Run with `python -m bench mobile`.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mealimpact.model_repository.sessions import open_session
from training.vision_quantize import calibration_images, quantize_recognizer
from vision.metadata import MODEL_NAME
from vision.preprocess import PreprocessSpec
from vision.recognition import preprocess_photo

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / MODEL_NAME / "1" / "model.onnx"
PHOTOS = REPO.parent / "shared" / "data" / "d1namo"
REPEATS = 30


def _latencies_s(paths: tuple[Path, Path], image: np.ndarray, threads: int) -> tuple[float, float]:
    """Median seconds per call of each model; calls alternate so a shared, busy CPU slows both alike."""
    sessions = [open_session(p, threads=threads) for p in paths]
    times: tuple[list[float], list[float]] = ([], [])
    for session in sessions:
        session.run(None, {"image": image})  # warm-up
    for _ in range(REPEATS):
        for session, spent in zip(sessions, times, strict=True):
            start = time.perf_counter()
            session.run(None, {"image": image})
            spent.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _cpu_int8_flags() -> str:
    try:
        flags = next(
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
        )
    except (OSError, StopIteration):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return ", ".join(f for f in wanted if f" {f}" in flags) or "none of avx2/avx512/vnni"


def main() -> None:
    paths = sorted(PHOTOS.glob("*/food_pictures/*.jpg"))
    if not MODEL.is_file() or not paths:
        print(f"[mobile] skipped: needs {MODEL} and the D1NAMO photos in {PHOTOS}")
        return
    spec = PreprocessSpec()
    photo = preprocess_photo(paths[0].read_bytes(), spec)[None]  # (1, 224, 224, 3)
    with tempfile.TemporaryDirectory() as tmp:
        int8 = Path(tmp) / "model.int8.onnx"
        quantize_recognizer(MODEL, int8, calibration_images(paths, spec))
        fp32_mb, int8_mb = MODEL.stat().st_size / 1e6, int8.stat().st_size / 1e6
        print(f"[mobile] size: fp32 {fp32_mb:.2f} MB, int8 {int8_mb:.2f} MB, ratio {int8_mb / fp32_mb:.2f}")
        print(f"[mobile] this CPU's int8-relevant flags: {_cpu_int8_flags()}")
        for threads in (1, 2):
            fp32_s, int8_s = _latencies_s((MODEL, int8), photo, threads)
            print(
                f"[mobile] latency, {threads} thread(s), batch 1: fp32 {fp32_s * 1e3:.1f} ms, "
                f"int8 {int8_s * 1e3:.1f} ms, int8/fp32 {int8_s / fp32_s:.2f}"
            )


if __name__ == "__main__":
    main()
