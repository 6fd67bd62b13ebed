// The JavaScript client against the Python serving path's golden cases (mobile/golden, written by
// `mealimpact export mobile-golden`). Models come from the repository's models/ folder, or from a
// bundle when MEALIMPACT_BUNDLE names one (then the ORT files a phone ships are checked).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import * as ort from "onnxruntime-node";

import { MobileBundle } from "../src/bundle.ts";
import { gridWindow, resampleToGrid } from "../src/cgm.ts";
import { forecastFeeds, forecastPoints, type ForecastMetadata } from "../src/forecast.ts";
import {
  explanationFeeds,
  isPersonal,
  peakRises,
  responseCurve,
  responseFeeds,
  shapleyValues,
  type ExplanationMetadata,
  type ResponseMetadata,
} from "../src/response.ts";
import {
  DEFAULT_DECODE,
  decodedSize,
  decodeJpeg,
  decodeJpegPhoto,
  exifOrientation,
  preprocessJpeg,
  type PreprocessSpec,
} from "../src/photo.ts";
import { testPattern } from "../src/pattern.ts";
import { resize } from "../src/resize.ts";
import { fromJson, maxAbsDiff, toNumbers, type JsonTensor } from "../src/tensors.ts";
import { BUNDLE, GOLDEN, REPO, responseMetadataFor, session, type ModelRef } from "./golden-models.ts";

const DATA = process.env.MEALIMPACT_DATA ?? path.join(REPO, "..", "shared", "data");
// Decoded photos: jpeg-js is not libjpeg, so pixels differ by a few levels; measured on the golden
// photos (mobile/README.md) and bounded here: same top class, probabilities and carbohydrate close.
const PHOTO_PROBABILITY_TOLERANCE = 0.05;
const PHOTO_CARBS_RELATIVE_TOLERANCE = 0.1;


const golden = (name: string) => JSON.parse(readFileSync(path.join(GOLDEN, name), "utf8"));
function assertOutputsClose(
  got: ort.InferenceSession.OnnxValueMapType,
  want: Record<string, JsonTensor>,
  tolerance: number,
  label: string,
): number {
  let worst = 0;
  for (const [name, expected] of Object.entries(want)) {
    assert.ok(got[name] !== undefined, `${label}: no output ${name}`);
    assert.deepEqual([...got[name].dims], expected.shape, `${label}: shape of ${name}`);
    const diff = maxAbsDiff(toNumbers(got[name]), toNumbers(fromJson(expected)));
    assert.ok(diff <= tolerance, `${label}: ${name} differs by ${diff} > ${tolerance}`);
    worst = Math.max(worst, diff);
  }
  return worst;
}

describe("CGM onto the 5-min grid, as glucose_model/resample.py", () => {
  const doc = golden("cgm_resample.json");
  for (const c of doc.cases) {
    test(c.name, () => {
      const grid = resampleToGrid(
        { timesUtcS: c.readings.times_utc_s, glucoseMgDl: c.readings.glucose_mg_dl.map((v: number | null) => v ?? NaN) },
        doc.grid_step_min,
        doc.max_interpolated_gap_min,
      );
      assert.deepEqual(grid.timesUtcS, c.grid.times_utc_s);
      const want = c.grid.glucose_mg_dl.map((v: number | null) => v ?? NaN);
      assert.ok(maxAbsDiff(grid.glucoseMgDl, want) <= 1e-9, `${c.name}: grid values differ`);
    });
  }
});

describe("glucose models: every model call of the Python server's requests", () => {
  const doc = golden("glucose.json");
  assert.ok(doc.cases.length > 0, "no glucose golden cases");
  for (const c of doc.cases) {
    test(c.name, async () => {
      const grid = resampleToGrid({ timesUtcS: c.readings.times_utc_s, glucoseMgDl: c.readings.glucose_mg_dl });
      for (const [i, call] of c.calls.entries()) {
        const feeds: Record<string, ort.Tensor> = {};
        for (const [name, tensor] of Object.entries(call.inputs as Record<string, JsonTensor>)) {
          feeds[name] = fromJson(tensor);
          const window = call.inputs_from_cgm_grid[name];
          if (window !== undefined) {
            // Built here from the raw readings, not copied from the case.
            const row = gridWindow(grid, window.first_grid_time_utc_s, window.length);
            const rows = tensor.shape[0];
            const data = new Float32Array(rows * window.length);
            for (let r = 0; r < rows; r++) data.set(row, r * window.length);
            assert.ok(maxAbsDiff(data, toNumbers(feeds[name])) <= 1e-4, `${c.name}: ${name} from the CGM grid`);
            feeds[name] = new ort.Tensor("float32", data, tensor.shape);
          }
        }
        const out = await (await session(call.model)).run(feeds);
        assertOutputsClose(out, call.outputs, doc.tolerance, `${c.name} call ${i} (${call.model.name})`);
      }
    });
  }
});

