// The recognizer's phone files on the phone's path: each D1NAMO photo decoded by this client (jpeg-js,
// src/photo.ts preprocessJpeg) and run through the bundle's model.fp32.ort and, when present,
// model.int8.ort, against the Python server's fp32 answer on the server's own decoding (the golden file's
// outputs): same top-1 class, and carbohydrate p10/p50/p90 each within 5 % of the server's median
// (the bundle's carbohydrate rule). The fp32 row is the decoder's share alone; int8 adds its own. Usage:
//   mealimpact export mobile-golden --out /tmp/g --all-photos     (every D1NAMO photo, with the server's outputs)
//   npx tsx scripts/phone-path.ts /tmp/g/recognizer.json /tmp/bundle ../../shared/data
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";

import { preprocessJpeg, type PreprocessSpec } from "../src/photo.ts";
import { fromJson, toNumbers } from "../src/tensors.ts";

const CARBS_TOLERANCE = 0.05; // training/mobile_bundle.py INT8_CARBS_TOLERANCE
const [goldenFile, bundleDir, dataDir] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(goldenFile, "utf8"));
const spec = doc.preprocess as PreprocessSpec;
const folder = path.join(bundleDir, doc.model.name);
const argmax = (v: number[]) => v.indexOf(Math.max(...v));
for (const file of ["model.fp32.ort", "model.int8.ort"]) {
  if (!existsSync(path.join(folder, file))) {
    console.log(`${file}: not in this bundle`);
    continue;
  }
  const session = await ort.InferenceSession.create(path.join(folder, file));
  let top1 = 0;
  let interval = 0;
  for (const photo of doc.photos) {
    const pixels = preprocessJpeg(readFileSync(path.join(dataDir, photo.photo)), spec);
    const out = await session.run({ image: new ort.Tensor("uint8", pixels, [1, spec.crop_px, spec.crop_px, 3]) });
    if (argmax(toNumbers(out.probabilities)) === argmax(toNumbers(fromJson(photo.outputs.probabilities)))) top1++;
    const [got, want] = [toNumbers(out.carbs_g), toNumbers(fromJson(photo.outputs.carbs_g))];
    if (got.every((v, i) => Math.abs(v - want[i]) <= CARBS_TOLERANCE * Math.abs(want[1]))) interval++;
  }
  const n = doc.photos.length;
  const pct = (k: number) => `${((100 * k) / n).toFixed(1)} %`;
  console.log(
    `${file} on jpeg-js pixels vs the server's fp32 on its decoding, ${n} photos: ` +
      `top-1 ${top1}/${n} (${pct(top1)}), carbohydrate interval ${interval}/${n} (${pct(interval)})`,
  );
}
