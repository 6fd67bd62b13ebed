"""The mobile bundle: per model fp32 and int8 ONNX, ORT format, metadata JSON, a batch-1 variant, checksums.

int8 is static QDQ quantisation calibrated on real photos, made for the image model only, and written
only if it agrees with fp32 on real photos (INT8_* thresholds); otherwise building the bundle fails.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

IMAGE_INPUT = "image"  # the recognizer's input; models with it get an int8 variant
INT8_TOP1_AGREEMENT_MIN = 0.97  # share of real photos whose top-1 class is unchanged
INT8_CARBS_TOLERANCE = 0.05  # relative change of the carbohydrate median counted as "unchanged"
INT8_CARBS_SHARE_MIN = 0.95  # share of real photos whose carbohydrate median is unchanged
# The first convolutions carry the int8 error that matters (their per-channel weights quantise worst) but
# few of the weights; the last 9 of the recognizer's 49 hold half of them. Kept in fp32, the first 40
# let int8 pass the thresholds on the D1NAMO photos where 20 and 30 did not (measured: model card).
FLOAT_LEADING_CONVS = 40
MANIFEST_NAME = "manifest.json"


class BundleError(RuntimeError):
    """A model folder cannot be bundled (missing model, unreadable metadata, a failed conversion)."""


class Int8AcceptanceError(BundleError):
    """The int8 model disagrees with fp32 on real photos more than the thresholds allow."""


@dataclass(frozen=True)
class Int8Agreement:
    """How the int8 recognizer compares with fp32 on real photos.

    `reference` figures run the QDQ graph exactly as written (ONNX Runtime graph optimisations off),
    which is the arithmetic a phone's int8 kernels implement; `this_cpu` runs the fused int8 kernels
    of this machine (x86 AVX2 kernels without VNNI can saturate, so they may differ).
    """

    photos: int
    calibration_photos: int
    top1_agreement: float
    carbs_within_share: float
    held_out_top1_agreement: float  # photos not used for calibration
    held_out_carbs_within_share: float
    this_cpu_top1_agreement: float
    this_cpu_carbs_within_share: float
    float_leading_convs: int

    def failures(self) -> list[str]:
        problems = []
        if self.top1_agreement < INT8_TOP1_AGREEMENT_MIN:
            problems.append(
                f"top-1 agreement {self.top1_agreement:.1%} < {INT8_TOP1_AGREEMENT_MIN:.0%} "
                f"(short by {INT8_TOP1_AGREEMENT_MIN - self.top1_agreement:.1%} of {self.photos} photos)"
            )
        if self.carbs_within_share < INT8_CARBS_SHARE_MIN:
            problems.append(
                f"carbohydrate median within {INT8_CARBS_TOLERANCE:.0%} on {self.carbs_within_share:.1%} of "
                f"photos < {INT8_CARBS_SHARE_MIN:.0%} (short by {INT8_CARBS_SHARE_MIN - self.carbs_within_share:.1%})"
            )
        return problems


@dataclass(frozen=True)
class BundledFile:
    path: str  # relative to the bundle root
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class ModelBundle:
    name: str
    version: int
    files: tuple[BundledFile, ...]
    int8: Int8Agreement | None  # None: no int8 variant for this model


def latest_version(model_dir: Path) -> tuple[int, Path]:
    """The highest numbered version folder holding model.onnx."""
    versions = sorted(
        int(p.name) for p in model_dir.iterdir() if p.name.isdigit() and (p / "model.onnx").is_file()
    )
    if not versions:
        raise BundleError(f"{model_dir} has no <version>/model.onnx; export the model first.")
    return versions[-1], model_dir / str(versions[-1]) / "model.onnx"


def read_metadata(onnx_path: Path) -> dict[str, object]:
    """metadata_props with JSON values decoded (values that are not JSON stay strings)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    decoded: dict[str, object] = {}
    for prop in model.metadata_props:
        try:
            decoded[prop.key] = json.loads(prop.value)
        except json.JSONDecodeError:
            decoded[prop.key] = prop.value
    return decoded