describe("forecast from raw readings and the person's kind, as a phone would call it", () => {
  const doc = golden("glucose.json");
  const meta = doc.metadata?.glucose_forecast as ForecastMetadata | undefined;
  const usable = meta !== undefined && Array.isArray(meta.inputs) && meta.cgm_steps !== undefined;
  for (const c of doc.cases.filter((x: { route: string }) => x.route.endsWith("/forecast"))) {
    test(c.name, { skip: !usable && "the forecast graph does not take raw CGM (no cgm_steps in its metadata)" }, async () => {
      const m = meta as ForecastMetadata;
      const built = forecastFeeds({ timesUtcS: c.readings.times_utc_s, glucoseMgDl: c.readings.glucose_mg_dl }, c.request.profile?.diabetes, m);
      const call = c.calls.find((x: { model: ModelRef }) => x.model.name === "glucose_forecast");
      for (const [name, tensor] of Object.entries(built.feeds)) {
        assert.ok(maxAbsDiff(toNumbers(tensor), toNumbers(fromJson(call.inputs[name]))) <= 1e-4, `${c.name}: input ${name}`);
      }
      assert.equal(new Date(built.originUtcS * 1000).getTime(), new Date(c.response.origin).getTime(), `${c.name}: origin`);
      const out = await (await session(call.model)).run(built.feeds);
      assertOutputsClose(out, call.outputs, doc.tolerance, c.name);
      const points = forecastPoints(out.glucose_mg_dl, m);
      const median = m.quantiles.indexOf(0.5);
      for (const [i, p] of points.entries()) {
        // The server rounds to whole mg/dL for its answer.
        assert.ok(Math.abs(p.mgDl[median] - c.response.forecast[i].glucose_mg_dl) <= 0.5 + 1e-6, `${c.name}: ${p.horizonMin} min`);
      }
    });
  }
});

/** Row `r` of a recorded (B, ...) input, or set `r` of a (S, H, ...) history input, as numbers. */
function rowOf(t: JsonTensor, r: number): number[] {
  const width = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return toNumbers(fromJson(t)).slice(r * width, (r + 1) * width);
}

