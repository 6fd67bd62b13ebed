"""Mobile bundle: size and per-image latency of the recognizer's int8 model against fp32, in one run.

The int8 model is made here as `mealimpact export mobile` makes it (full-integer QDQ, calibrated on
augmented views of the D1NAMO photos), without the distillation fine-tuning (same graph, same kernels).
Both are timed twice: as ONNX files, and as the bundle's phone files (batch 1, ORT format: the fp32
file in the runtime style with its saved optimisations replayed, the int8 file in the Fixed style for
ARM, training/mobile_bundle.py). This CPU's int8 instructions are printed with the figures: x86 without
VNNI multiplies uint8 x int8 in 16 bits (vpmaddubsw) and gains little over fp32.
Latency runs on this machine's ONNX Runtime CPU kernels, one image, median of REPEATS calls alternating
between the two models; a phone's numbers differ, the ratio is what carries over. Run with `python -m bench mobile`.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mealimpact.model_repository.sessions import open_session, session_options
from training.mobile_bundle import INT8_ORT_STYLE, INT8_ORT_TARGET, convert_to_ort, write_fixed_batch
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
    sessions = []
    for p in paths:
        options = session_options(threads)
        if p.suffix == ".ort":  # what the bundle's client sets (mobile/src/bundle.ts)
            options.add_session_config_entry("session.enable_saved_runtime_optimizations", "1")
        sessions.append(open_session(p, options=options))
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
        phone = Path(tmp) / "phone"
        phone.mkdir()
        (fp32_ort,) = convert_to_ort([_batch1(MODEL, phone / "model.fp32.onnx")], phone)
        (int8_ort,) = convert_to_ort(
            [_batch1(int8, phone / "model.int8.onnx")], phone, INT8_ORT_STYLE, INT8_ORT_TARGET
        )
        print(f"[mobile] this CPU's int8-relevant flags: {_cpu_int8_flags()}")
        for kind, pair in (("ONNX", (MODEL, int8)), ("phone .ort", (fp32_ort, int8_ort))):
            fp32_mb, int8_mb = (p.stat().st_size / 1e6 for p in pair)
            print(
                f"[mobile] {kind} size: fp32 {fp32_mb:.3f} MB, int8 {int8_mb:.3f} MB, ratio {int8_mb / fp32_mb:.2f}"
            )
            for threads in (1, 2):
                fp32_s, int8_s = _latencies_s(pair, photo, threads)
                print(
                    f"[mobile] {kind} latency, {threads} thread(s), batch 1: fp32 {fp32_s * 1e3:.1f} ms, "
                    f"int8 {int8_s * 1e3:.1f} ms, int8/fp32 {int8_s / fp32_s:.2f}"
                )


def _batch1(src: Path, dst: Path) -> Path:
    write_fixed_batch(src, dst)
    return dst


if __name__ == "__main__":
    main()
