"""The scaled JPEG path: same pixels as Pillow at the same scale, finer scales, EXIF orientation, and
None (Pillow's turn) for CMYK, other formats and damaged files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from vision.jpeg import ORIENTATION_TAG, decode_jpeg_scaled


def _photo(width: int, height: int, mode: str = "RGB") -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb).convert(mode)  # (H, W, 3) gradients: compresses like a photo, not noise


def _jpeg(image: Image.Image, **save: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **save)
    return out.getvalue()


def _decode(data: bytes, min_size_px: int) -> Image.Image | None:
    return decode_jpeg_scaled(data, Image.open(io.BytesIO(data)), min_size_px)


def _pillow_draft(data: bytes, min_size_px: int) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    image.draft(image.mode, (min_size_px, min_size_px))
    return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


@pytest.mark.parametrize("progressive", [False, True])
def test_same_pixels_as_pillow_draft_at_the_same_scale(progressive: bool) -> None:
    data = _jpeg(_photo(1024, 768), progressive=progressive)
    decoded = _decode(data, 384)  # 1/2 for both: 3/8 would give 288 < 384 rows
    assert decoded is not None and decoded.mode == "RGB" and decoded.size == (512, 384)
    np.testing.assert_array_equal(np.asarray(decoded), _pillow_draft(data, 384))


def test_decodes_at_the_finer_n_over_8_scales_never_above_full_size() -> None:
    photo = _decode(_jpeg(_photo(1600, 902)), 256)
    assert photo is not None and photo.size == (600, 339)  # 3/8; Pillow's draft stops at 1/2 (800 x 451)
    small = _decode(_jpeg(_photo(100, 80)), 256)
    assert small is not None and small.size == (100, 80)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_as_pillow(orientation: int) -> None:
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    data = _jpeg(_photo(64, 48), exif=exif.tobytes())
    decoded = _decode(data, 48)  # full scale
    assert decoded is not None
    np.testing.assert_array_equal(np.asarray(decoded), _pillow_draft(data, 48))
    assert decoded.size == ((48, 64) if orientation >= 5 else (64, 48))


def test_greyscale_becomes_rgb_as_pillow() -> None:
    data = _jpeg(_photo(640, 480, "L"))
    decoded = _decode(data, 240)  # 1/2 for both
    assert decoded is not None and decoded.mode == "RGB" and decoded.size == (320, 240)
    np.testing.assert_array_equal(np.asarray(decoded), _pillow_draft(data, 240))


def test_leaves_cmyk_other_formats_and_damaged_files_to_pillow() -> None:
    assert _decode(_jpeg(_photo(64, 48, "CMYK")), 32) is None
    png = io.BytesIO()
    _photo(64, 48).save(png, "PNG")
    assert _decode(png.getvalue(), 32) is None
    whole = _jpeg(_photo(640, 480))
    assert _decode(whole[: len(whole) // 2], 256) is None  # truncated
    damaged = bytearray(whole)
    damaged[len(whole) // 2 : len(whole) // 2 + 64] = b"\xff\xd9" * 32  # an end-of-image marker mid-scan
    assert _decode(bytes(damaged), 256) is None