def write_fixed_batch(src: Path, dst: Path, batch: int = 1) -> None:
    """A copy with every dynamic leading (batch) dimension fixed: what Core ML and NNAPI need."""
    import onnx
    from onnxruntime.tools.onnx_model_utils import fix_output_shapes, make_dim_param_fixed

    model = onnx.load(str(src))
    params = {
        i.type.tensor_type.shape.dim[0].dim_param
        for i in model.graph.input
        if i.type.tensor_type.shape.dim and i.type.tensor_type.shape.dim[0].dim_param
    }
    for param in params:
        make_dim_param_fixed(model.graph, param, batch)
    fix_output_shapes(model)
    onnx.save_model(model, str(dst))


def convert_to_ort(onnx_paths: Sequence[Path], out_dir: Path) -> list[Path]:
    """ORT format (Runtime optimisation style, the one for mobile with NNAPI/Core ML) of each model."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    written = []
    for path in onnx_paths:
        with tempfile.TemporaryDirectory() as tmp:
            # One model at a time through a scratch folder: the converter takes every .onnx it finds.
            single = Path(tmp) / path.name
            shutil.copyfile(path, single)
            convert_onnx_models_to_ort(single, out_dir, optimization_styles=[OptimizationStyle.Runtime])
        produced = sorted(out_dir.glob(f"{path.stem}*.ort"))
        if not produced:
            raise BundleError(f"ORT format conversion of {path.name} wrote no .ort file.")
        written += produced
    for leftover in out_dir.glob("*.config"):
        leftover.unlink()  # operator lists for custom minimal builds; not part of the bundle
    return written


def _downstream_of_pooling(model_path: Path) -> list[str]:
    """Names of the global pooling node and everything computed from it (the heads): kept in fp32."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    pools = [n for n in graph.node if n.op_type in ("ReduceMean", "GlobalAveragePool")]
    if not pools:
        return []
    live = set(pools[-1].output)
    names = [pools[-1].name]
    for node in graph.node:  # nodes are topologically sorted in a valid ONNX graph
        if any(i in live for i in node.input):
            names.append(node.name)
            live.update(node.output)
    return names


