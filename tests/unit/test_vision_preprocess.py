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

from vision.preprocess import PreprocessSpec, PreprocessSpecError, normalize, preprocess_image, resized_size


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


@pytest.mark.parametrize(("width", "height"), [(640, 480), (480, 641), (300, 300), (1600, 900)])
def test_equals_torchvision_resize_and_centre_crop(width: int, height: int) -> None:
    spec = PreprocessSpec()
    image = _photo(width, height, seed=width)
    torch_path = transforms.Compose(
        [
            transforms.Resize(spec.resize_short_side_px, interpolation=InterpolationMode.BICUBIC),
            transforms.CenterCrop(spec.crop_px),
            transforms.PILToTensor(),
        ]
    )
    expected = torch_path(image).permute(1, 2, 0).numpy()  # (H, W, 3)
    np.testing.assert_array_equal(preprocess_image(image, spec), expected)


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
