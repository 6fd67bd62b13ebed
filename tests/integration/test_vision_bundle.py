"""The mobile bundle over a small image model: every file loads in ONNX Runtime and matches fp32; a\nrejected int8 model stays out and the bundle says why."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from training import mobile_bundle
from training.mobile_bundle import build_mobile_bundle
from training.mobile_readme import write_readme
from training.vision_quantize import RealPhotos
from vision.preprocess import PreprocessSpec

CROP_PX = 32


class _TinyRecognizer(nn.Module):
    """The recognizer's contract in miniature: uint8 NHWC image -> probabilities, carbs_g, embedding."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU6()
        )
        self.fc = nn.Linear(16, 4)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = image.permute(0, 3, 1, 2).float() / 255.0 - 0.5  # (N, 3, H, W)
        features = self.body(x).mean(dim=(2, 3))  # (N, 16)
        probabilities = torch.softmax(self.fc(features), dim=1)  # (N, 4)
        carbs_g = probabilities @ torch.tensor(
            [[10.0, 20.0, 30.0], [40.0, 50.0, 60.0], [5.0, 8.0, 12.0], [1.0, 2.0, 3.0]]
        )
        return probabilities, carbs_g, features / features.norm(dim=1, keepdim=True)


def _model_repository(root: Path) -> Path:
    model_dir = root / "models" / "tiny_recognizer"
    (model_dir / "1").mkdir(parents=True)
    names = ["probabilities", "carbs_g", "embedding"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _TinyRecognizer().eval(),
            (torch.zeros(2, CROP_PX, CROP_PX, 3, dtype=torch.uint8),),
            str(model_dir / "1" / "model.onnx"),
            input_names=["image"],
            output_names=names,
            dynamic_axes={n: {0: "batch"} for n in ["image", *names]},
            opset_version=18,
            dynamo=False,
        )
    import onnx

    proto = onnx.load(str(model_dir / "1" / "model.onnx"))
    preprocess = json.dumps(asdict(PreprocessSpec(resize_short_side_px=36, crop_px=CROP_PX)))
    onnx.helper.set_model_props(
        proto, {"version": '"1"', "labels": '["a", "b", "c", "d"]', "preprocess": preprocess}
    )
    onnx.save(proto, str(model_dir / "1" / "model.onnx"))
    (model_dir / "config.pbtxt").write_text('name: "tiny_recognizer"\n')
    return root / "models"


