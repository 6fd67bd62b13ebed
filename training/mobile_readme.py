"""README.md of a mobile bundle: what to ship, the input contracts, golden cases, checksums, versions.

Written from the bundle itself (manifest, metadata), so it cannot disagree with the files beside it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from glucose_model.impact import EXTRA_FIBER_G, WALK_WHAT_IF_MIN
from glucose_model.resample import GRID_STEP_MIN, MAX_INTERPOLATED_GAP_MIN
from training.mobile_bundle import (
    FP32_ORT_FILE,
    INT8_CARBS_STRICT_SHARE,
    INT8_CARBS_TOLERANCE,
    INT8_MAX_BYTES,
    INT8_ORT_FILE,
    INT8_ORT_STYLE,
    INT8_ORT_TARGET,
    INT8_TOP1_AGREEMENT_MIN,
    REFERENCE_FILE,
    ModelBundle,
)
from training.mobile_golden import GOLDEN_TOLERANCE

README_NAME = "README.md"


def _contract(metadata: dict[str, object]) -> list[str]:
    """The graph contract of metadata.json as a table per set of files that share it (`graph_files`,
    then each of `other_graphs`)."""
    others = metadata.get("other_graphs", [])
    assert isinstance(others, list)
    lines: list[str] = []
    for graph in [metadata, *others]:
        files = graph.get("graph_files", graph.get("files", []))
        if others:
            lines += [f"{', '.join(f'`{f}`' for f in files)}:", ""]
        lines += ["| tensor | dtype | shape |", "| --- | --- | --- |"]
        for section in ("graph_inputs", "graph_outputs"):
            tensors = graph.get(section, {})
            assert isinstance(tensors, dict)
            for name, spec in tensors.items():
                direction = "in" if section == "graph_inputs" else "out"
                lines.append(f"| {direction}: `{name}` | {spec['dtype']} | {spec['shape']} |")
        lines.append("")
    return lines[:-1]


def _described(metadata: dict[str, object]) -> list[str]:
    """The model's own words on units and inputs (metadata `inputs` / `units`), verbatim."""
    lines = []
    for key in ("inputs", "units", "feature_names", "series_channels", "context_features", "input_scaling"):
        value = metadata.get(key)
        if value:
            lines.append(f"- `{key}`: `{json.dumps(value)[:1500]}`")
    return lines


def _input_specs(metadata: dict[str, object]) -> list[str]:
    """Each input the metadata describes (shape, unit, columns with units, codes), as Markdown; [] when the
    model's `inputs` is not such a description (then `_described` prints what it has)."""
    inputs = metadata.get("inputs")
    if not isinstance(inputs, dict) or not all(isinstance(v, dict) for v in inputs.values()):
        return []
    lines = [
        "Every input, as the model's metadata (`inputs`) describes it; NaN = not known unless said otherwise:",
        "",
    ]
    for name, spec in inputs.items():
        lines.append(f"- `{name}` {spec.get('shape')}: {spec.get('unit', '')}")
        if "minutes" in spec:
            minutes = spec["minutes"]
            lines.append(f"  - grid minutes relative to the meal: {minutes[0]} .. {minutes[-1]} every 5")
        if "codes" in spec:
            lines.append(f"  - codes: {json.dumps(spec['codes'])}")
        for column in spec.get("columns", []):
            extra = f" (explanation factor: {column['group']})" if "group" in column else ""
            lines.append(f"  - column `{column['name']}`: {column['unit']}{extra}")
    return lines


