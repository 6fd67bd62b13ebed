// The reference client: a mobile bundle (`mealimpact export mobile --out DIR`) opened and run with
// onnxruntime-node, whose API is the one of onnxruntime-react-native and onnxruntime-web.
import { readFile } from "node:fs/promises";
import path from "node:path";
import * as ort from "onnxruntime-node";

import { preprocessJpeg, type DecodeOptions, type PreprocessSpec } from "./photo.ts";

export interface ManifestModel {
  name: string;
  version: number;
  ship: string; // the file to embed in an app
  files: { path: string; size_bytes: number; sha256: string }[];
}

export interface Manifest {
  models: ManifestModel[];
  cgm_grid?: { step_min: number; max_interpolated_gap_min: number };
}

export interface Recognition {
  probabilities: Float32Array; // one per label
  labels: { name: string; category: string; role: string }[];
  topClass: string;
  foodProbability: number;
  carbsG: [number, number, number]; // p10, p50, p90
  kcal: [number, number, number];
}

export class MobileBundle {
  private sessions = new Map<string, Promise<ort.InferenceSession>>();

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    readonly metadata: Map<string, Record<string, unknown>>,
  ) {}

  static async open(dir: string): Promise<MobileBundle> {
    const manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as Manifest;
    const metadata = new Map<string, Record<string, unknown>>();
    for (const model of manifest.models) {
      metadata.set(model.name, JSON.parse(await readFile(path.join(dir, model.name, "metadata.json"), "utf8")));
    }
    return new MobileBundle(dir, manifest, metadata);
  }

  /** The session of a model's file (default: the one the manifest says to ship). */
  session(name: string, file?: string): Promise<ort.InferenceSession> {
    const model = this.manifest.models.find((m) => m.name === name);
    if (model === undefined) throw new Error(`the bundle has no model ${name}`);
    const chosen = path.join(this.dir, name, file ?? model.ship);
    let session = this.sessions.get(chosen);
    if (session === undefined) {
      // The ORT files carry ONNX Runtime's saved runtime optimisations (e.g. the int8 QDQ fusions), which it
      // replays only when asked; the bundle is ours, so it is trusted.
      const extra = chosen.endsWith(".ort") ? { session: { enable_saved_runtime_optimizations: "1" } } : undefined;
      session = ort.InferenceSession.create(chosen, { executionProviders: ["cpu"], extra });
      this.sessions.set(chosen, session);
    }
    return session;
  }

  async run(name: string, feeds: Record<string, ort.Tensor>, file?: string): Promise<ort.InferenceSession.OnnxValueMapType> {
    return (await this.session(name, file)).run(feeds);
  }

  /** A JPEG photo -> the recognizer's answers, preprocessed as its metadata says. */
  async recognizeJpeg(bytes: Uint8Array, options: DecodeOptions & { file?: string } = {}): Promise<Recognition> {
    const meta = this.metadata.get("food_recognizer");
    if (meta === undefined) throw new Error("the bundle has no food_recognizer");
    const spec = meta.preprocess as PreprocessSpec;
    const pixels = preprocessJpeg(bytes, spec, options);
    const image = new ort.Tensor("uint8", pixels, [1, spec.crop_px, spec.crop_px, 3]);
    const out = await this.run("food_recognizer", { image }, options.file);
    const probabilities = out.probabilities.data as Float32Array;
    const labels = meta.labels as Recognition["labels"];
    let best = 0;
    for (let i = 1; i < probabilities.length; i++) if (probabilities[i] > probabilities[best]) best = i;
    const carbs = out.carbs_g.data as Float32Array;
    const kcal = out.kcal.data as Float32Array;
    return {
      probabilities,
      labels,
      topClass: labels[best].name,
      foodProbability: (out.food_probability.data as Float32Array)[0],
      carbsG: [carbs[0], carbs[1], carbs[2]],
      kcal: [kcal[0], kcal[1], kcal[2]],
    };
  }
}