def quantize_image_model(
    fp32_path: Path,
    int8_path: Path,
    calibration_images: npt.NDArray[np.uint8],  # (N, H, W, 3)
    float_leading_convs: int = FLOAT_LEADING_CONVS,
) -> None:
    """Static int8 QDQ: per-channel weights, activations calibrated (min/max) on the given photos."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Photos(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(
                [{IMAGE_INPUT: calibration_images[i : i + 1]} for i in range(len(calibration_images))]
            )

        def get_next(self) -> dict[str, npt.NDArray[np.uint8]] | None:
            return next(self._batches, None)

    prepared = int8_path.with_suffix(".prep.onnx")
    # Symbolic shape inference chokes on the exported quantile head; ONNX shape inference suffices.
    quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    convs = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type == "Conv"]
    excluded = _downstream_of_pooling(prepared) + convs[:float_leading_convs]
    try:
        quantize_static(
            str(prepared),
            str(int8_path),
            _Photos(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            nodes_to_exclude=excluded,
        )
    finally:
        prepared.unlink(missing_ok=True)


def _run(path: Path, images: npt.NDArray[np.uint8], *, reference: bool) -> list[npt.NDArray[np.float32]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if reference:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = [session.run(None, {IMAGE_INPUT: images[i : i + 8]}) for i in range(0, len(images), 8)]
    by_name = {name: np.concatenate([o[k] for o in outputs]) for k, name in enumerate(names)}
    return [by_name["probabilities"], by_name["carbs_g"]]


def _agreement(
    fp32: list[npt.NDArray[np.float32]], int8: list[npt.NDArray[np.float32]]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    same_top1 = fp32[0].argmax(axis=1) == int8[0].argmax(axis=1)
    median_fp32, median_int8 = fp32[1][:, 1], int8[1][:, 1]
    within = np.abs(median_int8 - median_fp32) <= INT8_CARBS_TOLERANCE * np.abs(median_fp32)
    return same_top1, within


def measure_int8_agreement(
    fp32_path: Path,
    int8_path: Path,
    images: npt.NDArray[np.uint8],  # (N, H, W, 3) real photos
    calibration_mask: npt.NDArray[np.bool_],  # (N,) True for photos used to calibrate
    float_leading_convs: int,
) -> Int8Agreement:
    fp32 = _run(fp32_path, images, reference=False)
    top1, carbs = _agreement(fp32, _run(int8_path, images, reference=True))
    cpu_top1, cpu_carbs = _agreement(fp32, _run(int8_path, images, reference=False))
    held = ~calibration_mask
    return Int8Agreement(
        photos=len(images),
        calibration_photos=int(calibration_mask.sum()),
        top1_agreement=float(top1.mean()),
        carbs_within_share=float(carbs.mean()),
        held_out_top1_agreement=float(top1[held].mean()) if held.any() else float("nan"),
        held_out_carbs_within_share=float(carbs[held].mean()) if held.any() else float("nan"),
        this_cpu_top1_agreement=float(cpu_top1.mean()),
        this_cpu_carbs_within_share=float(cpu_carbs.mean()),
        float_leading_convs=float_leading_convs,
    )


def bundle_model(
    model_dir: Path,
    out_dir: Path,
    photos: npt.NDArray[np.uint8] | None,
    *,
    float_leading_convs: int = FLOAT_LEADING_CONVS,
) -> ModelBundle:
    """One model's folder of the bundle. `photos`: real photos, preprocessed, for the int8 variant.

    Raises Int8AcceptanceError, writing no int8 file, when int8 disagrees with fp32 too much.
    """
    version, source = latest_version(model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / "model.fp32.onnx"
    shutil.copyfile(source, fp32)
    metadata = read_metadata(source)
    (out_dir / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    onnx_files = [fp32]
    agreement = None
    if photos is not None and _has_image_input(source):
        int8 = out_dir / "model.int8.onnx"
        # Every other photo calibrates; the rest show how the int8 model does on photos it never saw.
        calibration = np.zeros(len(photos), dtype=bool)
        calibration[::2] = True
        with tempfile.TemporaryDirectory() as tmp:
            # Checked before it is written: a rejected int8 model never lands in the bundle.
            candidate = Path(tmp) / int8.name
            quantize_image_model(fp32, candidate, photos[calibration], float_leading_convs)
            agreement = measure_int8_agreement(fp32, candidate, photos, calibration, float_leading_convs)
            problems = agreement.failures()
            if problems:
                raise Int8AcceptanceError(
                    f"{model_dir.name}: the int8 model was rejected: {'; '.join(problems)}. Keep more leading "
                    "convolutions in fp32 (--float-convs) or bundle without int8 (--no-int8)."
                )
            shutil.copyfile(candidate, int8)
        onnx_files.append(int8)
    for path in list(onnx_files):
        fixed = path.with_name(path.name.replace(".onnx", ".batch1.onnx"))
        write_fixed_batch(path, fixed)
        onnx_files.append(fixed)
    convert_to_ort(onnx_files, out_dir)
    from serving.model_repository import file_sha256  # the digest GET /v1/models reports

    files = tuple(
        BundledFile(str(p.relative_to(out_dir.parent)), p.stat().st_size, file_sha256(p))
        for p in sorted(out_dir.iterdir())
        if p.is_file()
    )
    return ModelBundle(model_dir.name, version, files, agreement)


def _has_image_input(onnx_path: Path) -> bool:
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return any(i.name == IMAGE_INPUT for i in graph.input)


def write_manifest(bundles: Sequence[ModelBundle], out: Path) -> Path:
    """manifest.json (files with sizes and sha256, int8 agreement) and SHA256SUMS (for `sha256sum -c`)."""
    manifest = {"models": [asdict(b) for b in bundles]}
    path = out / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    lines = [f"{f.sha256}  {f.path}" for b in bundles for f in b.files]
    (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return path


def build_mobile_bundle(
    models_dir: Path,
    out: Path,
    photos: npt.NDArray[np.uint8] | None,
    *,
    float_leading_convs: int = FLOAT_LEADING_CONVS,
) -> list[ModelBundle]:
    """Bundle every model folder (one with config.pbtxt) of the repository into `out/<name>/`."""
    if not models_dir.is_dir():
        raise BundleError(f"{models_dir} is not a folder; pass --models-dir with the model repository.")
    model_dirs = sorted(p for p in models_dir.iterdir() if (p / "config.pbtxt").is_file())
    if not model_dirs:
        raise BundleError(f"{models_dir} holds no model folder with a config.pbtxt.")
    bundles = []
    for model_dir in model_dirs:
        logger.info("bundling %s", model_dir.name)
        bundles.append(
            bundle_model(model_dir, out / model_dir.name, photos, float_leading_convs=float_leading_convs)
        )
    write_manifest(bundles, out)
    return bundles