describe("response from the request alone, as a phone would call it", () => {
  const doc = golden("glucose.json");
  const cases = doc.cases.filter((x: { route: string }) => x.route === "/v1/meals/impact");
  test("golden cases with history, insulin, an earlier meal and a profile exist, on a personal and a population graph", () => {
    assert.ok(cases.some((c: { name: string }) => c.name === "impact_personal"));
    assert.ok(cases.some((c: { name: string }) => c.name === "population_impact_personal"));
    assert.ok(cases.some((c: { calls: { model: ModelRef }[] }) => !isPersonal(responseMetadataFor(doc, c) as ResponseMetadata)));
  });
  for (const c of cases) {
    const meta = responseMetadataFor(doc, c);
    const usable = meta !== undefined && meta.inputs?.cgm_mg_dl !== undefined;
    test(c.name, { skip: !usable && "the response graph does not take raw inputs (no cgm_mg_dl input)" }, async (t) => {
      const m = meta as ResponseMetadata & ExplanationMetadata;
      const built = responseFeeds(c.request, m);
      const call = c.calls.find((x: { model: ModelRef }) => x.model.name === "glucose_response");
      // The server's batch: every explanation coalition, the last of them the prediction itself.
      const own = 2 ** m.factor_groups.length - 1;
      const slot = isPersonal(m) ? Number(rowOf(call.inputs.history_slot, own)[0]) : 0;
      assert.deepEqual(Object.keys(built.feeds).sort(), Object.keys(call.inputs).sort(), `${c.name}: the graph's inputs`);
      for (const [name, tensor] of Object.entries(built.feeds)) {
        if (name === "history_slot") continue;
        const recorded = name.startsWith("history_") ? rowOf(call.inputs[name], slot) : rowOf(call.inputs[name], own);
        const ours = toNumbers(tensor);
        // A recorded set may be padded to more meals than this request's; the padding is NaN.
        assert.ok(maxAbsDiff(ours, recorded.slice(0, ours.length)) <= 1e-4, `${c.name}: input ${name}`);
        assert.ok(recorded.slice(ours.length).every((v) => Number.isNaN(v) || name === "history_diabetes_kind"));
      }
      const out = await (await session(call.model)).run(built.feeds);
      const want: Record<string, JsonTensor> = {};
      for (const [name, t] of Object.entries(call.outputs as Record<string, JsonTensor>)) {
        want[name] = { dtype: t.dtype, shape: [1, ...t.shape.slice(1)], data: rowOf(t, own) };
      }
      t.diagnostic(`max |JavaScript - server| over the outputs: ${assertOutputsClose(out, want, doc.tolerance, c.name)}`);
      // A population graph's answer is calibrated on the past meals when that helps (test/impact.test.ts
      // checks the calibrated answer); the graph's own curve is the answer only when it is not.
      const calibrated = !isPersonal(m) && c.response.calibration?.applied === true;
      const curve = responseCurve(out, m);
      for (const [i, point] of calibrated ? [] : c.response.curve.entries()) {
        // The server rounds mg/dL to whole numbers in its answer.
        assert.ok(Math.abs(curve.glucoseMgDl[i] - point.glucose_mg_dl) <= 0.5 + 1e-3, `${c.name}: minute ${point.minute}`);
        assert.ok(Math.abs(curve.lowMgDl[i] - point.low_mg_dl) <= 0.5 + 1e-3, `${c.name}: p10 at ${point.minute}`);
        assert.ok(Math.abs(curve.highMgDl[i] - point.high_mg_dl) <= 0.5 + 1e-3, `${c.name}: p90 at ${point.minute}`);
      }
      if (!calibrated) assert.ok(Math.abs(curve.spikeProbability - c.response.spike.probability) <= 5e-4 + 1e-3, `${c.name}: spike`);

      // The explanation from the same file: the coalition rows built here, run, and their Shapley values.
      const rows = explanationFeeds(built, out.features.data as Float32Array, m);
      for (const [name, tensor] of Object.entries(rows)) {
        const recorded = fromJson(call.inputs[name]);
        const take = name.startsWith("history_") ? recorded.dims[0] : own + 1;
        const want = rowOf(call.inputs[name], 0).length;
        const expected = toNumbers(recorded).slice(0, take * want);
        const ours = toNumbers(tensor);
        if (name.startsWith("history_") && ours.length !== expected.length) continue; // padded to another size
        assert.ok(maxAbsDiff(ours, expected) <= 1e-4, `${c.name}: coalition input ${name}`);
      }
      const coalitions = await (await session(call.model)).run(rows);
      const phi = shapleyValues(peakRises(coalitions, m), m.factor_groups.length);
      for (const [g, contribution] of calibrated ? [] : c.response.explanation.contributions.entries()) {
        assert.equal(contribution.factor, m.factor_groups[g]);
        // The server rounds mg/dL to whole numbers in its answer.
        assert.ok(Math.abs(phi[g] - contribution.peak_rise_mg_dl) <= 0.5 + 1e-3, `${c.name}: ${contribution.factor}`);
      }
      t.diagnostic(`Shapley peak-rise contributions here: ${phi.map((v) => v.toFixed(3)).join(", ")}`);
    });
  }
});

