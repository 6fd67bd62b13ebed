"""The one image preprocessing: resize the shorter side, centre-crop, uint8 HWC RGB.

Normalisation is not done here but inside the ONNX graph; `normalize` is its numpy reference, so a
test can prove the graph, the torch training path and this module compute the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

# EfficientNet-Lite was trained by TF with (pixel - 127) / 128, not the usual ImageNet mean/std;
# on 0..1 pixels (torchvision's convention) that is the mean and std below.
LITE_PIXEL_MEAN: tuple[float, float, float] = (127.0 / 255.0, 127.0 / 255.0, 127.0 / 255.0)
LITE_PIXEL_STD: tuple[float, float, float] = (128.0 / 255.0, 128.0 / 255.0, 128.0 / 255.0)
# Written into the `preprocess` metadata in place of a mean and std.
NORMALISATION = (
    "inside the graph: send the uint8 RGB pixels 0..255 unchanged; the model scales and normalises "
    "them itself (subtracting a mean or dividing by a std before would normalise twice)"
)
_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
# `Image.info` key under which `vision.decode` records (width, height) of the upright full photo when it
# decoded at a reduced scale, so the crop below is placed as on the full photo.
SOURCE_SIZE_KEY = "mealimpact_source_size_px"


class PreprocessSpecError(ValueError):
    """A preprocessing description (usually from model metadata) is incomplete or invalid."""


@dataclass(frozen=True)
class PreprocessSpec:
    """How a photo becomes the model input; serialised into the ONNX metadata as `preprocess`."""

    resize_short_side_px: int = 256  # shorter side after resizing (224 / 0.875, as TF evaluates)
    crop_px: int = 224  # centre crop, square
    interpolation: str = "bicubic"  # PIL resampling filter
    colour_order: str = "RGB"
    layout: str = "NHWC"  # input tensor layout
    dtype: str = "uint8"  # input tensor dtype; 0..255
    mean: tuple[float, float, float] = field(default=LITE_PIXEL_MEAN)  # in-graph, on pixel / 255
    std: tuple[float, float, float] = field(default=LITE_PIXEL_STD)  # in-graph, on pixel / 255

    def __post_init__(self) -> None:
        if self.crop_px <= 0 or self.resize_short_side_px < self.crop_px:
            raise PreprocessSpecError(
                "Need 0 < crop_px <= resize_short_side_px, "
                f"got {self.crop_px} and {self.resize_short_side_px}."
            )
        if self.interpolation not in _RESAMPLE:
            raise PreprocessSpecError(
                f"interpolation must be one of {sorted(_RESAMPLE)}, got {self.interpolation!r}."
            )
        if (self.colour_order, self.layout, self.dtype) != ("RGB", "NHWC", "uint8"):
            raise PreprocessSpecError("Only RGB, NHWC, uint8 inputs are supported.")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise PreprocessSpecError("mean and std need three values each, std > 0.")

    def to_json(self) -> str:
        """The `preprocess` metadata: resize, crop, colour order, layout and dtype of the uint8 input.

        Mean and std are not written: the graph normalises its uint8 input itself, and a client that
        read them would normalise twice (issue 15). `NORMALISATION` says so in their place.
        """
        if (self.mean, self.std) != (LITE_PIXEL_MEAN, LITE_PIXEL_STD):
            raise PreprocessSpecError(
                "the metadata states the graph's EfficientNet-Lite normalisation; a spec with another "
                "mean or std cannot be written into it"
            )
        fields = {k: v for k, v in asdict(self).items() if k not in ("mean", "std")}
        return json.dumps(fields | {"normalisation": NORMALISATION})

    @classmethod
    def from_json(cls, text: str) -> PreprocessSpec:
        try:
            raw: dict[str, Any] = json.loads(text)
            return cls(
                resize_short_side_px=int(raw["resize_short_side_px"]),
                crop_px=int(raw["crop_px"]),
                interpolation=str(raw["interpolation"]),
                colour_order=str(raw["colour_order"]),
                layout=str(raw["layout"]),
                dtype=str(raw["dtype"]),
                # Files written before the schema list the in-graph mean and std; they are the defaults.
                mean=tuple(float(v) for v in raw.get("mean", LITE_PIXEL_MEAN)),  # type: ignore[arg-type]
                std=tuple(float(v) for v in raw.get("std", LITE_PIXEL_STD)),  # type: ignore[arg-type]
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as err:
            raise PreprocessSpecError(f"Invalid preprocess description: {err}") from err


def resized_size(width_px: int, height_px: int, short_side_px: int) -> tuple[int, int]:
    """(width, height) with the shorter side at `short_side_px`, long side truncated like torchvision."""
    if width_px <= height_px:
        return short_side_px, int(short_side_px * height_px / width_px)
    return int(short_side_px * width_px / height_px), short_side_px


def _dct_scaled(source_size_px: tuple[int, int], size_px: tuple[int, int]) -> bool:
    """True when `size_px` is `source_size_px` at a JPEG DCT scale n/8 (libjpeg rounds up), n = 1..8."""
    width_px, height_px = source_size_px
    return any((-(-width_px * n // 8), -(-height_px * n // 8)) == tuple(size_px) for n in range(1, 9))


def centre_crop_box(width_px: int, height_px: int, spec: PreprocessSpec) -> tuple[float, float, float, float]:
    """The model's input as a box (left, top, right, bottom) in a photo's own pixels: the centre crop of
    the photo resized to `spec.resize_short_side_px`, with torchvision's sizes and offsets."""
    resized_width_px, resized_height_px = resized_size(width_px, height_px, spec.resize_short_side_px)
    # torchvision's centre crop rounds the offsets this way; keep it identical.
    left = round((resized_width_px - spec.crop_px) / 2.0)
    top = round((resized_height_px - spec.crop_px) / 2.0)
    x_scale, y_scale = width_px / resized_width_px, height_px / resized_height_px
    return (left * x_scale, top * y_scale, (left + spec.crop_px) * x_scale, (top + spec.crop_px) * y_scale)