def _response_notes(metadata: dict[str, object]) -> list[str]:
    """How to read the response model's outputs and rebuild its explanation, for a raw-input graph."""
    inputs = metadata.get("inputs")
    if not isinstance(inputs, dict) or "cgm_mg_dl" not in inputs or "meal" not in inputs:
        return []
    reference = metadata.get("reference_meal", {})
    raw = reference.get("raw", {}) if isinstance(reference, dict) else {}
    groups = metadata.get("factor_groups")
    n_groups = len(groups) if isinstance(groups, list) else 0
    # A personal graph (person_fields) takes the person and the past meals as inputs; a population one
    # (`train glucose`) takes the four row inputs, and its answer is calibrated on the past meals outside it.
    personal = isinstance(metadata.get("person_fields"), list)
    history = (
        [
            "For no history send one all-NaN history set (`history_slot` 0, `history_diabetes_kind` -1).",
        ]
        if personal
        else [
            "A population graph: no person or history inputs; the server runs the request's past meals as extra",
            "rows and fits a ridge scale/offset of the rise to the glucose measured after them when leave-one-out",
            "says it helps (glucose_model/calibration.py; `mobile/src/impact.ts` ports it).",
        ]
    )
    past = "the past meals the last factor via `history_slot`" if personal else "no past-meal factor"
    return [
        "",
        "The graph builds every feature itself (masks, the pre-meal baseline = mean of the last 30 min, the",
        "trend, known bits, time of day, kind one-hot and spike threshold): send the numbers the request has,",
        "NaN for the rest. `mobile/src/response.ts` fills these columns from an impact request (the same JSON",
        "as `POST /v1/meals/impact`) and the raw readings. Outputs: `rise_mg_dl` at `curve_minutes` x `quantiles`",
        "(change from the baseline), `spike_probability`, `spike_logit_per_mg_dl`, and `features`, the graph's own",
        "inputs to its network: add its `baseline_glucose_mg_dl` column to the rise for the glucose curve.",
        *history,
        "",
        f"Explanation: the server runs 2^{n_groups} rows, each mixing the request's",
        "raw columns of some factor groups (the `group` of each column above; the CGM window is the glucose group,",
        f"{past}) with the reference meal's (`reference_meal.raw`:",
        f"`{json.dumps(raw.get('meal_and_context', {}))}`, CGM flat at the kind's baseline), and takes exact",
        "Shapley values of the peak rise and 2-h iAUC over them (glucose_model/explanation.py). Columns the",
        "request left unknown (a known bit 0 in `features`) keep the request's NaN in the reference too.",
        "",
        f"What-ifs (half portion, +{EXTRA_FIBER_G:.0f} g fibre, a {WALK_WHAT_IF_MIN:.0f}-min walk; a lower-GI swap and"
        " protein or vegetables first are answered not available, with why): rows in the same batch with raw",
        "columns changed; where the request left that column unknown, a second row with the reference meal's",
        "value, and the change is the difference of the two peaks. A photo's carbohydrate p10/p90 adds two rows",
        "that widen the band. `mobile/src/impact.ts` (`predictImpact`) builds the server's batch and reads it as",
        "the server does (the golden `result` of each case, matched to 1e-3); `mobile/src/validate.ts` refuses",
        "what the server answers 422 to (golden `refused`), so the graph, which refuses nothing, never sees it.",
    ]


