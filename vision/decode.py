"""Photo bytes to an upright RGB image: the one decoder that training, evaluation and serving use.

Accepts JPEG (EXIF orientation, progressive, CMYK, grayscale), PNG (alpha composited on white), WebP and
HEIC/HEIF; large JPEGs are decoded at a reduced DCT scale when the caller only needs a small image
(libjpeg-turbo's n/8 scales through `vision.jpeg`; Pillow's 1/2, 1/4, 1/8 draft for what it leaves).
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from vision.jpeg import ORIENTATION_TAG, decode_jpeg_scaled
from vision.preprocess import SOURCE_SIZE_KEY, resized_size

Image.init()  # registers every Pillow plugin, so `formats=` below can name WEBP
register_heif_opener()

# 48-megapixel phone cameras (8064 x 6048) must pass; a decompression bomb must not.
MAX_IMAGE_PIXELS = 50_000_000
# The decode budget: pixels actually materialised (after JPEG DCT scaling). A 48-MP JPEG decoded for a
# 256-px model input costs 6 MP; a PNG, WebP or HEIC is decoded whole, so a 49-MP PNG (1.2 s, +280 MB
# here) is refused while a 24-MP one still passes.
MAX_DECODED_PIXELS = 25_000_000
# Phone panoramas reach about 8:1; a longer strip is no meal photo. Resizing a 65000x1 strip to a
# 256-px short side would make a 16.6-million x 256 image (the server was killed at 23 GB).
MAX_ASPECT_RATIO = 10.0
# Pixels after resizing the short side for the model: 256 x 2560 at the aspect limit.
MAX_RESIZED_PIXELS = 1_000_000
# Pillow opens multi-picture JPEGs (MPO, some phones) through the JPEG entry.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
ACCEPTED_FORMATS_TEXT = "JPEG, PNG, WebP or HEIC"
_WHITE = (255, 255, 255)
# Client-facing details never quote the decoder's own messages (library internals, file offsets).
_DAMAGED = "The image data is damaged; export the photo again."
# Huffman-coded JPEG spends at least one bit per 8x8 block of its first component (the DC code), so a
# file smaller than that cannot hold the size its header claims: libjpeg would fill the rest with grey.
_JPEG_HUFFMAN_TABLES = b"\xff\xc4"
# Deflate compresses at most ~1032:1, so a PNG whose image data (IDAT) is smaller than its scanlines
# over this cannot hold the size its header declares (Pillow would decode the missing rows as black).
_DEFLATE_MAX_RATIO = 1100
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by IHDR colour type
# Formats a person might send that we recognise but refuse, by their leading bytes.
_KNOWN_SIGNATURES = {
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"%PDF": "PDF",
}


class ImageDecodeError(ValueError):
    """The uploaded bytes are not a photo this service can read; the message says what to do."""


class EmptyImageError(ImageDecodeError):
    """No bytes at all."""


class UnsupportedImageFormatError(ImageDecodeError):
    """Not an image, or an image format outside JPEG/PNG/WebP/HEIC."""


class TruncatedImageError(ImageDecodeError):
    """The file ends before the image data does (an interrupted upload)."""


class CorruptImageError(ImageDecodeError):
    """The header is readable but the image data is damaged."""


class ImageTooLargeError(ImageDecodeError):
    """More pixels than MAX_IMAGE_PIXELS (or than Pillow allows): possibly a decompression bomb."""


class ImageShapeError(ImageDecodeError):
    """A strip rather than a photo: one side more than MAX_ASPECT_RATIO times the other."""


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below is stricter than Pillow's warning threshold.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(
            "The image declares far more pixels than a photo has; resize it before sending."
        ) from err
    except UnidentifiedImageError as err:
        for signature, name in _KNOWN_SIGNATURES.items():
            if data.startswith(signature):
                raise UnsupportedImageFormatError(
                    f"{name} files are not accepted; send the photo as {ACCEPTED_FORMATS_TEXT}."
                ) from err
        raise UnsupportedImageFormatError(
            f"The upload is not a recognisable image; send the photo as {ACCEPTED_FORMATS_TEXT}."
        ) from err
    except (OSError, SyntaxError, ValueError, struct.error, IndexError, EOFError) as err:
        # A recognised signature with a broken header.
        raise CorruptImageError("The image header is damaged; take or export the photo again.") from err


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: convert("L") would clip everything above 255 to white.
        grey = np.asarray(image, dtype=np.float64)
        scale = 257.0 if grey.max(initial=0) > 255 else 1.0
        image = Image.fromarray(np.clip(grey / scale, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, _WHITE)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")  # CMYK (Adobe inversion handled by Pillow), L, YCbCr, 1, F


def _check_shape(width_px: int, height_px: int, max_aspect_ratio: float) -> None:
    if width_px <= 0 or height_px <= 0:
        raise CorruptImageError("The image has no pixels; take or export the photo again.")
    long_px, short_px = max(width_px, height_px), min(width_px, height_px)
    if long_px > max_aspect_ratio * short_px:
        raise ImageShapeError(
            f"The image is {width_px}x{height_px} pixels, a strip with one side "
            f"{long_px / short_px:,.0f} times the other; a photo is at most {max_aspect_ratio:g}:1. "
            "Send the original photo or crop it to the plate."
        )


def _check_pixels(
    width_px: int, height_px: int, *, max_pixels: int, min_size_px: int | None, max_resized_pixels: int
) -> None:
    if width_px * height_px > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width_px}x{height_px} = {width_px * height_px:,} pixels, more than the "
            f"{max_pixels:,} accepted; resize it (a 1600-pixel long side is plenty) before sending."
        )
    if min_size_px is not None:
        resized_width_px, resized_height_px = resized_size(width_px, height_px, min_size_px)
        if resized_width_px * resized_height_px > max_resized_pixels:
            raise ImageShapeError(
                f"The image is {width_px}x{height_px} pixels; scaled for the model it would be "
                f"{resized_width_px}x{resized_height_px}, more than the {max_resized_pixels:,} pixels "
                "allowed. Send the original photo or crop it to the plate."
            )


def _png_least_bytes(data: bytes, width_px: int, height_px: int) -> tuple[int, int]:
    """(bytes of IDAT data in the file, the fewest that can hold the declared scanlines)."""
    bit_depth, colour_type = data[24], data[25]
    row_bytes = 1 + -(-width_px * _PNG_CHANNELS.get(colour_type, 1) * bit_depth // 8)
    idat_bytes, at = 0, 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        idat_bytes += min(length, len(data) - at - 8) if kind == b"IDAT" else 0  # a cut file holds less
        at += 12 + length
    return idat_bytes, height_px * row_bytes // _DEFLATE_MAX_RATIO


def _check_data_holds_its_size(data: bytes, image_format: str | None, width_px: int, height_px: int) -> None:
    if image_format == "PNG" and len(data) > 26:
        held, least_bytes = _png_least_bytes(data, width_px, height_px)
    elif image_format in ("JPEG", "MPO") and _JPEG_HUFFMAN_TABLES in data:
        # (Arithmetic-coded JPEG, without Huffman tables, can spend less than a bit per block.)
        held, least_bytes = len(data), -(-width_px // 8) * -(-height_px // 8) // 8
    else:
        return
    if held < least_bytes:
        raise TruncatedImageError(
            f"The file ({len(data):,} bytes) is too short for the {width_px}x{height_px} pixels its "
            "header declares: cut off or damaged; send the photo again."
        )


def decode_image(
    data: bytes,
    *,
    min_size_px: int | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_decoded_pixels: int = MAX_DECODED_PIXELS,
    max_aspect_ratio: float = MAX_ASPECT_RATIO,
    max_resized_pixels: int = MAX_RESIZED_PIXELS,
) -> Image.Image:
    """Decode uploaded bytes to an upright RGB image, refusing from the header what costs too much.

    `min_size_px`: the smallest side the caller needs (e.g. the preprocessing resize); a JPEG much
    larger than that is decoded at the smallest of libjpeg-turbo's n/8 scales with both sides still
    >= min_size_px (Pillow's 1/2, 1/4 or 1/8 where `vision.jpeg` leaves it to Pillow). The returned
    image's `info[SOURCE_SIZE_KEY]` is the upright full size, which `preprocess_image` places its crop by.
    Before any pixel is decoded, the declared size is checked against `max_pixels`, the aspect
    ratio against `max_aspect_ratio`, the size after resizing to `min_size_px` against
    `max_resized_pixels`, and the pixels the decoder will actually produce (after DCT scaling)
    against `max_decoded_pixels`: the work a request can cause is bounded by its header.
    Raises an `ImageDecodeError` subclass for every input it cannot turn into a photo.
    """
    if not data:
        raise EmptyImageError("The upload is empty; attach the photo file.")
    image = _open(data)
    width_px, height_px = image.size
    _check_shape(width_px, height_px, max_aspect_ratio)
    _check_pixels(
        width_px,
        height_px,
        max_pixels=max_pixels,
        min_size_px=min_size_px,
        max_resized_pixels=max_resized_pixels,
    )
    if min_size_px is not None and image.format in ("JPEG", "MPO"):
        # Square request: after EXIF rotation either side may become the short one.
        image.draft(image.mode, (min_size_px, min_size_px))
    decoded_pixels = image.size[0] * image.size[1]  # after draft, the size the decoder produces
    if decoded_pixels > max_decoded_pixels:
        raise ImageTooLargeError(
            f"The image is {width_px}x{height_px} pixels and a {image.format} of that size must be "
            f"decoded whole ({decoded_pixels:,} pixels, more than the {max_decoded_pixels:,} allowed); "
            "send it as a JPEG or resize it (a 1600-pixel long side is plenty)."
        )
    _check_data_holds_its_size(data, image.format, width_px, height_px)
    try:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
        upright = None if min_size_px is None else decode_jpeg_scaled(data, image, min_size_px)
        if upright is None:  # not a JPEG libjpeg-turbo decodes cleanly at a reduced scale: Pillow's turn
            image.load()
            upright = _to_rgb(ImageOps.exif_transpose(image))
    except OSError as err:
        if "truncated" in str(err) or "end of file" in str(err).lower():
            raise TruncatedImageError(
                "The image file is cut off before its end (an interrupted upload?); send it again."
            ) from err
        raise CorruptImageError(_DAMAGED) from err
    except RuntimeError as err:
        # libheif's errors: a coded size larger than the header said, or damaged data.
        if "Security limit" in str(err):
            raise ImageTooLargeError("The image decodes to too many pixels; resize it.") from err
        raise CorruptImageError(_DAMAGED) from err
    except (SyntaxError, ValueError, struct.error, IndexError, EOFError, zlib.error) as err:
        raise CorruptImageError(_DAMAGED) from err
    # The upright full size, so that a reduced-scale decode is cropped as the full photo would be.
    rotated = orientation in (5, 6, 7, 8)  # EXIF orientations that swap width and height
    upright.info[SOURCE_SIZE_KEY] = (height_px, width_px) if rotated else (width_px, height_px)
    return upright
