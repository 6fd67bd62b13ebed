"""The int8 acceptance rule and the checksum manifest of the mobile bundle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from training.mobile_bundle import (
    INT8_CARBS_SHARE_MIN,
    INT8_MAX_BYTES,
    INT8_TOP1_AGREEMENT_MIN,
    BundledFile,
    Int8Agreement,
    ModelBundle,
    write_manifest,
)


def _agreement(top1: float, carbs: float, size_bytes: int = 4_000_000) -> Int8Agreement:
    return Int8Agreement(48, 4, 336, top1, carbs, 1.0, 1.0, 1.0, 1.0, size_bytes)


def test_int8_passes_only_at_or_above_both_thresholds_on_held_out_people_and_within_size() -> None:
    assert _agreement(INT8_TOP1_AGREEMENT_MIN, INT8_CARBS_SHARE_MIN).failures() == []
    (top1,) = _agreement(0.90, 1.0).failures()
    assert "held-out people's photos 90.0% < 97%" in top1 and "short by 7.0%" in top1
    (carbs,) = _agreement(1.0, 0.80).failures()
    assert "80.0% of held-out photos < 95%" in carbs and "short by 15.0%" in carbs
    (size,) = _agreement(1.0, 1.0, INT8_MAX_BYTES + 1).failures()
    assert "MB >" in size
    assert len(_agreement(float("nan"), 0.5).failures()) == 2  # no held-out photos is a failure, not a pass


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
