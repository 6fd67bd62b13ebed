// The int8 recognizer of a bundle (MEALIMPACT_BUNDLE, written by `mealimpact export mobile`), held to its own
// rule rather than to the golden cases' 1e-3 (those are the fp32 server's answers; int8 arithmetic is not
// that close by design). The rule training/mobile_bundle.py ships it by is judged twice, on held-out people
// (models calibrated without them) and on the shipped file itself (in-sample, the photos it was calibrated
// on): top-1 class agreement with fp32 >= 97 %, and the carbohydrate p10/p50/p90 each within 5 % of the fp32
// median on at least the share of photos on which the fp32 model keeps its own interval between two JPEG
// decoders (the manifest's fp32_cross_decoder_carbs_interval_share). A bundle whose int8 file misses any
// of these ships model.fp32.ort, and then every test here is skipped. Here the
// shipped file itself runs on the pixels this client decodes (jpeg-js, the phone's path): its carbohydrate
// share must reach that floor, and its top-1 agreement must be what the manifest says of the file on this
// CPU (this_cpu_top1_agreement, on the server's decoding) within one photo, as a decoder change moves
// the fp32 model's own class on one photo in 48.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import * as ort from "onnxruntime-node";

import { MobileBundle } from "../src/bundle.ts";
import { preprocessJpeg, type PreprocessSpec } from "../src/photo.ts";
import { fromJson, toNumbers } from "../src/tensors.ts";
import { BUNDLE, REPO } from "./golden-models.ts";

const DATA = process.env.MEALIMPACT_DATA ?? path.join(REPO, "..", "shared", "data");
const RECOGNIZER = "food_recognizer";
const INT8 = "model.int8.ort";
const FP32 = "model.fp32.ort";

interface Int8Figures {
  photos: number;
  this_cpu_top1_agreement: number;
  held_out_top1_agreement: number;
  held_out_carbs_interval_share: number;
  in_sample_top1_agreement: number;
  in_sample_carbs_interval_share: number;
  fp32_cross_decoder_carbs_interval_share: number;
  size_bytes: number;
}

interface RecognizerEntry {
  ship: string;
  files: { path: string; size_bytes: number; sha256: string }[];
  int8: Int8Figures | null;
  int8_problems: string[];
  int8_rules?: { top1_agreement_min: number; carbs_tolerance_of_median: number; max_bytes: number };
}

function recognizerEntry(): RecognizerEntry | undefined {
  if (BUNDLE === undefined) return undefined;
  const manifest = JSON.parse(readFileSync(path.join(BUNDLE, "manifest.json"), "utf8"));
  return manifest.models.find((m: { name: string }) => m.name === RECOGNIZER);
}

const entry = recognizerEntry();
const shipsInt8 = entry?.ship === INT8;
const skip = BUNDLE === undefined ? "MEALIMPACT_BUNDLE not set" : !shipsInt8 ? "the bundle ships no int8 recognizer" : false;

const argmax = (v: number[]) => v.indexOf(Math.max(...v));

