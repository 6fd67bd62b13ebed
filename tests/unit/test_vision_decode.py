"""Photo decoding: every accepted format, every named error, and random bytes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pillow_heif import from_pillow

from vision.decode import (
    CorruptImageError,
    EmptyImageError,
    ImageDecodeError,
    ImageShapeError,
    ImageTooLargeError,
    TruncatedImageError,
    UnsupportedImageFormatError,
    decode_image,
)

RED = (220, 30, 30)


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _left_red_right_blue(width: int = 64, height: int = 32) -> Image.Image:
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = RED
    pixels[:, width // 2 :] = (30, 30, 220)
    return Image.fromarray(pixels)


def _close(colour: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("JPEG", {"quality": 95}),
        ("JPEG", {"quality": 95, "progressive": True}),
        ("PNG", {}),
        ("WEBP", {"quality": 95}),
    ],
)
def test_common_formats_decode_to_rgb_with_their_colours(fmt: str, options: dict[str, object]) -> None:
    image = decode_image(_encode(_left_red_right_blue(), fmt, **options))
    assert image.mode == "RGB" and image.size == (64, 32)
    assert _close(image.getpixel((5, 5)), RED)


def test_heic_decodes() -> None:
    buffer = io.BytesIO()
    from_pillow(_left_red_right_blue()).save(buffer, format="HEIF", quality=95)
    image = decode_image(buffer.getvalue())
    assert image.mode == "RGB" and image.size == (64, 32)
    assert _close(image.getpixel((5, 5)), RED, tolerance=25)


# Not 0.9: a tiny PNG cut there loses only its end marker and still holds every pixel.
@pytest.mark.parametrize("cut", [0.1, 0.5])
def test_cut_off_files_of_every_format_raise_decode_errors(cut: float) -> None:
    for data in _VALID:
        with pytest.raises(ImageDecodeError):
            decode_image(data[: int(len(data) * cut)])


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    data = _encode(_left_red_right_blue(), "JPEG", quality=95, exif=exif)
    image = decode_image(data)
    assert image.size == (32, 64)  # width and height swapped
    assert _close(image.getpixel((16, 5)), RED)  # the red left half is now on top


def test_heic_exif_orientation_is_applied_once() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    _left_red_right_blue().save(buffer, format="HEIF", exif=exif.tobytes(), quality=95)
    image = decode_image(buffer.getvalue())
    assert image.size == (32, 64)
    assert _close(image.getpixel((16, 5)), RED, tolerance=25)  # not rotated twice


def test_cmyk_jpeg_comes_back_in_its_colours() -> None:
    cmyk = _left_red_right_blue().convert("CMYK")
    image = decode_image(_encode(cmyk, "JPEG", quality=95))
    assert image.mode == "RGB"
    assert _close(image.getpixel((5, 5)), RED, tolerance=20)


def test_grayscale_jpeg_becomes_grey_rgb() -> None:
    image = decode_image(_encode(Image.new("L", (20, 20), 90), "JPEG", quality=95))
    assert image.mode == "RGB" and _close(image.getpixel((3, 3)), (90, 90, 90), tolerance=3)


def test_png_alpha_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    rgba.putpixel((0, 0), (*RED, 255))
    image = decode_image(_encode(rgba, "PNG"))
    assert image.getpixel((5, 5)) == (255, 255, 255)
    assert image.getpixel((0, 0)) == RED


def test_sixteen_bit_png_keeps_its_grey_level() -> None:
    grey16 = Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16))  # half of 65535
    image = decode_image(_encode(grey16, "PNG"))
    assert _close(image.getpixel((1, 1)), (128, 128, 128), tolerance=1)


def test_large_jpeg_is_draft_decoded_but_not_below_the_requested_size() -> None:
    data = _encode(_left_red_right_blue(2048, 1024), "JPEG", quality=90)
    full = decode_image(data)
    reduced = decode_image(data, min_size_px=256)
    assert full.size == (2048, 1024)
    assert reduced.size == (512, 256)  # 1/4 scale: the largest reduction keeping both sides >= 256
    assert _close(reduced.getpixel((5, 5)), RED)


def test_empty_upload() -> None:
    with pytest.raises(EmptyImageError, match="empty"):
        decode_image(b"")


def test_not_an_image() -> None:
    with pytest.raises(UnsupportedImageFormatError, match="JPEG, PNG, WebP or HEIC"):
        decode_image(b"hello, this is text and not a photo")


def test_gif_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedImageFormatError, match="GIF"):
        decode_image(_encode(Image.new("RGB", (8, 8)), "GIF"))


def test_truncated_jpeg() -> None:
    data = _encode(_left_red_right_blue(256, 256), "JPEG", quality=95)
    with pytest.raises(TruncatedImageError, match="cut off"):
        decode_image(data[: len(data) // 2])


def test_damaged_png_data() -> None:
    data = bytearray(_encode(_left_red_right_blue(), "PNG"))
    data[60:90] = b"\x00" * 30  # inside the compressed IDAT stream
    with pytest.raises(ImageDecodeError):
        decode_image(bytes(data))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width_px: int, height_px: int) -> bytes:
    """A PNG that declares a size and holds no pixel data: what a bomb looks like to a header check."""
    header = struct.pack(">IIBBBBB", width_px, height_px, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # A 1-bit PNG of 64 megapixels compresses to a few kilobytes.
    bomb = _encode(Image.new("1", (8_000, 8_000)), "PNG")
    assert len(bomb) < 200_000
    with pytest.raises(ImageTooLargeError, match="pixels"):
        decode_image(bomb)


def test_header_beyond_pillows_own_limit_is_the_same_named_error() -> None:
    with pytest.raises(ImageTooLargeError, match="pixels"):
        decode_image(_png_header_only(30_000, 30_000))


def test_pixel_limit_is_configurable() -> None:
    with pytest.raises(ImageTooLargeError):
        decode_image(_encode(_left_red_right_blue(), "PNG"), max_pixels=100)


@pytest.mark.parametrize(("width_px", "height_px"), [(65_000, 1), (8_000, 1), (1, 8_000), (1_100, 100)])
def test_strips_are_refused_from_the_header_before_any_pixel_is_decoded(
    width_px: int, height_px: int
) -> None:
    # The 65000x1 PNG is 273 bytes and once made the server resize it to 16.6M x 256 (23 GB).
    strip = _encode(Image.new("L", (width_px, height_px)), "PNG")
    assert len(strip) < 2_000
    with pytest.raises(ImageShapeError, match="at most 10:1"):
        decode_image(strip, min_size_px=256)
    with pytest.raises(ImageShapeError):  # the header alone is refused: there is no pixel data here
        decode_image(_png_header_only(width_px, height_px))


def test_a_panorama_within_the_aspect_limit_still_decodes() -> None:
    image = decode_image(_encode(_left_red_right_blue(800, 100), "JPEG"), min_size_px=256)
    assert image.size == (800, 100)


def test_size_after_resizing_is_bounded() -> None:
    # 9:1 passes the aspect check; scaled to a 256-px short side it is 2304 x 256 = 589,824 pixels.
    data = _encode(_left_red_right_blue(900, 100), "PNG")
    assert decode_image(data, min_size_px=256).size == (900, 100)
    with pytest.raises(ImageShapeError, match="scaled for the model"):
        decode_image(data, min_size_px=256, max_resized_pixels=500_000)


def test_decode_budget_counts_the_pixels_after_jpeg_dct_scaling() -> None:
    # 2048x1536 = 3.1 MP declared. As a JPEG wanted at 256 px it decodes at 1/4 scale (512x384 =
    # 196,608 pixels) and passes a 200,000-pixel budget; as a PNG it must be decoded whole and is refused.
    photo = _left_red_right_blue(2_048, 1_536)
    jpeg = decode_image(_encode(photo, "JPEG"), min_size_px=256, max_decoded_pixels=200_000)
    assert jpeg.size == (512, 384)
    with pytest.raises(ImageTooLargeError, match="decoded whole"):
        decode_image(_encode(photo, "PNG"), min_size_px=256, max_decoded_pixels=200_000)


def test_a_49_megapixel_png_is_over_the_default_decode_budget() -> None:
    # Under the 50-MP header limit, but a PNG is decoded whole: 1.2 s and +280 MB before this limit.
    with pytest.raises(ImageTooLargeError, match="decoded whole"):
        decode_image(_png_header_only(7_000, 7_000), min_size_px=256)


def test_every_decode_error_is_a_value_error_with_a_message() -> None:
    for error in (
        EmptyImageError,
        UnsupportedImageFormatError,
        TruncatedImageError,
        CorruptImageError,
        ImageShapeError,
    ):
        assert issubclass(error, ImageDecodeError) and issubclass(error, ValueError)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_decode_errors(data: bytes) -> None:
    try:
        image = decode_image(data)
    except ImageDecodeError:
        return
    assert image.mode == "RGB"


def _heic(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    from_pillow(image).save(buffer, format="HEIF")
    return buffer.getvalue()


_SMALL = _left_red_right_blue(16, 16)
_VALID = [_encode(_SMALL, "PNG"), _encode(_SMALL, "JPEG"), _encode(_SMALL, "WEBP"), _heic(_SMALL)]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_VALID), st.integers(0, 400), st.binary(min_size=1, max_size=16))
def test_mutated_real_images_raise_only_decode_errors(base: bytes, position: int, patch: bytes) -> None:
    data = base[:position] + patch + base[position + len(patch) :]
    try:
        image = decode_image(data)
    except ImageDecodeError:
        return
    assert image.mode == "RGB"


def _jpeg_claiming(width_px: int, height_px: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is edited to declare another size."""
    data = bytearray(_encode(_left_red_right_blue(16, 16), "JPEG", quality=50))
    frame = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, height_px, width_px)
    return bytes(data)