def _int8_section(bundle: ModelBundle) -> list[str]:
    agreement = bundle.int8
    if agreement is None:
        return ["No int8 variant was tried (`--no-int8`)."]
    tuned = (
        f", then fine-tuned by distillation from fp32 on {agreement.distillation_views} views"
        if agreement.distillation_views
        else ""
    )
    floor = agreement.fp32_cross_decoder_carbs_interval_share
    lines = [
        f"int8 (full-integer QDQ, per-channel weights, bias-corrected, calibrated on {agreement.calibration_views} "
        f"augmented views of {agreement.photos} real D1NAMO photos of {agreement.people} people{tuned}) against fp32:",
        "",
        "| figure | int8, held-out people | int8, in-sample | int8 file on this CPU | fp32 vs fp32, another JPEG decoder | needed |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| top-1 class unchanged | {agreement.held_out_top1_agreement:.1%} | {agreement.in_sample_top1_agreement:.1%} "
        f"| {agreement.this_cpu_top1_agreement:.1%} | {agreement.fp32_cross_decoder_top1_agreement:.1%} "
        f"| held-out and in-sample >= {INT8_TOP1_AGREEMENT_MIN:.0%} |",
        f"| carbohydrate p10/p50/p90 each within {INT8_CARBS_TOLERANCE:.0%} of the median | "
        f"{agreement.held_out_carbs_interval_share:.1%} | {agreement.in_sample_carbs_interval_share:.1%} | "
        f"{agreement.this_cpu_carbs_interval_share:.1%} | {floor:.1%} | held-out and in-sample >= the fp32 cross-decoder share |",
        f"| largest relative change of a carbohydrate quantile, median / p90 of photos | "
        f"{agreement.held_out_carbs_change_median:.1%} / {agreement.held_out_carbs_change_p90:.1%} | | | "
        f"{agreement.fp32_cross_decoder_carbs_change_median:.1%} / {agreement.fp32_cross_decoder_carbs_change_p90:.1%} | |",
        f"| size of `{INT8_ORT_FILE}` | {agreement.size_bytes / 1e6:.3f} MB | | | | <= {INT8_MAX_BYTES / 1e6:.1f} MB |",
        "",
        "Held-out: each person's photos through an int8 model calibrated and fine-tuned without that person's photos",
        "(judges the recipe); in-sample and this CPU: the shipped file on the same photos (which it was calibrated on),",
        "as written and with this CPU's fused kernels. Both the recipe and the shipped file itself must pass: a file",
        "that does not keep fp32's class on 97% of the only real photos we have does not ship. fp32 vs fp32: the server's fp32 model on the same photos decoded whole (no DCT",
        "scaling) against the same model on the server's decoding: two correct decoders of the same JPEG. A phone's",
        "decoder differs from the server's as much, so even the fp32 file on a phone keeps the server's carbohydrate",
        "interval on only about that share of photos; int8 is held to it: it must not move the interval more often",
        "than changing the decoder does. Held-out int8 models on the other decoding against fp32 on the server's",
        f"(both changes at once, as on a phone): top-1 {agreement.held_out_other_decoder_top1_agreement:.1%}, "
        f"carbohydrate interval {agreement.held_out_other_decoder_carbs_interval_share:.1%}.",
        "",
        f"The earlier bar, {INT8_CARBS_STRICT_SHARE:.0%} of photos with the interval unchanged, is "
        f"{'met' if agreement.strict_carbs_bar_met else 'missed'} ({agreement.held_out_carbs_interval_share:.1%}); "
        f"it is reported, not checked, because the fp32 model itself keeps its interval on "
        f"{agreement.fp32_cross_decoder_carbs_interval_share:.1%} of these photos between two decoders.",
    ]
    if bundle.int8_problems:
        lines += [
            "",
            f"**The int8 file is not in this bundle**: {'; '.join(bundle.int8_problems)}. Ship `{FP32_ORT_FILE}`.",
        ]
    else:
        lines += [
            "",
            f"The int8 file passed every check: ship `{INT8_ORT_FILE}` ({agreement.size_bytes / 1e6:.2f} MB instead of "
            f"{_size_mb(bundle, FP32_ORT_FILE)}). It is ONNX Runtime's *{INT8_ORT_STYLE}* style for "
            f"{INT8_ORT_TARGET.upper()}: the int8 graph stored already fused for the CPU execution provider "
            "(QLinearConv, QLinearAdd), so any ONNX Runtime build with those kernels, minimal builds included, runs it",
            "in integer arithmetic with no session option. For NNAPI (Android) or Core ML (iOS), which take a QDQ or",
            f"float graph and not these fused nodes, use `{FP32_ORT_FILE}` (runtime style); the Fixed style was chosen",
            "because the runtime style of the same int8 graph measured 5.24 MB, over the 5 MB budget (the recognizer's",
            'model card, "Mobile bundle", has the figures).',
        ]
    return lines


def _size_mb(bundle: ModelBundle, name: str) -> str:
    sizes = [f.size_bytes for f in bundle.files if Path(f.path).name == name]
    return f"{sizes[0] / 1e6:.2f} MB for `{name}`" if sizes else f"`{name}`"


