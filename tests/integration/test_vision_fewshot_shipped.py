"""Personal classes on the shipped recognizer: embeddings of real photos in, merged recognitions out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from training.d1namo_labels import read_d1namo_photos
from vision.fewshot import (
    FEWSHOT_THRESHOLD,
    apply_personal_classes,
    make_personal_class,
    parse_personal_classes,
)
from vision.metadata import parse_metadata
from vision.recognition import preprocess_photo, recognize_batch

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "food_recognizer" / "1" / "model.onnx"


@pytest.fixture(scope="module")
def yogurt_and_others(shared_data: Path) -> tuple[list, np.ndarray]:
    if not SHIPPED.is_file():
        pytest.skip("the shipped recognizer is not exported")
    session = ort.InferenceSession(str(SHIPPED), providers=["CPUExecutionProvider"])
    metadata = parse_metadata(session.get_modelmeta().custom_metadata_map)
    photos = read_d1namo_photos(shared_data / "d1namo")
    chosen = [p for p in photos if p.label == "yogurt"][:4] + [p for p in photos if p.label == "potatoes"][:2]
    images = np.stack([preprocess_photo(p.path.read_bytes(), metadata.preprocess) for p in chosen])

    def infer(feeds: dict) -> dict:
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, feeds), strict=True))

    return recognize_batch(images, infer, metadata), images


def test_a_dish_taught_from_a_photo_is_recognised_on_that_photo(
    yogurt_and_others: tuple[list, np.ndarray],
) -> None:
    results, _ = yogurt_and_others
    shots = np.stack([r.embedding for r in results[:3]])  # (3, 1280): three yogurt cups
    yogurt = make_personal_class("my lemon yogurt", shots, (15.0, 20.0, 25.0), kcal=180.0, category="dairy")
    for taught in results[:3]:
        # Each shot is a third of the prototype: it is always well above the threshold.
        assert float(taught.embedding @ yogurt.prototype) > FEWSHOT_THRESHOLD
        merged = apply_personal_classes(taught, taught.embedding, [yogurt])
        assert merged.foods[0].name == "my lemon yogurt" and merged.foods[0].category == "dairy"
        assert merged.carbs_g.low <= merged.carbs_g.estimate <= merged.carbs_g.high
        assert abs(merged.carbs_g.estimate - 20.0) < abs(taught.carbs_g.estimate - 20.0) + 1e-6
    # A potato plate is not a yogurt cup: the model's own answer stands.
    for potatoes in results[4:]:
        similarity = float(potatoes.embedding @ yogurt.prototype)
        merged = apply_personal_classes(potatoes, potatoes.embedding, [yogurt])
        assert (merged.foods[0].name == "my lemon yogurt") == (similarity > FEWSHOT_THRESHOLD)


def test_the_request_shape_round_trips_through_the_parser(yogurt_and_others: tuple[list, np.ndarray]) -> None:
    results, _ = yogurt_and_others
    raw = [
        {
            "name": "my lemon yogurt",
            "prototype": np.mean([r.embedding for r in results[:3]], axis=0).tolist(),
            "carbs_g": [15, 20, 25],
            "kcal": 180,
            "shots": 3,
            "category": "dairy",
        }
    ]
    (parsed,) = parse_personal_classes(raw, embedding_dim=results[0].embedding.shape[0])
    direct = make_personal_class(
        "my lemon yogurt", np.stack([r.embedding for r in results[:3]]), (15, 20, 25)
    )
    assert np.allclose(parsed.prototype, direct.prototype, atol=1e-6)
    held_out = results[3]  # the fourth yogurt photo, not among the shots
    merged = apply_personal_classes(held_out, held_out.embedding, [parsed])
    expected_top = float(held_out.embedding @ parsed.prototype) > FEWSHOT_THRESHOLD
    assert (merged.foods[0].name == "my lemon yogurt") == expected_top
