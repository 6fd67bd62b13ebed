"""The peer the serving bench measures against: a plain FastAPI server around the torch eager recognizer.

What a careful engineer would write first: one sync route (FastAPI runs it on its thread pool), Pillow
with JPEG draft decoding, EXIF rotation, torchvision's Resize + CenterCrop, the same EfficientNet-Lite0
recognizer as a torch module with one torch thread, the top 5 classes and the carbohydrate and energy intervals as
JSON. Start it with `python -m bench.torch_peer_server --port PORT` (needs torch: the train extra).
"""

from __future__ import annotations

import argparse
import io
from typing import Any

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, File, UploadFile
from PIL import Image, ImageOps
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from bench.recognizer import recognizer_metadata
from vision.efficientnet_lite import load_pretrained
from vision.recognizer_model import FoodRecognizer, RecognizerCalibration
from vision.taxonomy import load_food_classes

TOP_K = 5


def create_peer_app() -> FastAPI:
    torch.set_num_threads(1)
    metadata = recognizer_metadata()
    calibration = RecognizerCalibration.from_dict(metadata.training_data["calibration"])
    model = FoodRecognizer(load_pretrained(), load_food_classes(), metadata.preprocess, calibration).eval()
    spec = metadata.preprocess
    resize_and_crop = transforms.Compose(
        [
            transforms.Resize(spec.resize_short_side_px, interpolation=InterpolationMode.BICUBIC),
            transforms.CenterCrop(spec.crop_px),
            transforms.PILToTensor(),  # (3, crop, crop) uint8
        ]
    )
    app = FastAPI(title="torch eager peer")

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/v1/meals/recognize")
    def recognize(image: UploadFile = File()) -> dict[str, Any]:  # noqa: B008 (FastAPI's idiom)
        photo = Image.open(io.BytesIO(image.file.read()))
        photo.draft("RGB", (spec.resize_short_side_px, spec.resize_short_side_px))
        pixels = resize_and_crop(ImageOps.exif_transpose(photo).convert("RGB"))
        with torch.inference_mode():
            outputs = model(pixels.permute(1, 2, 0)[None])  # the recognizer takes (N, crop, crop, 3) uint8
        probabilities, food_probability, carbs_g, kcal = (outputs[k][0].tolist() for k in range(4))
        order = np.argsort(-np.asarray(probabilities))[:TOP_K]
        return {
            "is_food": food_probability >= metadata.food_threshold,
            "food_probability": food_probability,
            "foods": [
                {
                    "name": metadata.labels[k].name,
                    "category": metadata.labels[k].category,
                    "probability": probabilities[k],
                }
                for k in order
            ],
            "carbs_g": {"estimate": carbs_g[1], "low": carbs_g[0], "high": carbs_g[2]},
            "kcal": {"estimate": kcal[1], "low": kcal[0], "high": kcal[2]},
        }

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8001)
    port = parser.parse_args().port
    uvicorn.run(create_peer_app(), host="127.0.0.1", port=port, access_log=False, log_level="warning")