def test_a_small_jpeg_claiming_a_large_size_is_refused_not_filled_with_grey() -> None:
    lying = _jpeg_claiming(7_000, 7_000)
    assert len(lying) < 1_000
    with pytest.raises(TruncatedImageError, match="too short"):
        decode_image(lying, min_size_px=256)
    # The same file claiming its true size still decodes: the bound is on data per 8x8 block.
    assert decode_image(_jpeg_claiming(16, 16)).size == (16, 16)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(_VALID), st.integers(0, 400), st.binary(min_size=1, max_size=16))
def test_decode_errors_never_quote_the_decoder(base: bytes, position: int, patch: bytes) -> None:
    # Pillow's and libheif's own messages ("file position 417", "decompression bomb DOS attack",
    # "Security limit exceeded") are library internals; ours say what to do.
    data = base[:position] + patch + base[position + len(patch) :]
    try:
        decode_image(data)
    except ImageDecodeError as err:
        message = str(err)
        for internal in ("position", "DOS", "bomb", "limit exceeded", "broken data stream", "Errno"):
            assert internal not in message, message


def test_a_png_whose_data_cannot_hold_its_declared_size_is_refused() -> None:
    # 5000x5000 declared, one scanline of data: Pillow decoded the other 4999 rows as black (200).
    lying = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 5_000, 5_000, 8, 0, 0, 0, 0))
    lying = (
        b"\x89PNG\r\n\x1a\n"
        + lying
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 5_001))
        + _png_chunk(b"IEND", b"")
    )
    with pytest.raises(TruncatedImageError, match="too short"):
        decode_image(lying, min_size_px=256)
    # A real PNG of flat colour (the most compressible photo there is) still decodes.
    flat = _encode(Image.new("RGB", (2_000, 1_500), (90, 90, 90)), "PNG", optimize=True)
    assert decode_image(flat, min_size_px=256).size == (2_000, 1_500)