def preprocess_image(
    image: Image.Image, spec: PreprocessSpec, source_size_px: tuple[int, int] | None = None
) -> npt.NDArray[np.uint8]:
    """RGB PIL image -> (crop, crop, 3) uint8: torchvision Resize(short) + CenterCrop(crop), computed for
    the crop only (Pillow resamples just the box the crop covers: half the work of resizing it all).

    `source_size_px`: (width, height) of the upright photo before a reduced-scale decode (JPEG DCT
    scaling); by default what `vision.decode` recorded in `image.info[SOURCE_SIZE_KEY]`, while the
    image still has a size that decode can give it (Pillow copies `info` into crops, rotations and
    resizes: those use their own size), else the image's own size. The crop is then placed as on the
    full photo: placing it from the decoded size shifts it by up to a resized pixel, enough to change
    the top class of 3 of 51 real photos.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    recorded = image.info.get(SOURCE_SIZE_KEY)
    if source_size_px is None and recorded is not None and _dct_scaled(recorded, rgb.size):
        source_size_px = recorded
    width_px, height_px = source_size_px if source_size_px is not None else rgb.size
    left, top, right, bottom = centre_crop_box(width_px, height_px, spec)
    x_scale, y_scale = rgb.width / width_px, rgb.height / height_px  # source pixels -> decoded pixels
    box = (left * x_scale, top * y_scale, right * x_scale, bottom * y_scale)
    cropped = rgb.resize((spec.crop_px, spec.crop_px), _RESAMPLE[spec.interpolation], box=box)
    return np.asarray(cropped, dtype=np.uint8)  # (crop, crop, 3)


def normalize(batch: npt.NDArray[np.uint8], spec: PreprocessSpec) -> npt.NDArray[np.float32]:
    """Reference of the in-graph normalisation: (N, H, W, 3) uint8 -> (N, 3, H, W) float32."""
    pixels = batch.astype(np.float32) / np.float32(255.0)  # (N, H, W, 3)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(((pixels - mean) / std).transpose(0, 3, 1, 2))  # (N, 3, H, W)
