"""Golden cases for a client without Python: inputs and the Python serving path's answers, as JSON.

`mealimpact export mobile-golden --out mobile/golden` writes them; mobile/ (TypeScript on
onnxruntime-node) must reproduce every answer to GOLDEN_TOLERANCE. Nothing here knows the glucose
graphs' inputs: the cases record what the server fed each model and what came back, so they follow
whatever graphs the model repository holds when the command is re-run.

- recognizer: a preprocessed photo tensor and its outputs (the exact path), and real photos by file
  name with their preprocessed tensor's digest and outputs (the decoding path, compared more loosely).
- cgm_resample: raw readings (irregular, gaps, missing values) and glucose_model.resample's grid.
- glucose: the example requests of serving/examples sent through the real app (TestClient), every
  model call it made, and the HTTP answer. A model input equal to a window of the request's
  resampled CGM is marked so the client builds it from the raw readings itself. Some requests carry
  device-local reading times (`cgm.tz`), across the clocks going forward and back.
- device_time: zone names and reading times through serving/device_time.py (mobile_golden_device_time).
- timestamps: time strings with the server's verdict as a time field and as a reading in a zone
  (mobile_golden_timestamps); glucose holds requests with times in every accepted form, and refused forms.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import io
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import BaseModel

from glucose_model import calibration as glucose_calibration
from glucose_model import impact as glucose_impact
from glucose_model.features import BASELINE_WINDOW_MIN, MIN_VALID_LAST_HOUR, MealContext
from glucose_model.impact import ImpactResult, ResponsePredictor
from glucose_model.metrics import IAUC_WINDOW_MIN
from glucose_model.records import GLUCOSE_MAX_MG_DL, GLUCOSE_MIN_MG_DL, MG_DL_PER_MMOL_L, GlucoseSeries, Meal
from glucose_model.resample import GRID_STEP_MIN, MAX_INTERPOLATED_GAP_MIN, resample_to_grid
from mealimpact.model_repository.checksums import file_sha256
from mealimpact.model_repository.sessions import open_session
from serving.main import create_app
from serving.output_bounds import MAX_GLUCOSE_MG_DL
from serving.request_records import CLOCK_SKEW
from serving.schemas.glucose import Cgm, ForecastRequest
from serving.schemas.meals import ImpactRequest
from serving.settings import GLUCOSE_RESPONSE, Settings
from training.mobile_bundle import finite_json, latest_version, phone_metadata, read_metadata
from training.mobile_golden_device_time import device_local, device_time_cases, refused_device_time_requests
from training.mobile_golden_timestamps import refused_time_form_requests, time_forms, timestamp_cases
from vision.decode import decode_image
from vision.metadata import MODEL_NAME as RECOGNIZER
from vision.preprocess import _RESAMPLE, SOURCE_SIZE_KEY, PreprocessSpec
from vision.recognition import preprocess_photo

logger = logging.getLogger(__name__)

GOLDEN_TOLERANCE = 1e-3  # absolute, on every model output, JavaScript vs Python
GOLDEN_PHOTOS = (  # relative to the data folder; D1NAMO photos of three people, two sizes
    "d1namo/001/food_pictures/001.jpg",
    "d1namo/002/food_pictures/006.jpg",
    "d1namo/004/food_pictures/004.jpg",
)
EXAMPLES = Path(__file__).resolve().parents[1] / "serving" / "examples"
GLUCOSE_REQUESTS = (
    ("impact", "/v1/meals/impact", "impact.json"),
    ("forecast", "/v1/glucose/forecast", "forecast.json"),
)
IMPACT_ROUTE = "/v1/meals/impact"
FORECAST_ROUTE = "/v1/glucose/forecast"
# A tiny raw population response graph (`train glucose`, kind "population": no person or history inputs),
# kept beside the golden cases so the client's population path has cases too; see mobile/README.md.
POPULATION_FOLDER = "population"
POPULATION_SOURCE = Path(__file__).resolve().parents[1] / "mobile" / "golden" / POPULATION_FOLDER
# Impact requests with device-local CGM times (`cgm.tz`, the personal variant): meals just after the clocks
# go forward or back, so the 3 h of CGM before them cross the change (in the hour the clocks go back, a
# device writes the offset too, else the time is ambiguous); the past meals are days before.
DEVICE_TIME_MEALS = (
    ("zurich_spring_forward", "Europe/Zurich", datetime(2026, 3, 29, 4, 0)),
    ("zurich_fall_back", "Europe/Zurich", datetime(2026, 10, 25, 3, 30)),
    ("new_york_spring_forward", "America/New_York", datetime(2026, 3, 8, 4, 0)),
    ("new_york_fall_back", "America/New_York", datetime(2026, 11, 1, 2, 30)),
)


def encode_array(array: npt.NDArray[Any]) -> dict[str, object]:
    """A tensor as JSON: dtype, shape, flat values (NaN as null); uint8 as base64 to stay small."""
    if array.dtype == np.uint8:
        return {
            "dtype": "uint8",
            "shape": list(array.shape),
            "base64": base64.b64encode(array.tobytes()).decode(),
        }
    if array.dtype == np.float32:  # the shortest text that reads back as the same float32: half the bytes
        flat: list[object] = [None if math.isnan(v) else float(str(v)) for v in array.ravel()]
    else:
        flat = [None if isinstance(v, float) and math.isnan(v) else v for v in array.ravel().tolist()]
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": flat}


def _digest(array: npt.NDArray[Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _model_file(models_dir: Path, name: str) -> tuple[Path, int]:
    version, path = latest_version(models_dir / name)
    return path, version


def _model_ref(models_dir: Path, name: str) -> dict[str, object]:
    path, version = _model_file(models_dir, name)
    return {"name": name, "version": version, "sha256": file_sha256(path)}


# (name, width, height, output size, box): Pillow's resize along one axis, which a client reproduces bit
# for bit. Resizing both axes is two such passes with uint8 rounding between them, and Pillow 13 picks
# their order by a rule not documented (measured: either order occurs), so a client matches it within
# rounding only; the photo cases compare that path with a stated tolerance.
RESIZE_CASES = (
    ("width_down", 173, 131, (61, 131), (0.0, 0.0, 173.0, 131.0)),
    ("height_down", 131, 173, (131, 47), (0.0, 0.0, 131.0, 173.0)),
    ("width_up", 97, 83, (130, 83), (0.0, 0.0, 97.0, 83.0)),
    ("height_box", 120, 300, (120, 224), (0.0, 36.610169491525426, 120.0, 264.4067796610169)),
    ("width_box", 300, 90, (224, 90), (16.25, 0.0, 243.75, 90.0)),
)


def pattern_image(width_px: int, height_px: int) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 image both languages compute: mobile/src/pattern.ts is the same formula."""
    y, x, c = np.meshgrid(np.arange(height_px), np.arange(width_px), np.arange(3), indexing="ij")
    return ((x * 7 + y * 13 + c * 50 + (x * y % 17) * 5 + ((x // 9 + y // 7) % 2) * 90) % 256).astype(
        np.uint8
    )


def resize_cases(spec: Any) -> list[dict[str, object]]:
    """Pillow's resize on test patterns: digests the client must reproduce exactly."""
    cases = []
    for name, width, height, size, box in RESIZE_CASES:
        image = Image.fromarray(pattern_image(width, height), "RGB")
        pixels = np.asarray(image.resize(size, _RESAMPLE[spec.interpolation], box=box), dtype=np.uint8)
        cases.append(
            {
                "name": name,
                "width": width,
                "height": height,
                "size": list(size),
                "box": list(box),
                "sha256": _digest(pixels),
            }
        )
    return cases


def exif_cases() -> list[dict[str, object]]:
    """Small JPEGs stored sideways with an EXIF orientation, and the upright pixels the server decodes."""
    cases: list[dict[str, object]] = []
    for orientation in (3, 6, 8):
        y, x = np.mgrid[0:16, 0:24]
        smooth = np.stack([x * 255 // 23, y * 255 // 15, np.full_like(x, 128)], axis=-1).astype(np.uint8)
        stored = Image.fromarray(smooth, "RGB")  # smooth: JPEG decoders agree on it to a level or two
        exif = Image.Exif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        stored.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
        upright = np.asarray(decode_image(buffer.getvalue()).convert("RGB"), dtype=np.uint8)
        cases.append(
            {
                "orientation": orientation,
                "jpeg_base64": base64.b64encode(buffer.getvalue()).decode(),
                "upright": encode_array(upright),
            }
        )
    return cases


def recognizer_cases(
    models_dir: Path, data_dir: Path, photo_names: Sequence[str] = GOLDEN_PHOTOS, tensors: bool = False
) -> dict[str, object]:
    """The exact tensor path on the first photo and the decoding path on every photo of `photo_names`
    (relative to `data_dir`); `tensors`: keep every photo's preprocessed tensor (for measuring)."""
    path, _ = _model_file(models_dir, RECOGNIZER)
    spec = PreprocessSpec.from_json(json.dumps(read_metadata(path)["preprocess"]))
    session = open_session(path)
    names = [o.name for o in session.get_outputs()]
    photos: list[dict[str, object]] = []
    for relative in photo_names:
        photo = data_dir / relative
        if not photo.is_file():
            logger.warning("golden photo %s missing; left out", photo)
            continue
        data = photo.read_bytes()
        tensor = preprocess_photo(data, spec)[None]  # (1, crop, crop, 3)
        decoded = decode_image(data, min_size_px=spec.resize_short_side_px)  # the server's decode geometry
        outputs = dict(zip(names, session.run(names, {"image": tensor}), strict=True))
        photos.append(
            {
                "photo": relative,
                "photo_sha256": hashlib.sha256(data).hexdigest(),
                "decoded_size": list(decoded.size),
                "crop_placed_on": "source" if SOURCE_SIZE_KEY in decoded.info else "decoded",
                "tensor_sha256": _digest(tensor),
                "tensor": encode_array(tensor)
                if tensors or not photos
                else None,  # one is enough for the exact path
                "outputs": {k: encode_array(v) for k, v in outputs.items()},
            }
        )
    if not photos:
        raise FileNotFoundError(f"none of the golden photos is under {data_dir}")
    return {
        "model": _model_ref(models_dir, RECOGNIZER),
        "preprocess": json.loads(spec.to_json()),
        "resize_cases": resize_cases(spec),
        "exif_cases": exif_cases(),
        "photos": photos,
    }


def _trace(start_s: int, minutes: Sequence[float], values: Sequence[float]) -> dict[str, list[float]]:
    return {"times_utc_s": [start_s + round(m * 60) for m in minutes], "glucose_mg_dl": list(values)}


def resample_cases() -> list[dict[str, object]]:
    """Raw traces with what resampling must handle, and glucose_model.resample's grid for each."""
    start = 1_764_327_900  # 2025-11-28 11:05 UTC
    rng = np.random.default_rng(7)
    irregular = np.cumsum(rng.uniform(3.0, 7.0, 60))
    cases = {
        "on_grid": _trace(start, [5.0 * i for i in range(12)], [100 + 2 * i for i in range(12)]),
        "off_grid_jitter": _trace(start + 37, list(irregular), list(110 + 30 * np.sin(irregular / 40))),
        "short_and_long_gaps": _trace(
            start,
            [0, 5, 10, 30, 35, 40, 41.5, 90, 95, 100],  # a 20-min gap (joined) and a 49-min gap (not)
            [120, 121, 125, 140, 142, 141, 139, 180, 175, 170],
        ),
        "fifteen_minute_sensor": _trace(
            start + 120, [15.0 * i for i in range(10)], [95, 97, 110, 130, 128, 120, 111, 104, 100, 99]
        ),
        "missing_values": _trace(
            start, [0, 5, 10, 15, 20, 25], [100, math.nan, 104, math.nan, math.nan, 110]
        ),
    }
    out: list[dict[str, object]] = []
    for name, trace in cases.items():
        series = GlucoseSeries(
            np.asarray(trace["times_utc_s"], np.int64),
            np.zeros(len(trace["times_utc_s"]), np.int16),
            np.asarray(trace["glucose_mg_dl"], np.float64),
            "golden",
        )
        grid = resample_to_grid(series)
        out.append(
            {
                "name": name,
                "readings": {
                    "times_utc_s": trace["times_utc_s"],
                    "glucose_mg_dl": [None if math.isnan(v) else v for v in trace["glucose_mg_dl"]],
                },
                "grid": {
                    "times_utc_s": grid.times_utc_s.tolist(),
                    "glucose_mg_dl": [None if math.isnan(v) else v for v in grid.glucose_mg_dl.tolist()],
                },
            }
        )
    return out


@dataclass
class _RecordingBackend:
    """Wraps the app's backend and keeps every model call (inputs and outputs) of one request."""

    inner: Any
    calls: list[dict[str, object]] = field(default_factory=list)

    def infer(
        self, model_name: str, inputs: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        outputs = self.inner.infer(model_name, inputs, output_names)
        self.calls.append({"model": model_name, "inputs": dict(inputs), "outputs": dict(outputs)})
        return outputs

    def close(self) -> None:
        self.inner.close()


def _readings(request: Mapping[str, Any]) -> tuple[list[int], list[float]]:
    cgm = Cgm.model_validate(request["cgm"])  # times as the server reads them (cgm.tz, every accepted form)
    factor = MG_DL_PER_MMOL_L if cgm.unit == "mmol/L" else 1.0
    return [int(r.time.timestamp()) for r in cgm.readings], [r.value * factor for r in cgm.readings]


def _grid_window(
    feed: npt.NDArray[Any], grid_times: npt.NDArray[np.int64], grid_values: npt.NDArray[np.float64]
) -> dict[str, object] | None:
    """Where a (B, T) input equals T consecutive grid slots in every row (NaN matching NaN, slots before
    or after the grid NaN), if anywhere: the raw CGM window a graph takes, which a client can build."""
    if feed.ndim != 2 or feed.dtype.kind != "f" or len(grid_values) == 0:
        return None
    rows = feed.astype(np.float64)
    if not np.array_equal(rows, np.broadcast_to(rows[:1], rows.shape), equal_nan=True):
        return None
    width = feed.shape[1]
    padded = np.concatenate([np.full(width - 1, np.nan), grid_values, np.full(width - 1, np.nan)])
    if np.isnan(rows[0]).all():
        return None  # an all-missing input says nothing about where it came from
    step_s = int(grid_times[1] - grid_times[0]) if len(grid_times) > 1 else GRID_STEP_MIN * 60
    for start in range(len(padded) - width + 1):
        if np.allclose(rows[0], padded[start : start + width], atol=1e-4, equal_nan=True):
            first = int(grid_times[0]) + (start - (width - 1)) * step_s
            return {"first_grid_time_utc_s": first, "length": width}
    return None


@contextlib.contextmanager
def _app(models_dir: Path) -> Iterator[TestClient]:
    """The real app on `models_dir`, ready (its warm-up calls done, so they are part of no case)."""
    settings = Settings(models_dir=models_dir, api_keys=(), batcher_enabled=False)
    with TestClient(create_app(settings)) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        for _ in range(600):
            if runtime.ready:
                break
            time.sleep(0.05)
        yield client


@contextlib.contextmanager
def _impact_results() -> Iterator[list[tuple[ImpactResult, Meal]]]:
    """Every ImpactResult the predictor returns meanwhile (the server's answer before rounding and
    wording), with the meal it was asked about (its carbohydrate and interval, when a photo gave them)."""
    results: list[tuple[ImpactResult, Meal]] = []
    original = ResponsePredictor.impact

    def recording(self: ResponsePredictor, context: MealContext, *args: Any, **kwargs: Any) -> ImpactResult:
        result = original(self, context, *args, **kwargs)
        results.append((result, context.meal))
        return result

    ResponsePredictor.impact = recording  # type: ignore[method-assign]
    try:
        yield results
    finally:
        ResponsePredictor.impact = original  # type: ignore[method-assign]


def glucose_cases(
    models_dir: Path,
    requests: Sequence[tuple[str, str, str]] = GLUCOSE_REQUESTS,
    prefix: str = "",
    model_files: Mapping[str, str] | None = None,
    photo: Path | None = None,
) -> list[dict[str, object]]:
    """Each example request through the real app; the model calls it made and its answer (and, for the
    impact route, the predictor's unrounded result). `model_files`: model name -> the file's path relative
    to the golden folder, for a model that is not in the repository's models/ (the population graph).
    `photo`: a meal photo for one /v1/meals/analyze case (the photo's carbohydrate interval path)."""
    cases = []
    with _app(models_dir) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        for name, route, example in requests:
            base = json.loads((EXAMPLES / example).read_text())
            if name == "forecast":
                base = _recent(base)  # the server forecasts only from readings of the last minutes
            variants = [("example", base), ("irregular_cgm", _irregular(base))]
            if name == "impact":
                variants.append(("personal", _personal(base)))
            if not prefix:  # device-local times and time forms: the personal graph's cases only
                variants += _device_time_variants(name, base)
                variants.append(("time_forms", time_forms(_personal(base) if name == "impact" else base)))
            for variant, request in variants:
                recorder = _RecordingBackend(runtime.executor.backend)
                runtime.executor.backend = recorder
                try:
                    with _impact_results() as results:
                        response = client.post(route, json=request)
                finally:
                    runtime.executor.backend = recorder.inner
                if response.status_code != 200:
                    logger.warning(
                        "%s %s: the app answered %d; case left out", name, variant, response.status_code
                    )
                    continue
                times, values = _readings(request)
                series = GlucoseSeries(
                    np.asarray(times, np.int64), np.zeros(len(times), np.int16), np.asarray(values), "golden"
                )
                grid = resample_to_grid(series)
                calls = []
                for call in recorder.calls:
                    inputs = call["inputs"]
                    assert isinstance(inputs, dict)
                    outputs = call["outputs"]
                    assert isinstance(outputs, dict)
                    from_cgm = {
                        k: w
                        for k, v in inputs.items()
                        if (w := _grid_window(np.asarray(v), grid.times_utc_s, grid.glucose_mg_dl))
                        is not None
                    }
                    model = _model_ref(models_dir, str(call["model"]))
                    if model_files is not None and str(call["model"]) in model_files:
                        model["file"] = model_files[str(call["model"])]
                    calls.append(
                        {
                            "model": model,
                            "inputs": {k: encode_array(np.asarray(v)) for k, v in inputs.items()},
                            "inputs_from_cgm_grid": from_cgm,
                            "outputs": {k: encode_array(np.asarray(v)) for k, v in outputs.items()},
                        }
                    )
                case: dict[str, object] = {
                    "name": f"{prefix}{name}_{variant}",
                    "route": route,
                    "request": request,
                    "readings": {"times_utc_s": times, "glucose_mg_dl": values},
                    "calls": calls,
                    "response": response.json(),
                }
                if route == IMPACT_ROUTE and len(results) == 1:
                    case["result"] = results[0][0].as_dict()
                cases.append(case)
        if photo is not None:
            cases.extend(_analyze_case(client, photo, models_dir, prefix, model_files))
    return cases


def _device_time_variants(name: str, base: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The request with device-local CGM times (`cgm.tz`): in a zone where nothing changes near it (the
    forecast: New York now; the impact: Zurich), and each of DEVICE_TIME_MEALS (impact)."""
    if name == "forecast":
        return [("device_time_new_york", device_local(base, "America/New_York"))]
    variants = [("device_time_zurich", device_local(base, "Europe/Zurich"))]
    for variant, zone, meal in DEVICE_TIME_MEALS:
        moved = device_local(_personal(base), zone, meal.replace(tzinfo=ZoneInfo(zone)))
        variants.append((f"device_time_{variant}", moved))
    return variants


def _analyze_case(
    client: TestClient,
    photo: Path,
    models_dir: Path,
    prefix: str,
    model_files: Mapping[str, str] | None,
) -> list[dict[str, object]]:
    """POST /v1/meals/analyze with a real meal photo and the example context: the impact with the photo's
    carbohydrate (estimate, p10, p90) as the predictor got it, beside its unrounded result and the calls."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    context = json.loads((EXAMPLES / "analyze_context.json").read_text())
    recorder = _RecordingBackend(runtime.executor.backend)
    runtime.executor.backend = recorder
    try:
        with _impact_results() as results:
            response = client.post(
                "/v1/meals/analyze",
                files={"image": (photo.name, photo.read_bytes(), "image/jpeg")},
                data={"context": json.dumps(context)},
            )
    finally:
        runtime.executor.backend = recorder.inner
    if response.status_code != 200 or len(results) != 1:
        logger.warning("analyze: the app answered %d (no impact); case left out", response.status_code)
        return []
    result, meal = results[0]
    calls = []
    for call in recorder.calls:
        if call["model"] == RECOGNIZER:
            continue  # the photo path has its own cases (recognizer.json); here the glucose model's call
        model = _model_ref(models_dir, str(call["model"]))
        if model_files is not None and str(call["model"]) in model_files:
            model["file"] = model_files[str(call["model"])]
        inputs, outputs = call["inputs"], call["outputs"]
        assert isinstance(inputs, dict) and isinstance(outputs, dict)
        calls.append(
            {
                "model": model,
                "inputs": {k: encode_array(np.asarray(v)) for k, v in inputs.items()},
                "inputs_from_cgm_grid": {},
                "outputs": {k: encode_array(np.asarray(v)) for k, v in outputs.items()},
            }
        )
    times, values = _readings(context)
    return [
        {
            "name": f"{prefix}analyze_photo",
            "route": "/v1/meals/analyze",
            "photo": photo.name,
            "request": context,
            "meal_as_predicted": {
                "carbs_g": meal.carbs_g,
                "carbs_p10_g": meal.carbs_p10_g,
                "carbs_p90_g": meal.carbs_p90_g,
            },
            "readings": {"times_utc_s": times, "glucose_mg_dl": values},
            "calls": calls,
            "response": response.json(),
            "result": result.as_dict(),
        }
    ]


def _set_path(request: dict[str, Any], path: Sequence[str | int], value: object) -> None:
    target: Any = request
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _has_path(request: Mapping[str, Any], path: Sequence[str | int]) -> bool:
    """Whether `path` leads to an object in `request` (a list entry or a nested object)."""
    target: Any = request
    for key in path:
        inside = (isinstance(target, dict) and key in target) or (
            isinstance(target, list) and isinstance(key, int) and key < len(target)
        )
        if not inside:
            return False
        target = target[key]
    return isinstance(target, dict)


def _schema_bound_requests(
    base: Mapping[str, Any], model: type[BaseModel] = ImpactRequest
) -> list[tuple[str, dict[str, Any]]]:
    """One request per numeric bound of a request schema (`model`), just beyond it: every range the
    server checks, found from its own JSON schema, so a bound added there gets a golden case."""
    schema = model.model_json_schema()
    defs = schema["$defs"]
    out: list[tuple[str, dict[str, Any]]] = []
    for key, spec in schema["properties"].items():
        if key in ("cgm", "history"):
            continue  # the readings have no numeric bounds; a past meal's are the meal's
        if "$ref" in spec:
            prefix: list[str | int] = [key]
            props = defs[spec["$ref"].rsplit("/", 1)[-1]]["properties"]
        elif spec.get("type") == "array":
            prefix = [key, 0]
            props = defs[spec["items"]["$ref"].rsplit("/", 1)[-1]]["properties"]
        else:
            prefix, props = [], {key: spec}
        for name, prop in props.items():
            for variant in prop.get("anyOf", [prop]):
                if variant.get("type") != "number":
                    continue
                beyond = (
                    ("above", variant.get("maximum"), 1.0),
                    ("below", variant.get("minimum"), -1.0),
                    ("at_exclusive_minimum", variant.get("exclusiveMinimum"), 0.0),
                )
                for side, bound, step in beyond:
                    if bound is None:
                        continue
                    request = copy.deepcopy(dict(base))
                    if not _has_path(request, prefix):
                        continue  # no entry in that list (or no such object) to put the value in
                    _set_path(request, [*prefix, name], bound + step)
                    out.append((f"schema_{'.'.join(str(p) for p in [*prefix, name])}_{side}", request))
    return out


def _objects(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The place of every JSON object in a request (a list's first entry stands for the list)."""
    if isinstance(value, dict):
        yield path
        for key, inner in value.items():
            yield from _objects(inner, (*path, key))
    elif isinstance(value, list) and value:
        yield from _objects(value[0], (*path, 0))


def _unknown_key_requests(base: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One request per JSON object of `base` with a key the schema does not define added to it: the
    object's first key with its first two letters swapped, so the server's answer names the field meant
    and lists the object's fields (a client must word each object's refusal as the server does)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for path in _objects(base):
        request = copy.deepcopy(dict(base))
        target: Any = request
        for key in path:
            target = target[key]
        first = next(iter(target))
        target[first[1] + first[0] + first[2:]] = target[first]
        out.append((f"schema_unknown_key_in_{'.'.join(str(p) for p in path) or 'body'}", request))
    return out


def refused_requests(base: Mapping[str, Any], now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """Impact requests the server must refuse with 422: the schema's bounds, and what only the records
    and the predictor see (CGM too thin before the meal, out of range, out of order, in the future...).
    Built on the personal variant of `base`, so every list (insulin, earlier meals, history) has an entry."""
    personal = _personal(base)
    future = (now + timedelta(days=1)).isoformat()
    cases: list[tuple[str, dict[str, Any]]] = []

    def changed(name: str, edit: Any) -> None:
        request = copy.deepcopy(personal)
        edit(request)
        cases.append((name, request))

    def readings(request: dict[str, Any]) -> list[dict[str, Any]]:
        return request["cgm"]["readings"]

    def minutes_before_meal(request: dict[str, Any], reading: Mapping[str, Any]) -> float:
        meal = datetime.fromisoformat(request["meal"]["time"])
        return (meal - datetime.fromisoformat(reading["time"])).total_seconds() / 60.0

    def shift_readings(request: dict[str, Any]) -> None:
        for r in readings(request):
            r["time"] = (datetime.fromisoformat(r["time"]) - timedelta(hours=2)).isoformat()

    def sparse(request: dict[str, Any]) -> None:
        request["cgm"]["readings"] = [
            r
            for r in readings(request)
            if minutes_before_meal(request, r) >= 60 or minutes_before_meal(request, r) < 10
        ]

    def swap(request: dict[str, Any]) -> None:
        rs = readings(request)
        rs[3], rs[4] = rs[4], rs[3]

    def duplicate(request: dict[str, Any]) -> None:
        rs = readings(request)
        rs.insert(11, copy.deepcopy(rs[10]))

    def history_short_after(request: dict[str, Any]) -> None:
        past = request["history"][1]
        meal = datetime.fromisoformat(past["meal"]["time"])
        past["cgm"]["readings"] = [
            r
            for r in past["cgm"]["readings"]
            if datetime.fromisoformat(r["time"]) <= meal + timedelta(hours=1)
        ]

    def misspell(place: dict[str, Any], name: str, as_name: str) -> None:
        place[as_name] = place.pop(name)

    def no_offset(request: dict[str, Any]) -> None:
        request["meal"]["time"] = (
            datetime.fromisoformat(request["meal"]["time"]).replace(tzinfo=None).isoformat()
        )

    changed("cgm_ends_two_hours_before_the_meal", shift_readings)
    changed("cgm_too_sparse_in_the_last_hour", sparse)
    changed("cgm_no_readings", lambda r: r["cgm"].update(readings=[]))
    changed("cgm_value_above_range", lambda r: readings(r)[5].update(value=700))
    changed("cgm_mmol_unit_with_mg_dl_values", lambda r: r["cgm"].update(unit="mmol/L"))
    changed("cgm_unit_misspelt", lambda r: r["cgm"].update(unit="mg/dl"))
    changed("cgm_unit_missing", lambda r: r["cgm"].pop("unit"))
    changed("cgm_readings_out_of_order", swap)
    changed("cgm_duplicate_reading", duplicate)
    changed("meal_in_the_future", lambda r: r["meal"].update(time=future))
    changed("insulin_in_the_future", lambda r: r["insulin"][0].update(time=future))
    changed("meal_time_without_offset", no_offset)
    changed("meal_time_before_2000", lambda r: r["meal"].update(time="1999-12-31T12:00:00+01:00"))
    changed("meal_carbs_missing", lambda r: r["meal"].pop("carbs_g"))
    changed("meal_carbs_as_text", lambda r: r["meal"].update(carbs_g="60"))
    changed("diabetes_kind_unknown", lambda r: r["profile"].update(diabetes="type3"))
    changed("medication_unknown", lambda r: r["profile"].update(medication=["insulin"]))
    changed("insulin_kind_unknown", lambda r: r["insulin"][0].update(kind="bolus"))
    changed("history_cgm_value_below_range", lambda r: r["history"][0]["cgm"]["readings"][2].update(value=10))
    changed("history_cgm_ends_an_hour_after_the_meal", history_short_after)
    changed("history_meal_in_the_future", lambda r: r["history"][2]["meal"].update(time=future))
    changed("history_cgm_unit_misspelt", lambda r: r["history"][1]["cgm"].update(unit="mmol/l"))
    changed(
        "cgm_and_history_units_misspelt",
        lambda r: [c.update(unit="mg/dl") for c in (r["cgm"], r["history"][0]["cgm"])],
    )
    changed(
        "cgm_unit_misspelt_and_diabetes_kind_unknown",  # a unit error does not hide the other
        lambda r: [r["cgm"].update(unit="mg/dl"), r["profile"].update(diabetes="type3")],
    )
    changed("meal_fiber_misspelt", lambda r: misspell(r["meal"], "fiber_g", "fibre_g"))
    changed("meal_glycemic_index", lambda r: r["meal"].update(glycemic_index=40))
    changed("profile_field_unknown", lambda r: r["profile"].update(weight_kg=80))
    changed("unknown_top_level_key", lambda r: r.update(notes="after the gym"))
    return cases + _schema_bound_requests(personal) + _unknown_key_requests(personal)


def refused_forecast_requests(base: Mapping[str, Any], now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """Forecast requests the server must refuse with 422; `base` is the forecast example moved to `now`
    (`_recent`): a stale or thin last hour, a reading out of range, meals or insulin in the future, and
    every numeric bound of the schema (ForecastRequest)."""
    future = (now + timedelta(days=1)).isoformat()
    cases: list[tuple[str, dict[str, Any]]] = []

    def changed(name: str, edit: Any) -> None:
        request = copy.deepcopy(dict(base))
        edit(request)
        cases.append((f"forecast_{name}", request))

    def stale(request: dict[str, Any]) -> None:
        for r in request["cgm"]["readings"]:
            r["time"] = (datetime.fromisoformat(r["time"]) - timedelta(hours=2)).isoformat()

    def thin_last_hour(request: dict[str, Any]) -> None:
        readings = request["cgm"]["readings"]
        last = datetime.fromisoformat(readings[-1]["time"])
        request["cgm"]["readings"] = [
            r for r in readings if last - datetime.fromisoformat(r["time"]) >= timedelta(minutes=60)
        ] + readings[-2:]

    changed("cgm_two_hours_old", stale)
    changed("cgm_thin_in_the_last_hour", thin_last_hour)
    changed("cgm_value_above_range", lambda r: r["cgm"]["readings"][-1].update(value=650))
    changed("cgm_unit_misspelt", lambda r: r["cgm"].update(unit="mmol"))
    changed("meal_in_the_future", lambda r: r["meals"][0].update(time=future))
    changed("insulin_in_the_future", lambda r: r["insulin"][0].update(time=future))
    changed("diabetes_kind_unknown", lambda r: r["profile"].update(diabetes="gestational"))
    changed("activity_heart_rate_misspelt", lambda r: r["activity"][0].update(heartrate_bpm=90))
    bounds = _schema_bound_requests(base, ForecastRequest) + _unknown_key_requests(base)
    return cases + [(f"forecast_{name}", request) for name, request in bounds]


def refused_cases(models_dir: Path) -> dict[str, object]:
    """Each refused request (impact and forecast) with the server's 422 answer (problem type, detail,
    errors), and `now`: the time the requests were made (a client checks "not in the future" and the
    forecast's "not stale" against it)."""
    now = datetime.now(UTC)
    impact = json.loads((EXAMPLES / "impact.json").read_text())
    forecast = _recent(json.loads((EXAMPLES / "forecast.json").read_text()))
    requests = [(IMPACT_ROUTE, name, r) for name, r in refused_requests(impact, now)]
    requests += [(FORECAST_ROUTE, name, r) for name, r in refused_forecast_requests(forecast, now)]
    requests += [
        (IMPACT_ROUTE if kind == "impact" else FORECAST_ROUTE, name, r)
        for kind, name, r in [
            *refused_device_time_requests(_personal(impact), forecast),
            *refused_time_form_requests(_personal(impact), forecast),
        ]
    ]
    cases = []
    with _app(models_dir) as client:
        max_age_min = client.app.state.runtime.settings.max_cgm_age_min  # type: ignore[attr-defined]
        for route, name, request in requests:
            response = client.post(route, json=request)
            if response.status_code != 422:
                raise RuntimeError(f"refused case {name}: the app answered {response.status_code}, not 422")
            cases.append({"name": name, "route": route, "request": request, "problem": response.json()})
    return {"now": now.isoformat(), "max_cgm_age_min": max_age_min, "cases": cases}


def constants() -> dict[str, object]:
    """The numbers the client mirrors from Python code rather than from a model's metadata."""
    return {
        "what_if": {
            "walk_min": glucose_impact.WALK_WHAT_IF_MIN,
            "extra_fiber_g": glucose_impact.EXTRA_FIBER_G,
            "half_portion_columns": list(glucose_impact.HALF_PORTION_RAW),
        },
        "unavailable_what_ifs": [list(pair) for pair in glucose_impact.UNAVAILABLE_WHAT_IFS],
        "iauc_window_min": IAUC_WINDOW_MIN,
        "calibration": {
            "prior_meals": glucose_calibration.PRIOR_MEALS,
            "min_meals_to_apply": glucose_calibration.MIN_MEALS_TO_APPLY,
            "scale_limits": list(glucose_calibration.SCALE_LIMITS),
        },
        "validation": {
            "glucose_min_mg_dl": GLUCOSE_MIN_MG_DL,
            "glucose_max_mg_dl": GLUCOSE_MAX_MG_DL,
            "min_valid_last_hour": MIN_VALID_LAST_HOUR,
            "baseline_window_min": BASELINE_WINDOW_MIN,
            "min_measured_share": glucose_impact.MIN_MEASURED_SHARE,
            "clock_skew_min": CLOCK_SKEW.total_seconds() / 60.0,
            "max_answer_glucose_mg_dl": MAX_GLUCOSE_MG_DL,
        },
    }


@contextlib.contextmanager
def _population_models(models_dir: Path, population: Path) -> Iterator[Path]:
    """A scratch model repository: `models_dir`'s models, with the response model replaced by the
    population graph kept under `population` (its version folder and config.pbtxt)."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for folder in models_dir.iterdir():
            if folder.is_dir() and folder.name != GLUCOSE_RESPONSE:
                (root / folder.name).symlink_to(folder.resolve(), target_is_directory=True)
        shutil.copytree(population / GLUCOSE_RESPONSE, root / GLUCOSE_RESPONSE)
        yield root


def population_cases(
    models_dir: Path, out: Path, photo: Path | None = None
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """The impact (and, with `photo`, analyze) cases on the population graph under `out`/population, if
    one is kept there, and its metadata; nothing when there is none."""
    population = out / POPULATION_FOLDER
    if not (population / GLUCOSE_RESPONSE).is_dir():
        return [], {}
    with _population_models(models_dir, population) as scratch:
        path, version = _model_file(scratch, GLUCOSE_RESPONSE)
        relative = f"{POPULATION_FOLDER}/{GLUCOSE_RESPONSE}/{version}/{path.name}"
        cases = glucose_cases(
            scratch,
            [r for r in GLUCOSE_REQUESTS if r[0] == "impact"],
            "population_",
            {GLUCOSE_RESPONSE: relative},
            photo,
        )
        return cases, {"glucose_response_population": finite_json(phone_metadata(path))}


def _recent(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request moved by whole 5-minute steps so its last reading is 3-8 minutes old."""
    changed = copy.deepcopy(dict(request))
    times = [datetime.fromisoformat(r["time"]) for r in changed["cgm"]["readings"]]
    step = timedelta(minutes=GRID_STEP_MIN)
    shift = ((datetime.now(UTC) - timedelta(minutes=3) - max(times)) // step) * step
    for section in ("cgm", "meals", "insulin", "activity"):
        value = changed.get(section)
        entries = value.get("readings", []) if isinstance(value, dict) else value or []
        for entry in entries:
            if isinstance(entry, dict) and "time" in entry:
                entry["time"] = (datetime.fromisoformat(entry["time"]) + shift).isoformat()
    return changed


def _personal(request: Mapping[str, Any]) -> dict[str, Any]:
    """The impact request with what a phone may add: the profile, rapid insulin, an earlier meal and
    three past meals with their CGM (1 h before to 3 h after), so every raw input column is exercised."""
    changed = copy.deepcopy(dict(request))
    meal_time = datetime.fromisoformat(changed["meal"]["time"])
    changed["profile"] = {
        **changed.get("profile", {}),
        "age_years": 54,
        "sex": "female",
        "medication": ["oral"],
    }
    changed["insulin"] = [
        {"time": (meal_time - timedelta(minutes=10)).isoformat(), "units": 2.5, "kind": "rapid"},
        {"time": (meal_time - timedelta(hours=4)).isoformat(), "units": 10.0, "kind": "basal"},
    ]
    changed["recent_meals"] = [
        {"time": (meal_time - timedelta(hours=4, minutes=30)).isoformat(), "carbs_g": 35}
    ]
    history = []
    for days, carbs, rise in ((1, 70.0, 60.0), (2, 40.0, 25.0), (3, 90.0, 75.0)):
        start = meal_time - timedelta(days=days, hours=days)  # other times of day
        readings = []
        for minute in range(-60, 181, 5):
            bump = rise * math.sin(math.pi * minute / 180.0) if minute > 0 else 0.0
            readings.append(
                {"time": (start + timedelta(minutes=minute)).isoformat(), "value": round(112.0 + bump, 1)}
            )
        history.append(
            {
                "meal": {"time": start.isoformat(), "carbs_g": carbs, "fat_g": 10.0 * days},
                "cgm": {"unit": "mg/dL", "readings": readings},
            }
        )
    changed["history"] = history
    return changed


def _irregular(request: Mapping[str, Any]) -> dict[str, Any]:
    """The same request with readings off the grid by seconds and a 15- and a 30-min hole."""
    changed = copy.deepcopy(dict(request))
    readings = changed["cgm"]["readings"]
    kept = [r for i, r in enumerate(readings) if i % 13 not in (3, 4) and i % 29 not in (7, 8, 9, 10, 11)]
    for i, reading in enumerate(kept):
        shifted = datetime.fromisoformat(reading["time"]) + timedelta(seconds=(17 * i) % 60 - 30)
        reading["time"] = shifted.isoformat()
    changed["cgm"]["readings"] = kept
    return changed


def _glucose_metadata(models_dir: Path) -> dict[str, object]:
    """Each glucose model's metadata as the bundle's metadata.json has it: what a client builds inputs from."""
    return {
        name: finite_json(phone_metadata(_model_file(models_dir, name)[0]))
        for name in ("glucose_forecast", "glucose_response")
        if (models_dir / name).is_dir()
    }


def write_golden(models_dir: Path, data_dir: Path, out: Path) -> list[Path]:
    """recognizer.json, cgm_resample.json, device_time.json, timestamps.json, glucose.json under `out`;
    returns the paths written. The population graph kept in the repository (mobile/golden/population) is copied beside
    them when `out` is another folder (a bundle's golden/), so its cases run there too; it is never
    rebuilt here."""
    out.mkdir(parents=True, exist_ok=True)
    documents: dict[str, object] = {
        "cgm_resample.json": {
            "grid_step_min": GRID_STEP_MIN,
            "max_interpolated_gap_min": MAX_INTERPOLATED_GAP_MIN,
            "cases": resample_cases(),
        },
        "device_time.json": device_time_cases(),
        "timestamps.json": timestamp_cases(),
    }
    if POPULATION_SOURCE.is_dir() and POPULATION_SOURCE.resolve() != (out / POPULATION_FOLDER).resolve():
        shutil.copytree(
            POPULATION_SOURCE, out / POPULATION_FOLDER, dirs_exist_ok=True
        )  # e.g. a bundle's golden/
    photo: Path | None = data_dir / GOLDEN_PHOTOS[0]
    if photo is None or not photo.is_file():
        logger.warning("golden photo %s missing; no /v1/meals/analyze case", photo)
        photo = None
    population, population_metadata = population_cases(models_dir, out, photo)
    documents["glucose.json"] = {
        "tolerance": GOLDEN_TOLERANCE,
        "metadata": {**_glucose_metadata(models_dir), **population_metadata},
        "constants": constants(),
        "cases": glucose_cases(models_dir, photo=photo) + population,
        "refused": refused_cases(models_dir),
    }
    try:
        documents["recognizer.json"] = {
            "tolerance": GOLDEN_TOLERANCE,
            **recognizer_cases(models_dir, data_dir),
        }
    except FileNotFoundError as err:
        logger.warning("recognizer golden cases not written: %s", err)
    written = []
    for name, document in documents.items():
        path = out / name
        path.write_text(json.dumps(document, separators=(",", ":"), allow_nan=False) + "\n")
        written.append(path)
    return written