describe("the bundle's int8 recognizer, by its own agreement rule", { skip }, () => {
  test("the manifest's figures pass the rule it ships by, and the file is the one it lists", () => {
    assert.ok(entry !== undefined && entry.int8 !== null && entry.int8_rules !== undefined);
    const { int8, int8_rules: rules } = entry;
    assert.deepEqual(entry.int8_problems, []);
    assert.ok(int8.held_out_top1_agreement >= rules.top1_agreement_min);
    assert.ok(int8.held_out_carbs_interval_share >= int8.fp32_cross_decoder_carbs_interval_share);
    assert.ok(int8.in_sample_top1_agreement >= rules.top1_agreement_min, `in-sample top-1 ${int8.in_sample_top1_agreement}`);
    assert.ok(int8.in_sample_carbs_interval_share >= int8.fp32_cross_decoder_carbs_interval_share);
    const listed = entry.files.find((f) => f.path.endsWith(`/${INT8}`));
    assert.ok(listed !== undefined, "model.int8.ort is not in the manifest's files");
    const bytes = readFileSync(path.join(BUNDLE ?? "", listed.path));
    assert.equal(createHash("sha256").update(bytes).digest("hex"), listed.sha256);
    assert.equal(bytes.length, int8.size_bytes);
    assert.ok(bytes.length <= rules.max_bytes, `${bytes.length} bytes > ${rules.max_bytes}`);
  });

  test("onnxruntime-node runs it: the golden photo's tensor gives fp32's class and an ordered interval", async () => {
    const bundle = await MobileBundle.open(BUNDLE ?? "");
    const doc = JSON.parse(readFileSync(path.join(BUNDLE ?? "", "golden", "recognizer.json"), "utf8"));
    const withTensor = doc.photos.filter((p: { tensor: unknown }) => p.tensor !== null);
    assert.ok(withTensor.length > 0);
    for (const photo of withTensor) {
      const int8 = await bundle.run(RECOGNIZER, { image: fromJson(photo.tensor) }, INT8);
      const fp32 = await bundle.run(RECOGNIZER, { image: fromJson(photo.tensor) }, FP32);
      assert.equal(argmax(toNumbers(int8.probabilities)), argmax(toNumbers(fp32.probabilities)), photo.photo);
      const carbs = toNumbers(int8.carbs_g);
      assert.ok(carbs.every(Number.isFinite) && carbs[0] <= carbs[1] && carbs[1] <= carbs[2], `${photo.photo}: ${carbs}`);
    }
  });

  test(
    "on the D1NAMO photos as this client decodes them, the file keeps fp32's class and interval as the manifest says",
    { skip: !existsSync(path.join(DATA, "d1namo")) && `${DATA}/d1namo is absent` },
    async () => {
      assert.ok(entry !== undefined && entry.int8 !== null && entry.int8_rules !== undefined);
      const bundle = await MobileBundle.open(BUNDLE ?? "");
      const spec = bundle.metadata.get(RECOGNIZER)?.preprocess as PreprocessSpec;
      const root = path.join(DATA, "d1namo");
      const files = readdirSync(root)
        .filter((person) => existsSync(path.join(root, person, "food_pictures")))
        .flatMap((person) =>
          readdirSync(path.join(root, person, "food_pictures"))
            .filter((f) => f.endsWith(".jpg"))
            .map((f) => path.join(root, person, "food_pictures", f)),
        );
      assert.equal(files.length, entry.int8.photos);
      let sameTop1 = 0;
      let sameInterval = 0;
      for (const file of files) {
        const pixels = preprocessJpeg(readFileSync(file), spec);
        const image = new ort.Tensor("uint8", pixels, [1, spec.crop_px, spec.crop_px, 3]);
        const int8 = await bundle.run(RECOGNIZER, { image }, INT8);
        const fp32 = await bundle.run(RECOGNIZER, { image }, FP32);
        if (argmax(toNumbers(int8.probabilities)) === argmax(toNumbers(fp32.probabilities))) sameTop1++;
        const [q, ref] = [toNumbers(int8.carbs_g), toNumbers(fp32.carbs_g)];
        const limit = entry.int8_rules.carbs_tolerance_of_median * Math.abs(ref[1]);
        if (q.every((v, i) => Math.abs(v - ref[i]) <= limit)) sameInterval++;
      }
      const top1 = sameTop1 / files.length;
      const interval = sameInterval / files.length;
      console.log(`int8 vs fp32 on ${files.length} photos decoded by jpeg-js: top-1 ${top1}, carbohydrate interval ${interval}`);
      const onePhoto = 1 / files.length + 1e-9;
      assert.ok(
        top1 >= entry.int8.this_cpu_top1_agreement - onePhoto,
        `top-1 agreement ${top1} < the manifest's ${entry.int8.this_cpu_top1_agreement} less one photo`,
      );
      assert.ok(
        interval >= entry.int8.fp32_cross_decoder_carbs_interval_share,
        `carbohydrate interval kept on ${interval} < ${entry.int8.fp32_cross_decoder_carbs_interval_share}`,
      );
    },
  );
});
