"""The one preprocessing: spec round trip, geometry, and equality with the torch path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from vision.preprocess import (
    SOURCE_SIZE_KEY,
    PreprocessSpec,
    PreprocessSpecError,
    centre_crop_box,
    normalize,
    preprocess_image,
    resized_size,
)


def _photo(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_spec_survives_json() -> None:
    spec = PreprocessSpec(resize_short_side_px=300, crop_px=256, interpolation="bilinear")
    assert PreprocessSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "{}",
        '{"resize_short_side_px": 100, "crop_px": 224}',
        PreprocessSpec().to_json().replace("RGB", "BGR"),
    ],
)
def test_bad_spec_json_is_a_named_error(text: str) -> None:
    with pytest.raises(PreprocessSpecError):
        PreprocessSpec.from_json(text)


@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 512))
def test_resized_short_side_is_exact(width: int, height: int, short: int) -> None:
    new_w, new_h = resized_size(width, height, short)
    assert min(new_w, new_h) == short or (width == height and new_w == new_h == short)
    assert max(new_w, new_h) >= short


def test_output_is_uint8_crop() -> None:
    out = preprocess_image(_photo(640, 480), PreprocessSpec())
    assert out.dtype == np.uint8 and out.shape == (224, 224, 3)


def _smooth_photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Gradients and waves: varies like a photo does, unlike noise."""
    y, x = np.mgrid[0:height, 0:width]
    f = np.random.default_rng(seed).uniform(0.005, 0.05, 3)
    rgb = np.stack(
        [
            127 + 120 * np.sin(x * f[0] + y * f[1]),
            127 + 120 * np.cos(y * f[2]),
            (x + y) * 255 / (width + height),
        ],
        axis=-1,
    )  # (H, W, 3)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8))


@pytest.mark.parametrize(("width", "height"), [(640, 480), (480, 641), (300, 300), (1600, 900), (300, 1000)])
def test_equals_torchvision_resize_and_centre_crop(width: int, height: int) -> None:
    """Within rounding: the crop is resampled alone, so Pillow rounds between its two passes over other
    rows (on noise, whose bicubic overshoot is clipped between the passes, the difference is larger; on
    the D1NAMO photos it is at most 2, mean 0.2)."""
    spec = PreprocessSpec()
    image = _smooth_photo(width, height, seed=width)
    torch_path = transforms.Compose(
        [
            transforms.Resize(spec.resize_short_side_px, interpolation=InterpolationMode.BICUBIC),
            transforms.CenterCrop(spec.crop_px),
            transforms.PILToTensor(),
        ]
    )
    expected = torch_path(image).permute(1, 2, 0).numpy()  # (H, W, 3)
    difference = np.abs(preprocess_image(image, spec).astype(np.int16) - expected)
    assert difference.max() <= 2 and difference.mean() < 0.25


def test_centre_crop_box_is_torchvisions_crop_in_the_photos_pixels() -> None:
    spec = PreprocessSpec()
    left, top, right, bottom = centre_crop_box(1600, 902, spec)  # resized to 454 x 256, crop at (115, 16)
    assert (left, top) == pytest.approx((115 * 1600 / 454, 16 * 902 / 256))
    assert (right - left, bottom - top) == pytest.approx((224 * 1600 / 454, 224 * 902 / 256))


def test_a_reduced_decode_is_cropped_as_the_full_photo() -> None:
    spec = PreprocessSpec()
    full = _smooth_photo(1600, 902, seed=3)
    reduced = full.resize((600, 339), Image.Resampling.BOX)  # what a 3/8 JPEG DCT scaling gives
    want = preprocess_image(full, spec).astype(np.int16)
    placed = np.abs(preprocess_image(reduced, spec, source_size_px=(1600, 902)) - want).mean()
    from_decoded_size = np.abs(preprocess_image(reduced, spec) - want).mean()  # 453 px wide, not 454
    assert placed < 0.5 < from_decoded_size
    reduced.info[SOURCE_SIZE_KEY] = (1600, 902)  # as vision.decode records it
    np.testing.assert_array_equal(
        preprocess_image(reduced, spec), preprocess_image(reduced, spec, source_size_px=(1600, 902))
    )


def test_a_recorded_size_that_no_longer_fits_the_image_is_ignored() -> None:
    spec = PreprocessSpec()
    reduced = _smooth_photo(1600, 902, seed=4).resize((600, 339), Image.Resampling.BOX)
    reduced.info[SOURCE_SIZE_KEY] = (1600, 902)
    for changed in (reduced.transpose(Image.Transpose.ROTATE_90), reduced.crop((0, 0, 400, 300))):
        assert changed.info[SOURCE_SIZE_KEY] == (1600, 902)  # Pillow carried it over
        own_size = changed.copy()
        own_size.info.pop(SOURCE_SIZE_KEY)
        np.testing.assert_array_equal(preprocess_image(changed, spec), preprocess_image(own_size, spec))


def test_numpy_normalisation_equals_the_graph_and_torchvision() -> None:
    from vision.efficientnet_lite import EfficientNetLite0
    from vision.recognizer_model import FoodRecognizer, RecognizerCalibration
    from vision.taxonomy import load_food_classes

    spec = PreprocessSpec()
    batch = np.stack([preprocess_image(_photo(320, 240, seed=s), spec) for s in range(2)])  # (2, 224, 224, 3)
    model = FoodRecognizer(EfficientNetLite0(), load_food_classes(), spec, RecognizerCalibration())
    graph = model.normalise(torch.from_numpy(batch)).numpy()
    reference = transforms.Normalize(spec.mean, spec.std)(
        torch.from_numpy(batch).permute(0, 3, 1, 2) / 255.0
    ).numpy()
    ours = normalize(batch, spec)
    assert ours.shape == (2, 3, 224, 224)
    np.testing.assert_allclose(ours, graph, atol=1e-6)
    np.testing.assert_allclose(ours, reference, atol=1e-6)
    # The EfficientNet-Lite convention: pixel 127 maps to 0, pixel 255 to about 1.
    assert abs(float(normalize(np.full((1, 1, 1, 3), 127, np.uint8), spec).max())) < 1e-6
