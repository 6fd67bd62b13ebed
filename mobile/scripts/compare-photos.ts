// How far the JavaScript photo path (jpeg-js decode, draft emulation, Pillow-exact resize) lands from
// the Python server's, photo by photo. Usage:
//   mealimpact export mobile-golden --out /tmp/g --all-photos     (every D1NAMO photo, with tensors)
//   npx tsx scripts/compare-photos.ts /tmp/g/recognizer.json ../models ../../shared/data
import { readFileSync } from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";

import { DEFAULT_DECODE, preprocessJpeg, type DecodeOptions, type PreprocessSpec } from "../src/photo.ts";
import { fromJson, maxAbsDiff, toNumbers } from "../src/tensors.ts";

const [goldenFile, modelsDir, dataDir] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(goldenFile, "utf8"));
const spec = doc.preprocess as PreprocessSpec;
const session = await ort.InferenceSession.create(path.join(modelsDir, doc.model.name, String(doc.model.version), "model.onnx"));
const variants: [string, DecodeOptions][] = [
  [`default ${JSON.stringify(DEFAULT_DECODE)}`, {}],
  ["full decode, crop on the full photo", { scaling: "none", cropOn: "source" }],
];
for (const [name, options] of variants) {
  const rows = { pixelMax: [] as number[], pixelMean: [] as number[], top1: 0, probMax: [] as number[], carbsRel: [] as number[] };
  for (const photo of doc.photos) {
    const pixels = preprocessJpeg(readFileSync(path.join(dataDir, photo.photo)), spec, options);
    if (photo.tensor) {
      const want = fromJson(photo.tensor).data as Uint8Array;
      let sum = 0;
      let max = 0;
      for (let i = 0; i < want.length; i++) {
        const d = Math.abs(want[i] - pixels[i]);
        sum += d;
        max = Math.max(max, d);
      }
      rows.pixelMax.push(max);
      rows.pixelMean.push(sum / want.length);
    }
    const out = await session.run({ image: new ort.Tensor("uint8", pixels, [1, spec.crop_px, spec.crop_px, 3]) });
    const got = toNumbers(out.probabilities);
    const want = toNumbers(fromJson(photo.outputs.probabilities));
    if (got.indexOf(Math.max(...got)) === want.indexOf(Math.max(...want))) rows.top1++;
    rows.probMax.push(maxAbsDiff(got, want));
    const carbs = toNumbers(out.carbs_g);
    const wantCarbs = toNumbers(fromJson(photo.outputs.carbs_g));
    rows.carbsRel.push(Math.max(...[0, 1, 2].map((i) => Math.abs(carbs[i] - wantCarbs[i]) / wantCarbs[1])));
  }
  const q = (v: number[], p: number) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(p * v.length))];
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
  console.log(
    `${name}: ${doc.photos.length} photos; same top-1 ${rows.top1}/${doc.photos.length}; ` +
      `pixel |diff| mean ${mean(rows.pixelMean).toFixed(2)}, max ${Math.max(...rows.pixelMax)}; ` +
      `probability max |diff| median ${q(rows.probMax, 0.5).toFixed(4)}, p90 ${q(rows.probMax, 0.9).toFixed(4)}, max ${Math.max(...rows.probMax).toFixed(4)}; ` +
      `carbs interval max |diff| / median: median ${q(rows.carbsRel, 0.5).toFixed(3)}, p90 ${q(rows.carbsRel, 0.9).toFixed(3)}, max ${Math.max(...rows.carbsRel).toFixed(3)}`,
  );
}
