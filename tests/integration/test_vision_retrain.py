"""A real (tiny) retraining: D1NAMO photos -> linear head -> a new version that serving loads unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from training.d1namo_labels import read_d1namo_photos
from training.vision_retrain import retrain
from training.vision_train import VisionTrainConfig
from vision.metadata import parse_metadata

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def retrained(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not (REPO_MODELS / "food_recognizer" / "1" / "model.onnx").is_file():
        pytest.skip("the shipped recognizer (models/food_recognizer/1) is not exported")
    root = tmp_path_factory.mktemp("retrain")
    photos = [p for p in read_d1namo_photos(shared_data / "d1namo") if p.label in ("yogurt", "potatoes")]
    rows = ["path,label,split"]
    for label in ("yogurt", "potatoes"):
        mine = [p for p in photos if p.label == label][:4]
        rows += [
            f"{p.path.resolve()},{label},{s}"
            for p, s in zip(mine, ("train", "train", "val", "test"), strict=True)
        ]
    (root / "photos.csv").write_text("\n".join(rows) + "\n")
    (root / "nutrition.csv").write_text(
        "label,category,carbs_g_per_serving,kcal_per_serving\nyogurt,dairy,18,150\npotatoes,vegetables_salads,40,250\n"
    )
    config = VisionTrainConfig(mode="linear", epochs=5, seed=0)
    result = retrain(
        root / "photos.csv", root / "nutrition.csv", config, REPO_MODELS, root / "models", root / "runs"
    )
    assert result.version == 2  # one more than the shipped version
    return result.model_path, root


def test_the_new_version_keeps_the_onnx_contract_with_new_labels(retrained: tuple[Path, Path]) -> None:
    model_path, _ = retrained
    props = {p.key: p.value for p in onnx.load(str(model_path), load_external_data=False).metadata_props}
    metadata = parse_metadata(props)
    assert [label.name for label in metadata.labels] == ["potatoes", "yogurt"]
    assert metadata.version == "2" and json.loads(props["nutrition"])[1]["carbs_g_per_100g"] == 18.0


def test_serving_loads_the_new_version_without_code_changes(
    retrained: tuple[Path, Path], shared_data: Path
) -> None:
    from mealimpact.model_repository.loading import load_model
    from vision.recognition import preprocess_photo

    _, root = retrained
    model, session = load_model(root / "models" / "food_recognizer")
    assert model.version == 2
    photo = next((shared_data / "d1namo" / "001" / "food_pictures").glob("*.jpg"))
    metadata = parse_metadata(model.metadata)
    outputs = dict(
        zip(
            [o.name for o in session.get_outputs()],
            session.run(None, {"image": preprocess_photo(photo.read_bytes(), metadata.preprocess)[None]}),
            strict=True,
        )
    )
    assert outputs["probabilities"].shape == (1, 2) and np.isclose(
        outputs["probabilities"].sum(), 1.0, atol=1e-5
    )
    low, median, high = outputs["carbs_g"][0]
    assert low <= median <= high and 5.0 < median < 80.0  # a mixture of 18 g and 40 g servings
    assert np.isclose(np.linalg.norm(outputs["embedding"][0]), 1.0, atol=1e-4)


def test_the_report_is_written_beside_the_model(retrained: tuple[Path, Path]) -> None:
    model_path, _ = retrained
    report = json.loads((model_path.parent / "report" / "report.json").read_text())
    assert report["model_version"] == "2" and report["photos"] == 2
    assert 0.0 <= report["top1_accuracy"] <= 1.0 and report["top5_accuracy"] == 1.0  # 2 classes: top-2 is all
    assert (model_path.parent / "report" / "confusion_matrix.png").stat().st_size > 1000
