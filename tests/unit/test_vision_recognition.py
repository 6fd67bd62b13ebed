"""Turning model outputs into typed recognition results, through a stand-in `infer`."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from mealimpact.inference import session_infer
from vision.decode import EmptyImageError
from vision.metadata import UNITS, LabelInfo, RecognizerMetadata
from vision.preprocess import PreprocessSpec
from vision.recognition import (
    Recognition,
    Recognizer,
    RecognizerInputError,
    RecognizerOutputError,
    recognize_batch,
    recognize_photo,
)


def _metadata() -> RecognizerMetadata:
    labels = (LabelInfo("pizza", "mixed_plates", "food"), LabelInfo("plate", "mixed_plates", "setting"))
    return RecognizerMetadata(
        version="1",
        labels=labels,
        preprocess=PreprocessSpec(),
        food_threshold=0.5,
        quantiles=(0.1, 0.5, 0.9),
        units=UNITS,
        training_data={},
        metrics={},
        weights_sha256="0" * 64,
        licence="Apache-2.0",
    )


class _infer:  # noqa: N801  (used like the function it replaces: _infer(0.9))
    """A model double that answers fixed outputs and keeps the feeds it was given in `seen`."""

    def __init__(self, food_probability: float, probabilities: tuple[float, float] = (0.7, 0.2)) -> None:
        self.food_probability = food_probability
        self.probabilities = probabilities
        self.seen: dict[str, npt.NDArray[np.generic]] = {}

    def __call__(self, feeds: dict[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]:
        self.seen.update(feeds)
        n = feeds["image"].shape[0]
        return {
            "probabilities": np.tile(np.array(self.probabilities, np.float32), (n, 1)),
            "food_probability": np.full(n, self.food_probability, np.float32),
            "carbs_g": np.tile(np.array([10.0, 30.0, 80.0], np.float32), (n, 1)),
            "kcal": np.tile(np.array([100.0, 300.0, 900.0], np.float32), (n, 1)),
            "embedding": np.ones((n, 4), np.float32) / 2.0,
        }


def test_batch_results_are_typed_and_ordered() -> None:
    images = np.zeros((2, 224, 224, 3), np.uint8)
    results = recognize_batch(images, _infer(0.9, (0.2, 0.7)), _metadata(), top_k=2)
    assert len(results) == 2
    first = results[0]
    # The plate is the most probable class, but a setting is never a food: it is listed apart.
    assert [f.name for f in first.foods] == ["pizza"] and [s.name for s in first.settings] == ["plate"]
    assert first.settings[0].role == "setting" and first.foods[0].category_label == "mixed plates"
    assert first.dish is not None and first.dish.name == "pizza"  # 0.2: just confident
    assert first.is_food and first.food_probability == pytest.approx(0.9)
    assert (first.carbs_g.low, first.carbs_g.estimate, first.carbs_g.high) == (10.0, 30.0, 80.0)
    assert first.kcal.estimate == 300.0
    assert first.embedding.shape == (4,)


def test_only_settings_confident_is_an_unnamed_dish() -> None:
    (result,) = recognize_batch(np.zeros((1, 224, 224, 3), np.uint8), _infer(0.9, (0.1, 0.85)), _metadata())
    assert result.dish is None and result.foods[0].name == "pizza" and result.settings[0].name == "plate"


def test_below_threshold_is_not_food() -> None:
    (result,) = recognize_batch(np.zeros((1, 224, 224, 3), np.uint8), _infer(0.2), _metadata())
    assert not result.is_food


def test_photo_bytes_are_decoded_and_preprocessed_for_the_model() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 100, 50)).save(buffer, "JPEG")
    infer = _infer(0.9)
    result = recognize_photo(buffer.getvalue(), infer, _metadata())
    fed = infer.seen["image"]
    assert fed.shape == (1, 224, 224, 3) and fed.dtype == np.uint8
    assert abs(int(fed[0, 100, 100, 0]) - 200) < 5
    assert result.foods[0].name == "pizza"


def test_bad_photo_raises_the_decode_error() -> None:
    with pytest.raises(EmptyImageError):
        recognize_photo(b"", _infer(0.9), _metadata())


def test_wrong_input_shape_is_refused_before_the_model_runs() -> None:
    with pytest.raises(RecognizerInputError, match="uint8"):
        recognize_batch(np.zeros((1, 100, 100, 3), np.uint8), _infer(0.9), _metadata())


def test_wrong_output_shapes_are_named() -> None:
    def infer(feeds: dict[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]:
        outputs = _infer(0.9)(feeds)
        outputs["probabilities"] = np.zeros((1, 5), np.float32)  # metadata has 2 labels
        return outputs

    with pytest.raises(RecognizerOutputError, match="probabilities"):
        recognize_batch(np.zeros((1, 224, 224, 3), np.uint8), infer, _metadata())


def test_missing_output_is_named() -> None:
    def infer(feeds: dict[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]:
        outputs = _infer(0.9)(feeds)
        del outputs["kcal"]
        return outputs

    with pytest.raises(RecognizerOutputError, match="kcal"):
        recognize_batch(np.zeros((1, 224, 224, 3), np.uint8), infer, _metadata())


def _photo(color: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def _fields(results: list[Recognition]) -> list[tuple[object, ...]]:
    return [
        (r.foods, r.settings, r.is_food, r.food_probability, r.carbs_g, r.kcal, r.embedding.tolist())
        for r in results
    ]


def test_recognizer_predicts_photos_as_the_served_steps_do() -> None:
    infer = _infer(0.9)
    recognizer = Recognizer(_metadata(), infer, top_k=1)
    photos: list[Image.Image | bytes] = [_photo((200, 40, 40)), Image.new("RGB", (300, 500), (10, 120, 30))]
    results = recognizer.predict(photos)
    images = np.asarray(infer.seen["image"], np.uint8)
    assert images.shape == (2, 224, 224, 3)
    assert np.array_equal(images[0], recognizer.preprocess(photos[0]))
    assert not np.array_equal(images[0], images[1])  # each photo its own pixels
    # The server runs the model itself (micro-batcher) and hands the outputs to `read`.
    assert _fields(recognizer.read(images, _infer(0.9)({"image": images}))) == _fields(results)
    assert _fields(recognize_batch(images, _infer(0.9), _metadata(), top_k=1)) == _fields(results)
    assert [len(r.foods) for r in results] == [1, 1] and recognizer.version == "1"
    assert recognizer.predict([]) == []


def test_recognizer_reads_its_metadata_props_and_checks_outputs() -> None:
    recognizer = Recognizer(_metadata().to_props(), _infer(0.9))
    assert recognizer.metadata == _metadata()
    images = np.zeros((1, 224, 224, 3), np.uint8)
    with pytest.raises(RecognizerOutputError, match="carbs_g"):
        recognizer.read(images, {**_infer(0.9)({"image": images}), "carbs_g": np.zeros((1, 2), np.float32)})
    with pytest.raises(RecognizerInputError):
        recognizer.read(np.zeros((1, 100, 100, 3), np.uint8), _infer(0.9)({"image": images}))


def test_session_infer_names_every_output() -> None:
    class _Out:
        def __init__(self, name: str) -> None:
            self.name = name

    class _Session:
        def get_outputs(self) -> list[_Out]:
            return [_Out("a"), _Out("b")]

        def run(self, names: list[str] | None, feeds: dict[str, npt.NDArray[np.generic]]) -> list[object]:
            assert names == ["a", "b"]
            return [feeds["x"] + 1, feeds["x"] * 2]

    out = session_infer(_Session())({"x": np.array([3])})
    assert out["a"].tolist() == [4] and out["b"].tolist() == [6]
