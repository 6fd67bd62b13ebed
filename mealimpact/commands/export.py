"""`mealimpact export recognizer` (ONNX, calibrated), `export mobile` (the bundle, its golden cases and
README), `export mobile-golden`, `export response-raw` (the self-contained response graph) and
`export rewrite-metadata` (every model to the one metadata schema);
argparse here, the work in the handlers. The handlers import the training modules they drive (the
train extra: torch, onnx, onnxruntime, fastapi's TestClient for the golden cases), so that
`mealimpact --help` loads none of them; the rest is imported at the top.

`export fhir` shares the record arguments of `report` and lives beside it (mealimpact/commands/report.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mealimpact.model_repository.layout import default_models_dir, model_path, next_version
from vision.preprocess import PreprocessSpec

if TYPE_CHECKING:
    from mealimpact.commands import CommandGroups

_DEFAULT_DATA = Path("../shared/data")
_DEFAULT_D1NAMO = _DEFAULT_DATA / "d1namo"
_GOLDEN_DIR = Path(__file__).resolve().parents[2] / "mobile" / "golden"


def _export_recognizer(args: argparse.Namespace) -> int:
    from training.vision_export import default_check_photos, export_recognizer

    d1namo: Path = args.data
    report = export_recognizer(
        args.out, d1namo, version=args.version, check_photos=default_check_photos(d1namo)
    )
    print(f"wrote {report.model_path} and {report.config_path}")
    print("max abs difference ONNX vs torch:", json.dumps(report.max_abs_diff))
    print("calibration:", report.calibration)
    print("person-wise cross-validated metrics:", json.dumps(report.metrics, indent=2))
    return 0


def _export_mobile(args: argparse.Namespace) -> int:
    from training.mobile_bundle import BundleError, build_mobile_bundle
    from training.mobile_golden import write_golden
    from training.mobile_readme import write_readme
    from training.vision_quantize import AUGMENTED_COPIES, read_real_photos

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    photos = None
    if not args.no_int8:
        folder = args.data / "d1namo"
        # D1NAMO's full_resolution/ repeats three photos; food_pictures/ alone avoids counting them twice.
        paths = sorted(folder.glob("*/food_pictures/*.jpg"))
        if not paths:
            print(
                f"no real photos under {folder}/*/food_pictures to calibrate int8; pass --data DIR or --no-int8"
            )
            return 2
        from training.vision_calibrate import (
            DRINK_PHOTOS,
            HELD_OUT_NON_FOOD_PHOTOS,
            NON_FOOD_PHOTOS,
            packaged_photos,
        )

        # Photographs shipped with scikit-image, matplotlib and scikit-learn (nobody's meals): extra
        # distillation views for the int8 fine-tuning, so it does not learn the few meal photos by heart.
        others = packaged_photos(
            NON_FOOD_PHOTOS + DRINK_PHOTOS + HELD_OUT_NON_FOOD_PHOTOS, False, required=False
        )
        photos = read_real_photos(
            paths, PreprocessSpec(), copies=AUGMENTED_COPIES, extra_paths=[p.path for p in others]
        )
    try:
        bundles = build_mobile_bundle(args.models_dir, args.out, photos)
    except BundleError as err:
        print(f"error: {err}")
        return 2
    golden = write_golden(args.models_dir, args.data, args.out / "golden")
    readme = write_readme(bundles, args.out, [p.name for p in golden])
    for bundle in bundles:
        sizes = ", ".join(f"{Path(f.path).name} {f.size_bytes / 1e6:.2f} MB" for f in bundle.files)
        print(f"{bundle.name} v{bundle.version}: ship {bundle.ship}; {sizes}")
        if bundle.int8 is not None:
            print(f"  int8 vs fp32: {json.dumps(bundle.int8.__dict__)}")
            for problem in bundle.int8_problems:
                print(f"  int8 NOT shipped: {problem}")
    print(f"wrote {args.out / 'manifest.json'}, {readme} and {len(golden)} golden files")
    return 0


def _export_golden(args: argparse.Namespace) -> int:
    from training.mobile_golden import GOLDEN_PHOTOS, recognizer_cases, write_golden

    written = write_golden(args.models_dir, args.data, args.out)
    if args.all_photos:
        names = [
            str(p.relative_to(args.data)) for p in sorted(args.data.glob("d1namo/*/food_pictures/*.jpg"))
        ]
        cases = recognizer_cases(args.models_dir, args.data, names or list(GOLDEN_PHOTOS), tensors=True)
        (args.out / "recognizer.json").write_text(json.dumps(cases) + "\n")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _rewrite_metadata(args: argparse.Namespace) -> int:
    from training.metadata_rewrite import WeightsChangedError, describe, rewrite_repository

    try:
        rewrites, configs = rewrite_repository(args.models_dir)
    except WeightsChangedError as err:
        print(err)
        return 1
    for rewrite in rewrites:
        print(describe(rewrite))
    for path in configs:
        print(f"{path}: rewritten by the one config.pbtxt writer")
    print(
        f"{sum(r.changed for r in rewrites)} of {len(rewrites)} model files rewritten, {len(configs)} config.pbtxt"
    )
    return 0


def _export_response_raw(args: argparse.Namespace) -> int:
    from training.glucose_raw_export import MODEL_NAME, export_raw_response, latest_network

    model_dir: Path = args.models_dir / MODEL_NAME
    source = latest_network(model_dir) if args.source is None else model_path(model_dir, args.source)
    version = next_version(model_dir) if args.version is None else args.version
    with tempfile.TemporaryDirectory() as scratch:
        out = export_raw_response(source, model_dir, version, Path(scratch))
    print(f"wrote {out} (raw inputs in front of {source}) and {model_dir / 'config.pbtxt'}")
    return 0


def register(groups: CommandGroups) -> None:
    recognizer = groups.export.add_parser(
        "recognizer", help="export the food recognizer to ONNX (calibrates first)"
    )
    recognizer.add_argument("--out", type=Path, default=default_models_dir(), help="model repository root")
    recognizer.add_argument(
        "--data", type=Path, default=_DEFAULT_D1NAMO, help="D1NAMO folder for calibration"
    )
    recognizer.add_argument("--version", default="1", help="model version folder")
    recognizer.set_defaults(handler=_export_recognizer)

    models_help = "model repository to read (default: $MEALIMPACT_MODELS_DIR or models/)"
    mobile = groups.export.add_parser(
        "mobile",
        help="phone bundle: ORT files (int8 recognizer if it passes), metadata, golden cases, README",
    )
    mobile.add_argument("--out", type=Path, required=True, help="bundle folder")
    mobile.add_argument("--models-dir", type=Path, default=default_models_dir(), help=models_help)
    mobile.add_argument(
        "--data",
        type=Path,
        default=_DEFAULT_DATA,
        help="data folder: d1namo/ photos calibrate and check int8",
    )
    mobile.add_argument("--no-int8", action="store_true", help="bundle without trying an int8 recognizer")
    mobile.set_defaults(handler=_export_mobile)

    golden = groups.export.add_parser(
        "mobile-golden", help="golden cases (inputs, Python answers) for the JavaScript reference client"
    )
    golden.add_argument("--out", type=Path, default=_GOLDEN_DIR, help="folder (default: mobile/golden)")
    golden.add_argument("--models-dir", type=Path, default=default_models_dir(), help=models_help)
    golden.add_argument("--data", type=Path, default=_DEFAULT_DATA, help="data folder with the D1NAMO photos")
    golden.add_argument(
        "--all-photos", action="store_true", help="recognizer cases for every D1NAMO photo, tensors included"
    )
    golden.set_defaults(handler=_export_golden)

    raw = groups.export.add_parser(
        "response-raw",
        help="the response model with its features built in the graph (raw CGM, meal, context, kind) "
        "in front of a personal response version, as the next version",
    )
    raw.add_argument("--models-dir", type=Path, default=default_models_dir(), help=models_help)
    raw.add_argument(
        "--from",
        dest="source",
        type=int,
        default=None,
        help="version whose network to use (default: the newest personal graph without a raw front)",
    )
    raw.add_argument("--version", type=int, default=None, help="version to write (default: the next)")
    raw.set_defaults(handler=_export_response_raw)

    rewrite = groups.export.add_parser(
        "rewrite-metadata",
        help="rewrite every model's metadata and config.pbtxt to the one schema (weights checked unchanged)",
    )
    rewrite.add_argument("--models-dir", type=Path, default=default_models_dir(), help=models_help)
    rewrite.set_defaults(handler=_rewrite_metadata)