def write_readme(bundles: Sequence[ModelBundle], out: Path, golden_files: Sequence[str]) -> Path:
    """Write README.md into the bundle folder `out`; returns its path."""
    lines = [
        "# mealimpact mobile bundle",
        "",
        "Everything a phone app needs to run the three models without Python: ONNX Runtime files, each model's",
        "metadata, golden cases with the Python server's answers, and checksums. Written by",
        "`mealimpact export mobile --out DIR`; re-run it after any model changes.",
        "",
        "## What to ship",
        "",
        "| model | version | embed this file | size | sha256 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for bundle in bundles:
        shipped = next(f for f in bundle.files if Path(f.path).name == bundle.ship)
        lines.append(
            f"| {bundle.name} | {bundle.version} | `{shipped.path}` | {shipped.size_bytes / 1e6:.3f} MB | `{shipped.sha256[:16]}...` |"
        )
    lines += [
        "",
        "- iOS and Android: the `.ort` files (ONNX Runtime format) load in `onnxruntime-react-native`,",
        "  `onnxruntime-objc` / `onnxruntime-c` (CocoaPods `onnxruntime-mobile-*` or `onnxruntime-*`) and",
        "  `com.microsoft.onnxruntime:onnxruntime-android`, full or mobile (reduced) packages. The fp32 files are",
        "  saved with ONNX Runtime's *runtime* optimisation style: the CPU kernels, NNAPI (Android) and Core ML (iOS)",
        f"  all take them; the recognizer's `{INT8_ORT_FILE}`, when there is one, is *{INT8_ORT_STYLE.lower()}* style",
        "  (fused for the CPU kernels; see the recognizer below). The recognizer's files have batch 1 fixed (what NNAPI and Core ML need; a phone sends one",
        "  photo); the glucose files keep a dynamic batch (the explanation runs its coalitions as one batch).",
        "  ONNX Runtime replays a runtime-style file's saved optimisations (its fusions for the CPU) only with the session",
        "  config entry `session.enable_saved_runtime_optimizations` = `1` (JavaScript: `extra: {session:",
        "  {enable_saved_runtime_optimizations: '1'}}`; `mobile/src/bundle.ts` sets it).",
        f"- `{REFERENCE_FILE}` in each folder is the exact file the server runs: for checking, not for the app.",
        "- `metadata.json`: the model's own metadata (labels, units, versions, metrics, training data) plus the",
        "  graph contract (`graph_inputs`, `graph_outputs`) of the file to ship and of every file in `graph_files`;",
        "  a file whose shapes differ is in `other_graphs` with its own (the recognizer's `model.fp32.onnx` takes",
        "  any batch, its `.ort` files batch 1).",
        "",
        "## Input contracts",
    ]
    for bundle in bundles:
        metadata = json.loads((out / bundle.name / "metadata.json").read_text())
        lines += ["", f"### {bundle.name} (version {bundle.version})", "", *_contract(metadata), ""]
        preprocess = metadata.get("preprocess")
        if isinstance(preprocess, dict):
            lines += [
                "The photo: decode the JPEG (the server decodes large JPEGs at libjpeg-turbo's smallest n/8 scale "
                "keeping both sides >= the resize target, and places the crop as on the full photo), turn it upright "
                "by its EXIF orientation, resize the shorter side to "
                f"{preprocess['resize_short_side_px']} px ({preprocess['interpolation']}, Pillow's filter), cut the centre "
                f"{preprocess['crop_px']} x {preprocess['crop_px']} square, feed it as **uint8 RGB, HWC, 0..255**, shape "
                f"[1, {preprocess['crop_px']}, {preprocess['crop_px']}, 3]. **Normalisation is inside the graph**: do not "
                "subtract a mean or divide by a std (the metadata lists none for that reason).",
                "",
                "Outputs: `probabilities` per label (`labels` in metadata.json, in order), `food_probability` (compare "
                "with `food_threshold`), `carbs_g` and `kcal` as p10, p50, p90, `embedding` (L2-normalised, for the "
                "few-shot classes described in the recognizer's model card).",
                "",
                *_int8_section(bundle),
            ]
        elif _input_specs(metadata):
            lines += [*_input_specs(metadata), *_response_notes(metadata)]
        else:
            lines += _described(metadata)
    lines += [
        "",
        "### CGM on the 5-minute grid",
        "",
        f"Glucose inputs are built from CGM readings put on a clock grid: grid times are multiples of {GRID_STEP_MIN * 60} s",
        "since the Unix epoch (UTC); a grid time takes the reading at that exact second if there is one, else the",
        f"straight line between the readings before and after it when they are at most {MAX_INTERPOLATED_GAP_MIN} min apart,",
        "else NaN (a gap, never bridged). Readings that are NaN count as absent. `mobile/src/cgm.ts` is this rule",
        "in TypeScript (glucose_model/resample.py in Python); the golden file `cgm_resample.json` checks it.",
        "Reading times carry their UTC offset, or are the device's clock time with `cgm.tz` naming its IANA zone:",
        "then a time without an offset gets the zone's (serving/device_time.py; in the hour the clocks go back,",
        "the first pass, so send the offset for the second; a skipped time gets the offset before the change).",
        "`mobile/src/device-time.ts` does the same with `Intl`; `device_time.json` checks it.",
        "Every time field is read as the server's pydantic reads it: `YYYY-MM-DD`, `T`, `t`, `_` or a space,",
        "`HH:MM[:SS[.fraction]]` and `Z` or `+HH:MM` / `+HHMM`; not `+01` (hours only), week dates or the basic",
        'format, and never a number, as JSON or in a string (`"1767270896"`: the server does not guess seconds or',
        "milliseconds). `mobile/src/timestamp.ts` reads them so; `timestamps.json` checks it.",
        "",
        "## Golden cases",
        "",
        f"`golden/` ({', '.join(sorted(golden_files))}): inputs and the Python server's answers, tolerance {GOLDEN_TOLERANCE:g}",
        "(absolute, every output):",
        "",
        "- `recognizer.json`: one photo's preprocessed tensor (base64 uint8) and every output; real D1NAMO photos",
        "  by path (relative to the data folder) with their answers; Pillow resizes of test patterns (exact digests).",
        "- `cgm_resample.json`: raw readings (irregular, gaps, missing values) and the grid they must give.",
        "- `device_time.json`: zone names and reading times without an offset (around every change of offset of",
        "  ten zones) with what the server makes of them (the time with its offset, or its refusal of the zone).",
        "- `timestamps.json`: time strings in many forms (and every one-character edit of a few) with the",
        "  server's verdict, as a time field and as a CGM reading with `cgm.tz`: the instant, or its refusal.",
        "- `glucose.json`: the server's example requests (`serving/examples`), each with every model call it made",
        "  (inputs, outputs, model version and sha256) and the HTTP answer. An input listed under",
        "  `inputs_from_cgm_grid` equals a window of the request's resampled CGM and is rebuilt from the raw",
        "  readings by the client. Each impact case also has the predictor's unrounded `result` (curve, peak, spike,",
        "  contributions to the peak rise and 2-h iAUC, what-ifs, calibration); `refused` lists requests the server",
        "  answers 422 with its problem (type, detail, errors); `population_*` cases run a tiny population graph",
        "  kept in `golden/population`.",
        "",
        "Tensors: `{dtype, shape, data}` with `null` for NaN, or `{dtype: uint8, shape, base64}`.",
        "",
        "## Reference client (TypeScript, no Python)",
        "",
        "`mobile/` in the repository: `onnxruntime-node` (the API of onnxruntime-react-native and onnxruntime-web),",
        "`jpeg-js` to decode photos, a Pillow-exact resize, the CGM grid. To check this bundle's ORT files against",
        "its golden cases:",
        "",
        "```",
        "cd mobile && ONNXRUNTIME_NODE_INSTALL=skip npm ci",
        f"MEALIMPACT_BUNDLE={out.resolve()} MEALIMPACT_GOLDEN={(out / 'golden').resolve()} npm test",
        "```",
        "",
        "Decoded photos are not bit-identical to the server's (jpeg-js is not libjpeg-turbo; the server decodes large",
        "JPEGs at n/8 scale in the DCT, which the client imitates by area averaging): on the 48 D1NAMO photos the top",
        "class was the same for 47, probabilities within 0.05 for 90 % of photos (max 0.09), the carbohydrate",
        "interval within 13 % of the median for 90 % of photos (`mobile/README.md` has the command and the table).",
        "On the preprocessed tensor the answers agree to 1e-6.",
        "",
        "## Checksums",
        "",
        "`sha256sum -c SHA256SUMS` in this folder; `manifest.json` lists every file with size and sha256 (the digest",
        "the server's `GET /v1/models` reports for the ONNX files).",
        "",
    ]
    path = out / README_NAME
    path.write_text("\n".join(lines))
    return path