describe("food recognizer", () => {
  const doc = golden("recognizer.json");
  const spec = doc.preprocess as PreprocessSpec;

  test("resizing along one axis equals Pillow's pixel for pixel", () => {
    assert.ok(doc.resize_cases.length > 0);
    for (const c of doc.resize_cases) {
      const image = testPattern(c.width, c.height);
      const got = resize(image, c.size[0], c.size[1], spec.interpolation, c.box).data;
      assert.equal(createHash("sha256").update(got).digest("hex"), c.sha256, `resize case ${c.name}`);
    }
  });

  test("EXIF-rotated photos come out upright, as the server turns them", () => {
    assert.ok(doc.exif_cases.length > 0);
    for (const c of doc.exif_cases) {
      const bytes = new Uint8Array(Buffer.from(c.jpeg_base64, "base64"));
      assert.equal(exifOrientation(bytes), c.orientation);
      const { image } = decodeJpegPhoto(bytes, spec, { scaling: "none" });
      const want = fromJson(c.upright);
      assert.deepEqual([image.height, image.width, 3], want.dims, `orientation ${c.orientation}: size`);
      // jpeg-js and libjpeg-turbo round differently: the same picture within a few levels (measured mean 4.2
      // on these 24 x 16 gradients), where a wrong turn is off by tens.
      const data = want.data as Uint8Array;
      let sum = 0;
      for (let i = 0; i < data.length; i++) sum += Math.abs(data[i] - image.data[i]);
      assert.ok(sum / data.length < 8, `orientation ${c.orientation}: mean |diff| ${sum / data.length}`);
    }
  });

  test("the preprocessed tensor gives the server's answers", async () => {
    const withTensor = doc.photos.filter((p: { tensor: JsonTensor | null }) => p.tensor !== null);
    assert.ok(withTensor.length > 0);
    for (const photo of withTensor) {
      const out = await (await session(doc.model)).run({ image: fromJson(photo.tensor) });
      assertOutputsClose(out, photo.outputs, doc.tolerance, photo.photo);
    }
  });

  test("decoded photos (jpeg-js) give the server's class and close numbers", { skip: !existsSync(DATA) && `no photos: ${DATA} is absent` }, async () => {
    for (const photo of doc.photos) {
      const file = path.join(DATA, photo.photo);
      const bytes = readFileSync(file);
      assert.equal(createHash("sha256").update(bytes).digest("hex"), photo.photo_sha256, `${file} changed`);
      if (photo.decoded_size !== undefined) {
        // The server's decode geometry must be the one this client's defaults imitate.
        const { sourceSize } = decodeJpegPhoto(bytes, spec, { scaling: "none" });
        const ours = decodedSize(sourceSize[0], sourceSize[1], spec.resize_short_side_px, DEFAULT_DECODE.scaling);
        const hint = "the server decodes photos another way now: change DEFAULT_DECODE in src/photo.ts";
        assert.deepEqual(ours, photo.decoded_size, `${photo.photo}: decoded size; ${hint}`);
        assert.equal(DEFAULT_DECODE.cropOn, photo.crop_placed_on, `${photo.photo}: crop placement; ${hint}`);
      }
      const pixels = preprocessJpeg(bytes, spec);
      const out = await (await session(doc.model)).run({ image: new ort.Tensor("uint8", pixels, [1, spec.crop_px, spec.crop_px, 3]) });
      const got = toNumbers(out.probabilities);
      const want = toNumbers(fromJson(photo.outputs.probabilities));
      const argmax = (v: number[]) => v.indexOf(Math.max(...v));
      assert.equal(argmax(got), argmax(want), `${photo.photo}: top class`);
      assert.ok(maxAbsDiff(got, want) <= PHOTO_PROBABILITY_TOLERANCE, `${photo.photo}: probabilities`);
      const carbs = toNumbers(out.carbs_g);
      const wantCarbs = toNumbers(fromJson(photo.outputs.carbs_g));
      assert.ok(Math.abs(carbs[1] - wantCarbs[1]) <= PHOTO_CARBS_RELATIVE_TOLERANCE * wantCarbs[1], `${photo.photo}: carbs`);
      decodeJpeg(bytes, spec); // decodes without the draft reduction too
    }
  });
});

describe("the bundle as an app opens it", { skip: BUNDLE === undefined && "MEALIMPACT_BUNDLE not set" }, () => {
  test("recognizeJpeg on the file to ship gives the server's top class", { skip: !existsSync(DATA) && `${DATA} is absent` }, async () => {
    const bundle = await MobileBundle.open(BUNDLE ?? "");
    const doc = golden("recognizer.json");
    const labels = bundle.metadata.get("food_recognizer")?.labels as { name: string }[];
    for (const photo of doc.photos) {
      const got = await bundle.recognizeJpeg(readFileSync(path.join(DATA, photo.photo)));
      const want = toNumbers(fromJson(photo.outputs.probabilities));
      assert.equal(got.topClass, labels[want.indexOf(Math.max(...want))].name, photo.photo);
      assert.ok(got.carbsG[0] <= got.carbsG[1] && got.carbsG[1] <= got.carbsG[2]);
    }
  });
});
