"""The int8 acceptance rule and the checksum manifest of the mobile bundle."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from training.mobile_bundle import (
    INT8_CARBS_STRICT_SHARE,
    INT8_MAX_BYTES,
    INT8_TOP1_AGREEMENT_MIN,
    BundledFile,
    Int8Agreement,
    ModelBundle,
    PhotoAgreement,
    write_manifest,
)


def _agreement(top1: float, carbs: float, size_bytes: int = 4_000_000, floor: float = 0.5) -> Int8Agreement:
    return Int8Agreement(
        48, 4, 336, top1, carbs, 1.0, 1.0, 1.0, 1.0, size_bytes, fp32_cross_decoder_carbs_interval_share=floor
    )


def test_int8_passes_only_at_or_above_top1_and_the_fp32_noise_floor_on_held_out_people_and_within_size() -> (
    None
):
    assert _agreement(INT8_TOP1_AGREEMENT_MIN, 0.5, floor=0.5).failures() == []
    (top1,) = _agreement(0.90, 1.0).failures()
    assert "held-out people's photos 90.0% < 97%" in top1 and "short by 7.0%" in top1
    (carbs,) = _agreement(1.0, 0.40, floor=0.55).failures()
    assert (
        "40.0% of held-out photos < 55.0%" in carbs and "two decoders" in carbs and "short by 15.0%" in carbs
    )
    (size,) = _agreement(1.0, 1.0, INT8_MAX_BYTES + 1).failures()
    assert "MB >" in size
    assert len(_agreement(float("nan"), float("nan")).failures()) == 2  # no held-out photos fails, not passes
    (unmeasured,) = _agreement(1.0, 1.0, floor=float("nan")).failures()  # no floor: not judged, not passed
    assert "not measured" in unmeasured


def test_the_shipped_file_itself_must_agree_in_sample_as_well_as_the_held_out_recipe() -> None:
    # the figures of the 2026-12-03 bundle: held-out 100 % / 58.3 %, the shipped file 95.8 % / 62.5 %
    shipped = replace(
        _agreement(1.0, 0.583, floor=0.479),
        in_sample_top1_agreement=46 / 48,
        in_sample_carbs_interval_share=0.625,
    )
    (top1,) = shipped.failures()
    assert "shipped file's own top-1 agreement" in top1 and "95.8% < 97%" in top1 and "short by 1.2%" in top1
    carbs_low = replace(_agreement(1.0, 0.583, floor=0.479), in_sample_carbs_interval_share=0.4)
    (carbs,) = carbs_low.failures()
    assert "shipped file's own carbohydrate interval" in carbs and "40.0% of photos < 47.9%" in carbs
    at_the_bars = replace(
        _agreement(1.0, 0.583, floor=0.479),
        in_sample_top1_agreement=INT8_TOP1_AGREEMENT_MIN,
        in_sample_carbs_interval_share=0.479,
    )
    assert at_the_bars.failures() == []
    assert len(replace(_agreement(1.0, 1.0), in_sample_top1_agreement=float("nan")).failures()) == 1


def test_the_strict_carbohydrate_bar_is_reported_not_gated() -> None:
    below = _agreement(1.0, 0.583, floor=0.479)
    assert below.failures() == [] and not below.strict_carbs_bar_met
    assert _agreement(1.0, INT8_CARBS_STRICT_SHARE).strict_carbs_bar_met


def test_photo_agreement_counts_a_quantile_moved_past_5_percent_of_the_median() -> None:
    probabilities = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]], np.float32)
    carbs = np.array([[40.0, 50.0, 60.0], [10.0, 20.0, 30.0], [5.0, 8.0, 12.0]], np.float32)
    other_carbs = carbs + np.array([[2.4, 0.0, -2.4], [0.0, 1.1, 0.0], [0.0, 0.0, 0.0]], np.float32)
    other_probabilities = probabilities[[0, 1, 2]][:, ::-1].copy()  # every top class flipped
    other_probabilities[0] = probabilities[0]
    got = PhotoAgreement.of([probabilities, carbs], [other_probabilities, other_carbs])
    assert got.same_top1.tolist() == [True, False, False]
    # photo 0: 2.4 of a 50 g median = 4.8 % (kept); photo 1: 1.1 of 20 g = 5.5 % (moved); photo 2: unchanged
    assert got.same_interval.tolist() == [True, False, True]
    assert np.allclose(got.carbs_change, [0.048, 0.055, 0.0], atol=1e-6)
    assert got.interval == 2 / 3 and np.isclose(got.change_median, 0.048, atol=1e-6)


def test_manifest_lists_every_file_with_its_hash(tmp_path: Path) -> None:
    data = b"onnx bytes"
    entry = BundledFile("m/model.fp32.onnx", len(data), hashlib.sha256(data).hexdigest())
    write_manifest([ModelBundle("m", 3, (entry,), None)], tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert (
        manifest["models"][0]["version"] == 3 and manifest["models"][0]["files"][0]["sha256"] == entry.sha256
    )
    assert (tmp_path / "SHA256SUMS").read_text() == f"{entry.sha256}  m/model.fp32.onnx\n"
    assert manifest["models"][0]["ship"] == "model.fp32.ort"  # no int8 file: the fp32 ORT file ships


def test_manifest_names_the_in_sample_figures_among_the_gated_ones(tmp_path: Path) -> None:
    bundle = ModelBundle("food_recognizer", 1, (), _agreement(1.0, 0.6), ("why",))
    rules = json.loads(write_manifest([bundle], tmp_path).read_text())["models"][0]["int8_rules"]
    assert "in_sample_top1_agreement >= top1_agreement_min" in rules["gated_figures"]
    assert "in_sample_carbs_interval_share >= carbs_interval_share_min" in rules["gated_figures"]


@pytest.mark.data
def test_the_fp32_recognizer_moves_its_own_carbohydrates_between_two_jpeg_decoders(shared_data: Path) -> None:
    from training.mobile_bundle import INT8_CARBS_TOLERANCE, decoder_noise_floor, latest_version
    from training.vision_quantize import full_decode
    from vision.preprocess import PreprocessSpec
    from vision.recognition import preprocess_photo

    _, model = latest_version(Path(__file__).resolve().parents[2] / "models" / "food_recognizer")
    paths = sorted((shared_data / "d1namo").glob("*/food_pictures/*.jpg"))[::4][:12]
    assert len(paths) == 12
    spec = PreprocessSpec()
    served = np.stack([preprocess_photo(p.read_bytes(), spec) for p in paths])
    whole = np.stack([full_decode(p.read_bytes(), spec) for p in paths])
    floor = decoder_noise_floor(model, served, whole)
    # The same model, two correct decodings: the class mostly stays, the 5 % interval often does not.
    assert floor.top1 >= 0.75 and floor.interval < 1.0, (floor.top1, floor.interval)
    assert floor.carbs_change.max() > INT8_CARBS_TOLERANCE
    same = decoder_noise_floor(model, served[:3], served[:3].copy())  # one decoding twice: nothing moves
    assert same.interval == 1.0 and same.change_median == 0.0
