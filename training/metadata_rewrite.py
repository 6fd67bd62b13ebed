"""Rewrite every model of a repository to the one metadata schema and config.pbtxt writer, weights untouched.

Re-runnable: a file already at the schema is left byte for byte. For every file it changes it proves
the weights unchanged: everything but `metadata_props` (graph with its initializers, opsets, IR
version) serialises to the same bytes before and after, and ONNX Runtime gives bit-identical outputs
on a fixed input. Only then is the file replaced.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from mealimpact.model_repository.config import parse_model_config, write_model_config
from mealimpact.model_repository.layout import CONFIG_FILE, model_dirs, model_path, versions
from mealimpact.model_repository.metadata import RENAMED_KEYS, RecognizerMetadata, upgraded_props
from mealimpact.model_repository.sessions import open_session
from training.forecast_train import MODEL_NAME as FORECAST
from training.glucose_export import MODEL_NAME as RESPONSE
from vision.metadata import MODEL_NAME as RECOGNIZER
from vision.preprocess import PreprocessSpec

# The kind of each model the project ships, for files written before they named their kind.
KIND_OF_MODEL = {RECOGNIZER: "recognizer", RESPONSE: "response", FORECAST: "forecast"}
_ORT_TO_NUMPY = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int64)": np.int64}


class WeightsChangedError(RuntimeError):
    """The rewritten file would differ in more than its metadata; nothing was written."""


@dataclass(frozen=True)
class Rewrite:
    """What the rewrite did to one model file."""

    path: Path
    changed: bool
    renamed: tuple[str, ...]  # "old -> new"
    added: tuple[str, ...]
    rewritten: tuple[str, ...]  # keys whose value changed (the recognizer's preprocess)
    unchanged_sha256: str  # sha256 of everything but the metadata: the same before and after
    output_values: int  # values compared bit for bit on the fixed input (0 when nothing changed)


def schema_props(props: Mapping[str, str], kind: str) -> dict[str, str]:
    """`props` in the schema: keys renamed, schema and kind added, the recognizer's mean/std dropped."""
    props = dict(props)
    if kind == RecognizerMetadata.kind and "preprocess" in props:
        # Read as the spec (which refuses a mean/std other than the graph's) and written without them.
        props["preprocess"] = PreprocessSpec.from_json(props["preprocess"]).to_json()
    return upgraded_props(props, kind)


def _without_metadata(model: onnx.ModelProto) -> bytes:
    stripped = onnx.ModelProto()
    stripped.CopyFrom(model)
    del stripped.metadata_props[:]
    return stripped.SerializeToString(deterministic=True)


def fixed_feed(model_bytes: bytes) -> dict[str, npt.NDArray[Any]]:
    """One input per graph input, seeded: variable axes 2, floats normal, integers 0, pixels uniform."""
    rng = np.random.default_rng(17)
    feed = {}
    for arg in open_session(model_bytes, threads=1).get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 2 for d in arg.shape]
        dtype = _ORT_TO_NUMPY[arg.type]
        if dtype is np.uint8:
            feed[arg.name] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        elif dtype is np.int64:
            feed[arg.name] = np.zeros(shape, dtype=np.int64)
        else:
            feed[arg.name] = rng.normal(0.0, 1.0, size=shape).astype(np.float32)
    return feed


def _outputs(model_bytes: bytes, feed: Mapping[str, npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
    return list(open_session(model_bytes, threads=1).run(None, dict(feed)))


def rewrite_model(path: Path, kind: str) -> Rewrite:
    """Rewrite one file's metadata to the schema in place, after proving its weights and outputs unchanged."""
    model = onnx.load(str(path))
    before = {p.key: p.value for p in model.metadata_props}
    after = schema_props(before, kind)
    unchanged = hashlib.sha256(_without_metadata(model)).hexdigest()
    if list(after.items()) == list(before.items()):
        return Rewrite(path, False, (), (), (), unchanged, 0)
    old_bytes = model.SerializeToString()
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, after)
    new_bytes = model.SerializeToString()
    if hashlib.sha256(_without_metadata(model)).hexdigest() != unchanged:
        raise WeightsChangedError(f"{path}: the rewrite changed more than metadata_props; not written")
    feed = fixed_feed(old_bytes)
    want, got = _outputs(old_bytes, feed), _outputs(new_bytes, feed)
    same = len(want) == len(got) and all(
        w.dtype == g.dtype and w.shape == g.shape and w.tobytes() == g.tobytes()
        for w, g in zip(want, got, strict=True)
    )
    if not same:
        raise WeightsChangedError(f"{path}: outputs on the fixed input differ after the rewrite; not written")
    onnx.checker.check_model(model)
    scratch = path.with_suffix(".onnx.rewrite")
    scratch.write_bytes(new_bytes)
    os.replace(scratch, path)
    renamed = tuple(f"{old} -> {new}" for old, new in RENAMED_KEYS.items() if old in before)
    renamed_new = {new for old, new in RENAMED_KEYS.items() if old in before}
    added = tuple(k for k in after if k not in before and k not in renamed_new)
    rewritten = tuple(k for k in after if k in before and after[k] != before[k])
    return Rewrite(path, True, renamed, added, rewritten, unchanged, sum(w.size for w in want))


def rewrite_config(model_dir: Path) -> bool:
    """Rewrite `config.pbtxt` with the one writer when its text differs; True when it did."""
    path = model_dir / CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    config = parse_model_config(text)
    if config.platform != "onnxruntime_onnx":
        raise ValueError(f"{path}: platform {config.platform!r} is not an ONNX model")
    before = path.read_bytes()
    write_model_config(model_dir, config)
    return path.read_bytes() != before


def rewrite_repository(models_dir: Path) -> tuple[list[Rewrite], list[Path]]:
    """Every version of every model the project knows the kind of; and the config.pbtxt files rewritten."""
    rewrites: list[Rewrite] = []
    configs: list[Path] = []
    for model_dir in model_dirs(models_dir):
        kind = KIND_OF_MODEL.get(model_dir.name)
        if kind is None:
            continue
        if rewrite_config(model_dir):
            configs.append(model_dir / CONFIG_FILE)
        rewrites.extend(rewrite_model(model_path(model_dir, v), kind) for v in versions(model_dir))
    return rewrites, configs


def describe(rewrite: Rewrite) -> str:
    """One line for the command's output."""
    if not rewrite.changed:
        return f"{rewrite.path}: already at the schema, left as it is"
    parts = [
        f"renamed {', '.join(rewrite.renamed)}" if rewrite.renamed else "",
        f"added {', '.join(rewrite.added)}" if rewrite.added else "",
        f"rewrote {', '.join(rewrite.rewritten)}" if rewrite.rewritten else "",
    ]
    return (
        f"{rewrite.path}: {'; '.join(p for p in parts if p)}; graph, weights and opsets unchanged "
        f"(sha256 {rewrite.unchanged_sha256[:16]}... before and after); "
        f"{rewrite.output_values} output values on a fixed input bit-identical"
    )
