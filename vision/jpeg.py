"""JPEG decoding straight to the size the model needs: libjpeg-turbo's DCT scaling through simplejpeg.

Pillow's draft mode scales by 1/2, 1/4 or 1/8 only; libjpeg-turbo also by 3/8, 5/8, 3/4 and 7/8, so a
1600 x 902 photo wanted at 256 px decodes to 600 x 339 instead of 800 x 451: fewer pixels to inverse-
transform, convert and then resize. `vision.decode.decode_image` calls this after its header checks and
keeps Pillow for everything else: other formats, CMYK, and any JPEG libjpeg-turbo will not decode cleanly,
so that damaged or truncated files still get Pillow's path and its named errors.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import simplejpeg
from PIL import Image

ORIENTATION_TAG = 0x0112  # EXIF
# The same transposes as PIL.ImageOps.exif_transpose, by EXIF orientation.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Pillow's mode for the JPEGs decoded here: YCbCr (or RGB) and greyscale. CMYK and YCCK stay with Pillow,
# which knows Adobe's inverted CMYK.
SCALED_MODES = ("RGB", "L")


def decode_jpeg_scaled(data: bytes, header: Image.Image, min_size_px: int) -> Image.Image | None:
    """Upright RGB image of a JPEG at the smallest n/8 scale with both sides >= `min_size_px` (never above
    full size), or None where this path does not apply and Pillow should decode.

    `header`: the JPEG opened (not decoded) by Pillow, for its mode and EXIF orientation.
    """
    if header.format not in ("JPEG", "MPO") or header.mode not in SCALED_MODES:
        return None
    try:
        pixels: npt.NDArray[np.uint8] = simplejpeg.decode_jpeg(  # (H, W, 3); strict: warnings raise
            data, colorspace="RGB", min_height=min_size_px, min_width=min_size_px
        )
    except ValueError:
        return None  # damaged, truncated or unusual: Pillow decodes it or names what is wrong
    image = Image.fromarray(pixels)
    method = _UPRIGHT.get(header.getexif().get(ORIENTATION_TAG, 1))
    return image if method is None else image.transpose(method)