def _photos(n: int, other_decoding: str = "inverted") -> RealPhotos:
    # Smooth random images: like photos, neighbouring pixels are correlated. Two people, alternating.
    # other_decoding: "inverted" (the fp32 model's answers all move: a low noise floor) or "same" (none move).
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, size=(n, 4, 4, 3)).astype(np.float32)
    images = np.repeat(np.repeat(small, CROP_PX // 4, axis=1), CROP_PX // 4, axis=2).astype(np.uint8)
    people = tuple("ab"[i % 2] for i in range(n))
    other = 255 - images if other_decoding == "inverted" else images.copy()
    return RealPhotos(
        images=images, people=people, calibration=images, calibration_people=people, other_decoding=other
    )


def _ort_op_types(path: Path) -> set[str]:
    from onnxruntime.tools.ort_format_model.ort_flatbuffers_py.fbs.InferenceSession import InferenceSession

    graph = InferenceSession.GetRootAsInferenceSession(path.read_bytes(), 0).Model().Graph()
    return {graph.Nodes(i).OpType().decode() for i in range(graph.NodesLength())}


def _contract_of(source: Path | dict) -> dict[str, list[object]]:
    """tensor name -> [dtype, shape]: of a model file as ONNX Runtime opens it, or as metadata.json says."""
    if isinstance(source, dict):
        tensors = {**source["graph_inputs"], **source["graph_outputs"]}
        return {name: [t["dtype"], t["shape"]] for name, t in tensors.items()}
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    dtypes = {"tensor(uint8)": "uint8", "tensor(float)": "float32"}
    return {t.name: [dtypes[t.type], t.shape] for t in [*session.get_inputs(), *session.get_outputs()]}


def _outputs(path: Path, images: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": images})


def test_an_accepted_int8_model_ships_and_every_file_matches_fp32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        mobile_bundle, "INT8_TOP1_AGREEMENT_MIN", 0.0
    )  # the tiny model's agreement is not the point
    # Exact intervals only: no photo keeps one, fp32 on the inverted "other decoding" included (floor 0 %).
    monkeypatch.setattr(mobile_bundle, "INT8_CARBS_TOLERANCE", 0.0)
    monkeypatch.setattr(mobile_bundle, "INT8_QAT_STEPS", 2)  # the recipe runs end to end; fewer steps
    models = _model_repository(tmp_path)
    photos = _photos(16)
    (bundle,) = build_mobile_bundle(models, tmp_path / "bundle", photos)
    folder = tmp_path / "bundle" / "tiny_recognizer"
    assert {p.name for p in folder.iterdir()} == {
        "model.fp32.onnx",
        "model.fp32.ort",
        "model.int8.ort",
        "metadata.json",
    }
    assert bundle.ship == "model.int8.ort" and bundle.int8 is not None and bundle.int8_problems == ()
    assert bundle.int8.people == 2 and bundle.int8.calibration_views == 16
    assert bundle.int8.size_bytes == (folder / "model.int8.ort").stat().st_size  # the file a phone downloads
    assert bundle.int8.distillation_views == 16
    assert bundle.int8.fp32_cross_decoder_carbs_interval_share == 0.0
    assert bundle.int8.fp32_cross_decoder_carbs_change_median > 0.0  # the inverted images move fp32's carbs
    assert not np.isnan(bundle.int8.held_out_other_decoder_carbs_interval_share)
    # The phone file is fused for the CPU kernels (Fixed style) and has no all-zero weight zero points.
    ops = _ort_op_types(folder / "model.int8.ort")
    assert "QLinearConv" in ops and "Conv" not in ops, ops

    want = _outputs(folder / "model.fp32.onnx", photos.images[:1])
    for name, tolerance in (("model.fp32.ort", 1e-6), ("model.int8.ort", 0.05)):
        got = _outputs(folder / name, photos.images[:1])
        assert np.allclose(got[0], want[0], atol=tolerance), name
        assert np.abs(got[1] - want[1]).max() <= tolerance * 60, name
    batch1 = ort.InferenceSession(str(folder / "model.fp32.ort"), providers=["CPUExecutionProvider"])
    assert batch1.get_inputs()[0].shape == [1, CROP_PX, CROP_PX, 3]

    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["labels"] == ["a", "b", "c", "d"]
    # the contract of the .ort files (batch 1), and the reference ONNX's own (any batch) named apart
    assert metadata["graph_inputs"]["image"] == {"dtype": "uint8", "shape": [1, CROP_PX, CROP_PX, 3]}
    assert metadata["graph_files"] == ["model.fp32.ort", "model.int8.ort"]
    (reference,) = metadata["other_graphs"]
    assert reference["files"] == ["model.fp32.onnx"]
    assert reference["graph_inputs"]["image"]["shape"] == ["batch", CROP_PX, CROP_PX, 3]
    for name in metadata["graph_files"]:
        assert _contract_of(folder / name) == _contract_of(metadata), name
    assert _contract_of(folder / "model.fp32.onnx") == _contract_of(reference)
    assert "mean" not in metadata["preprocess"] and "std" not in metadata["preprocess"]
    assert "inside the graph" in metadata["preprocess"]["normalisation"]

    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["models"][0]["ship"] == "model.int8.ort" and manifest["cgm_grid"]["step_min"] == 5
    rules = manifest["models"][0]["int8_rules"]
    assert rules["strict_carbs_interval_share"] == 0.95 and rules["strict_carbs_bar_met"] is False
    assert rules["fine_tuning"]["steps"] == 2
    assert rules["fine_tuning"]["schedule"] == mobile_bundle.INT8_QAT_SCHEDULE
    for entry in manifest["models"][0]["files"]:
        data = (tmp_path / "bundle" / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size_bytes"]
    assert (tmp_path / "bundle" / "SHA256SUMS").read_text().count("\n") == len(manifest["models"][0]["files"])

    readme = write_readme([bundle], tmp_path / "bundle", ["golden.json"]).read_text()
    assert "`tiny_recognizer/model.int8.ort`" in readme and "Normalisation is inside the graph" in readme
    assert "fp32 vs fp32, another JPEG decoder" in readme and "The earlier bar, 95% of photos" in readme


def test_an_int8_model_that_disagrees_is_left_out_and_the_bundle_says_by_how_much(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mobile_bundle, "INT8_CARBS_TOLERANCE", 0.0)  # no int8 model is that exact
    monkeypatch.setattr(mobile_bundle, "INT8_QAT_STEPS", 2)
    models = _model_repository(tmp_path)
    # The "other decoding" is the same pixels: fp32 keeps every interval exactly, a floor int8 cannot reach.
    (bundle,) = build_mobile_bundle(models, tmp_path / "bundle", _photos(16, other_decoding="same"))
    assert not (tmp_path / "bundle" / "tiny_recognizer" / "model.int8.ort").exists()
    assert bundle.ship == "model.fp32.ort"
    assert bundle.int8 is not None and bundle.int8.fp32_cross_decoder_carbs_interval_share == 1.0
    assert any("carbohydrate interval" in p and "two decoders" in p for p in bundle.int8_problems)
    readme = write_readme([bundle], tmp_path / "bundle", []).read_text()
    assert "The int8 file is not in this bundle" in readme and "`tiny_recognizer/model.fp32.ort`" in readme


def test_the_export_runs_fp32_once_per_decoding_and_judges_this_cpu_on_the_phone_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fp32's answers on the photos are computed once and passed along (held-out, in-sample, phone file,
    noise floor); no int8 model but the phone file is run with this CPU's fused kernels."""
    monkeypatch.setattr(mobile_bundle, "INT8_QAT_STEPS", 2)
    monkeypatch.setattr(mobile_bundle, "INT8_TOP1_AGREEMENT_MIN", 0.0)
    # a tolerance this tiny model's quantiles straddle (some photos keep their interval, some do not)
    monkeypatch.setattr(mobile_bundle, "INT8_CARBS_TOLERANCE", 0.0005)
    calls: list[tuple[str, bytes, bool]] = []
    run = mobile_bundle._run

    def counted(path: Path, images: np.ndarray, *, reference: bool) -> list[np.ndarray]:
        calls.append((Path(path).name, hashlib.sha256(images.tobytes()).digest(), reference))
        return run(path, images, reference=reference)

    monkeypatch.setattr(mobile_bundle, "_run", counted)
    photos = _photos(16)
    (bundle,) = build_mobile_bundle(_model_repository(tmp_path), tmp_path / "bundle", photos)
    assert photos.other_decoding is not None
    served, other = (hashlib.sha256(a.tobytes()).digest() for a in (photos.images, photos.other_decoding))
    fp32 = [(digest, reference) for name, digest, reference in calls if name == "model.fp32.onnx"]
    assert sorted(fp32) == sorted([(served, False), (other, False)])
    fused = {name for name, _, reference in calls if not reference and name != "model.fp32.onnx"}
    assert fused == {"model.int8.ort"}
    # this CPU's figures are the shipped file's, as phone_file_agreement finds them with fp32 run afresh
    assert bundle.ship == "model.int8.ort" and bundle.int8 is not None
    folder = tmp_path / "bundle" / "tiny_recognizer"
    phone = mobile_bundle.phone_file_agreement(
        folder / "model.fp32.onnx", folder / "model.int8.ort", photos.images
    )
    assert bundle.int8.this_cpu_top1_agreement == phone.top1
    assert bundle.int8.this_cpu_carbs_interval_share == phone.interval


def test_metadata_describes_each_file_as_onnx_runtime_opens_it(tmp_path: Path) -> None:
    """Without int8 (--no-int8): the recognizer's .ort file is batch 1 and model.fp32.onnx is not, and
    metadata.json says which is which; a model without an image keeps one contract for both files."""
    models = _model_repository(tmp_path)
    series = models / "tiny_series"
    (series / "1").mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            nn.Linear(6, 2).eval(),
            (torch.zeros(2, 6),),
            str(series / "1" / "model.onnx"),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            opset_version=18,
            dynamo=False,
        )
    (series / "config.pbtxt").write_text('name: "tiny_series"\n')
    bundles = build_mobile_bundle(models, tmp_path / "bundle", None)

    folder = tmp_path / "bundle" / "tiny_recognizer"
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["graph_files"] == ["model.fp32.ort"]
    assert _contract_of(folder / "model.fp32.ort") == _contract_of(metadata)
    assert _contract_of(metadata)["image"] == ["uint8", [1, CROP_PX, CROP_PX, 3]]
    (reference,) = metadata["other_graphs"]
    assert reference["files"] == ["model.fp32.onnx"]
    assert _contract_of(folder / "model.fp32.onnx") == _contract_of(reference)
    assert _contract_of(reference)["image"] == ["uint8", ["batch", CROP_PX, CROP_PX, 3]]

    series_metadata = json.loads((tmp_path / "bundle" / "tiny_series" / "metadata.json").read_text())
    assert series_metadata["graph_files"] == ["model.fp32.onnx", "model.fp32.ort"]
    assert "other_graphs" not in series_metadata
    assert _contract_of(series_metadata)["x"] == ["float32", ["batch", 6]]

    readme = write_readme(bundles, tmp_path / "bundle", []).read_text()
    assert "`model.fp32.ort`:\n\n| tensor | dtype | shape |" in readme
    assert f"| in: `image` | uint8 | [1, {CROP_PX}, {CROP_PX}, 3] |" in readme
    assert f"| in: `image` | uint8 | ['batch', {CROP_PX}, {CROP_PX}, 3] |" in readme


@pytest.mark.data
def test_a_built_bundles_int8_figures_reproduce_from_its_own_files(shared_data: Path) -> None:
    """On a bundle `mealimpact export mobile` wrote (MEALIMPACT_BUNDLE): the file to ship and the int8 figures
    of manifest.json follow from the bundle's own files and the D1NAMO photos (one photo of slack for
    another CPU's int8 kernels)."""
    import os

    from training.mobile_bundle import Int8Agreement, decoder_noise_floor, phone_file_agreement
    from training.vision_quantize import full_decode
    from vision.recognition import preprocess_photo

    root = os.environ.get("MEALIMPACT_BUNDLE")
    if not root:
        pytest.skip("MEALIMPACT_BUNDLE not set (a folder written by `mealimpact export mobile --out DIR`)")
    manifest = json.loads((Path(root) / "manifest.json").read_text())
    entry = next((m for m in manifest["models"] if m["int8"] is not None), None)
    if entry is None:
        pytest.skip("the bundle was written with --no-int8")
    folder, int8 = Path(root) / entry["name"], entry["int8"]
    assert entry["ship"] == ("model.fp32.ort" if entry["int8_problems"] else "model.int8.ort")
    # the decision follows from the manifest's figures by today's rule (held-out and the shipped file in-sample)
    assert entry["int8_problems"] == Int8Agreement(**int8).failures()
    paths = sorted((shared_data / "d1namo").glob("*/food_pictures/*.jpg"))
    assert len(paths) == int8["photos"]
    spec = PreprocessSpec()
    served = np.stack([preprocess_photo(p.read_bytes(), spec) for p in paths])
    floor = decoder_noise_floor(
        folder / "model.fp32.onnx", served, np.stack([full_decode(p.read_bytes(), spec) for p in paths])
    )
    assert floor.interval == int8["fp32_cross_decoder_carbs_interval_share"]  # fp32: no int8 kernel involved
    assert np.isclose(floor.change_median, int8["fp32_cross_decoder_carbs_change_median"], rtol=1e-4)
    if entry["ship"] == "model.int8.ort":
        phone = phone_file_agreement(folder / "model.fp32.onnx", folder / "model.int8.ort", served)
        slack = 1 / len(paths) + 1e-9
        assert abs(phone.top1 - int8["this_cpu_top1_agreement"]) <= slack
        assert abs(phone.interval - int8["this_cpu_carbs_interval_share"]) <= slack
        assert (
            (folder / "model.int8.ort").stat().st_size
            == int8["size_bytes"]
            <= entry["int8_rules"]["max_bytes"]
        )
