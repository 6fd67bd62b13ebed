// What the golden tests share: where the golden cases and models are, the model a case names (its ORT file
// in a bundle when MEALIMPACT_BUNDLE names one, else the repository's ONNX file, checked by sha256), one
// session per file, and the response graph's metadata for a case.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";

import type { ExplanationMetadata, ResponseMetadata } from "../src/response.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "..", "..");
export const GOLDEN = process.env.MEALIMPACT_GOLDEN ?? path.join(HERE, "..", "golden");
export const BUNDLE = process.env.MEALIMPACT_BUNDLE;
export const MODELS = process.env.MEALIMPACT_MODELS_DIR ?? path.join(REPO, "models");

export interface ModelRef {
  name: string;
  version: number;
  sha256: string;
  file?: string; // a graph kept beside the golden cases (the population response graph), relative to them
}

/** The model file the golden case names: its ORT file in a bundle, else the repository's ONNX file. */
export function modelFile(ref: ModelRef): string {
  if (BUNDLE !== undefined && ref.file === undefined) return path.join(BUNDLE, ref.name, "model.fp32.ort");
  const file = ref.file !== undefined ? path.join(GOLDEN, ref.file) : path.join(MODELS, ref.name, String(ref.version), "model.onnx");
  const digest = createHash("sha256").update(readFileSync(file)).digest("hex");
  assert.equal(
    digest,
    ref.sha256,
    `${file} is not the model the golden cases were made with: run \`make mobile-golden\` and commit mobile/golden`,
  );
  return file;
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

export function session(ref: ModelRef): Promise<ort.InferenceSession> {
  const file = modelFile(ref);
  let s = sessions.get(file);
  if (s === undefined) {
    s = ort.InferenceSession.create(file, { executionProviders: ["cpu"] });
    sessions.set(file, s);
  }
  return s;
}

/** The response graph's metadata for a case: the population graph kept beside the golden cases, or the
 * repository's newest version. */
export function responseMetadataFor(doc: { metadata?: Record<string, unknown> }, c: { calls: { model: ModelRef }[] }) {
  const call = c.calls.find((x) => x.model.name === "glucose_response");
  const key = call?.model.file !== undefined ? "glucose_response_population" : "glucose_response";
  return doc.metadata?.[key] as (ResponseMetadata & ExplanationMetadata) | undefined;
}
