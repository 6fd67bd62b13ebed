"""Food recognizer speed: per-image latency of ONNX Runtime fp32 against torch eager, and decode time
of full-resolution phone photos with and without reduced-scale (JPEG draft) decoding; ratios measured
in one process. Run with `python -m bench vision`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.timing import median_s
from mealimpact.model_repository.sessions import open_session
from vision.decode import decode_image
from vision.efficientnet_lite import load_pretrained
from vision.metadata import INPUT_NAME, MODEL_NAME, parse_metadata
from vision.preprocess import PreprocessSpec
from vision.recognizer_model import FoodRecognizer, RecognizerCalibration
from vision.taxonomy import load_food_classes

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / MODEL_NAME / "1" / "model.onnx"
FULL_RESOLUTION = REPO.parent / "shared" / "data" / "d1namo" / "full_resolution"


def _model_latency(threads: int) -> list[str]:
    torch.set_num_threads(threads)
    session = open_session(MODEL, threads=threads)
    metadata = parse_metadata(session.get_modelmeta().custom_metadata_map)
    calibration = RecognizerCalibration.from_dict(metadata.training_data["calibration"])
    model = FoodRecognizer(load_pretrained(), load_food_classes(), metadata.preprocess, calibration).eval()
    image = np.random.default_rng(0).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    tensor = torch.from_numpy(image)

    def run_torch() -> object:
        with torch.inference_mode():
            return model(tensor)

    ort_s = median_s(lambda: session.run(None, {INPUT_NAME: image}))
    torch_s = median_s(run_torch)
    return [
        f"per-image latency, batch 1, {threads} thread(s): ONNX Runtime fp32 {ort_s * 1e3:.1f} ms, "
        f"torch eager {torch_s * 1e3:.1f} ms, torch/ORT = {torch_s / ort_s:.2f}x"
    ]


def _decode_times() -> list[str]:
    photos = sorted(FULL_RESOLUTION.glob("*.jpg"))
    if not photos:
        return [f"decode: skipped, no photos in {FULL_RESOLUTION}"]
    short_side_px = PreprocessSpec().resize_short_side_px
    lines = []
    full_total = draft_total = 0.0
    for photo in photos:
        data = photo.read_bytes()
        full_s = median_s(lambda d=data: decode_image(d), repeats=10)  # type: ignore[misc]
        draft_s = median_s(lambda d=data: decode_image(d, min_size_px=short_side_px), repeats=10)  # type: ignore[misc]
        full_total, draft_total = full_total + full_s, draft_total + draft_s
        size = decode_image(data).size
        lines.append(
            f"decode {photo.name} {size[0]}x{size[1]} ({len(data) / 1e6:.1f} MB): full {full_s * 1e3:.0f} ms, "
            f"draft {draft_s * 1e3:.0f} ms, {full_s / draft_s:.1f}x"
        )
    lines.append(f"decode, all {len(photos)} photos: full/draft = {full_total / draft_total:.1f}x")
    return lines


def main() -> None:
    for line in _model_latency(threads=1) + _model_latency(threads=2) + _decode_times():
        print(f"[vision] {line}")


if __name__ == "__main__":
    main()
