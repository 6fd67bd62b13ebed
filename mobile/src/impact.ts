// The whole answer of POST /v1/meals/impact from the response graph alone, as
// glucose_model/impact.ResponsePredictor.impact computes it for a raw-input graph: one batch with the
// explanation coalitions, the what-if rows, the photo's carbohydrate interval rows (and, on a population
// graph, the past meals for the personal calibration); then the curve, peak, spike, the Shapley
// contributions to the peak rise and to the 2-h iAUC, and the what-ifs.
//
// Personal graph (metadata `person_fields`): 2^7 coalitions, the past meals go in as the history input.
// Population graph (`train glucose`): 2^6 coalitions, the past meals are extra rows whose predictions are
// fitted to the glucose measured after them (glucose_model/calibration.py, ported below).
import * as ort from "onnxruntime-node";

import {
  isPersonal,
  explanationFeeds,
  pastMealRows,
  responseFeeds,
  shapleyValues,
  type CarbsInterval,
  type ExplanationMetadata,
  type ImpactRequest,
  type PastMealRows,
  type ResponseFeeds,
  type ResponseMetadata,
} from "./response.ts";
import { checkAnswer, validateImpactRequest } from "./validate.ts";

export type ImpactMetadata = ResponseMetadata & ExplanationMetadata;
export type RunFn = (feeds: Record<string, ort.Tensor>) => Promise<ort.InferenceSession.OnnxValueMapType>;

// glucose_model/impact.py and glucose_model/metrics.py; the golden test checks them against Python's.
export const WHAT_IF = {
  walkMin: 15, // WALK_WHAT_IF_MIN
  extraFiberG: 5, // EXTRA_FIBER_G
  halfPortionColumns: ["carbs_g", "carbs_p10_g", "carbs_p90_g", "sugars_g", "fiber_g", "fat_g", "protein_g"],
};
// glucose_model/impact.UNAVAILABLE_WHAT_IFS: asked-about changes the model cannot answer, with why.
export const UNAVAILABLE_WHAT_IFS: [string, string][] = [
  [
    "lower_gi_swap",
    "swapping the carbohydrate for a lower-GI option: not available, the model saw a glycemic index only " +
      "in simulated meals and its effect on real meals is not trustworthy (MODEL_CARD.md, 'Glycemic index: " +
      "not accepted')",
  ],
  [
    "protein_or_vegetables_first",
    "eating the protein or vegetables before the carbohydrate: not available, the model has " +
      "no input for the order of foods within a meal",
  ],
];
export const IAUC_WINDOW_MIN = 120;
const ROUNDING_TOLERANCE_MG_DL = 1e-6;
// glucose_model/calibration.py
export const CALIBRATION = { priorMeals: 12, minMealsToApply: 3, scaleLimits: [0.25, 4.0] as [number, number] };
export const REFERENCE_DESCRIPTION =
  "reference_meal in the model metadata (see MODEL_CARD.md), eaten by the same kind of person";
const PERSONAL_CALIBRATION_REASON = "the past meals went into the model's person encoder (factor 'your past responses')";

export interface Contribution {
  factor: string;
  peakRiseMgDl: number;
  iauc2hMgDlMin: number;
}

export interface WhatIf {
  name: string;
  description: string;
  available: boolean;
  peakGlucoseMgDl: number | null;
  spikeProbability: number | null;
}

export interface CalibrationReport {
  nMeals: number;
  scale: number;
  offsetMgDl: number;
  applied: boolean;
  reason: string;
  looPeakRiseMaeBeforeMgDl: number | null;
  looPeakRiseMaeAfterMgDl: number | null;
}

/** The server's ImpactResult, unrounded (the HTTP answer rounds and words it). */
export interface ImpactAnswer {
  curve: { minute: number[]; glucoseMgDl: number[]; lowMgDl: number[]; highMgDl: number[] };
  peak: { glucoseMgDl: number; minute: number; riseMgDl: number };
  spike: { probability: number; thresholdMgDl: number };
  explanation: {
    contributions: Contribution[];
    referencePeakRiseMgDl: number;
    referenceIauc2hMgDlMin: number;
    predictedPeakRiseMgDl: number;
    predictedIauc2hMgDlMin: number;
    reference: string;
  };
  whatIf: WhatIf[];
  calibration: CalibrationReport | null;
}

/** One row of the four row inputs (raw CGM window, meal, context, kind code). */
interface Row {
  cgm: Float32Array;
  meal: Float32Array;
  context: Float32Array;
  kind: number;
}

function columnIndex(meta: ResponseMetadata, input: "meal" | "context", name: string): number {
  return (meta.inputs[input].columns ?? []).findIndex((c) => c.name === name);
}

/** A copy of `row` with meal/context columns set by name (RawInputs.with_values). */
function withValues(row: Row, values: Record<string, number>, meta: ResponseMetadata): Row {
  const out = { ...row, meal: row.meal.slice(), context: row.context.slice() };
  for (const [name, value] of Object.entries(values)) {
    const m = columnIndex(meta, "meal", name);
    if (m >= 0) out.meal[m] = value;
    else {
      const c = columnIndex(meta, "context", name);
      if (c < 0) throw new Error(`${name} is neither a meal nor a context column of the response model`);
      out.context[c] = value;
    }
  }
  return out;
}

function rawValue(row: Row, name: string, meta: ResponseMetadata): number {
  const m = columnIndex(meta, "meal", name);
  return m >= 0 ? row.meal[m] : row.context[columnIndex(meta, "context", name)];
}

function rowsOf(feeds: Record<string, ort.Tensor>): Row[] {
  const cgm = feeds.cgm_mg_dl.data as Float32Array;
  const meal = feeds.meal.data as Float32Array;
  const context = feeds.context.data as Float32Array;
  const kind = feeds.diabetes_kind.data as Float32Array;
  const n = kind.length;
  const width = (a: Float32Array) => a.length / n;
  return Array.from({ length: n }, (_, r) => ({
    cgm: cgm.slice(r * width(cgm), (r + 1) * width(cgm)),
    meal: meal.slice(r * width(meal), (r + 1) * width(meal)),
    context: context.slice(r * width(context), (r + 1) * width(context)),
    kind: kind[r],
  }));
}

function stack(rows: Row[]): Record<string, ort.Tensor> {
  const join = (part: (r: Row) => Float32Array) => {
    const width = rows.length === 0 ? 0 : part(rows[0]).length;
    const out = new Float32Array(rows.length * width);
    rows.forEach((r, i) => out.set(part(r), i * width));
    return new ort.Tensor("float32", out, [rows.length, width]);
  };
  return {
    cgm_mg_dl: join((r) => r.cgm),
    meal: join((r) => r.meal),
    context: join((r) => r.context),
    diabetes_kind: new ort.Tensor("float32", Float32Array.from(rows, (r) => r.kind), [rows.length, 1]),
  };
}

interface Scenario {
  name: string;
  description: string;
  changed: Row;
  // "As eaten, with the reference meal's value filled in" when the request left the changed input unknown:
  // the effect is changed - base, added to the prediction.
  base: Row | null;
}

/** The what-ifs the model can answer (glucose_model/impact._what_if_inputs on raw inputs). */
function whatIfScenarios(actual: Row, known: (bit: string) => boolean, meta: ImpactMetadata): Scenario[] {
  const half = withValues(
    actual,
    Object.fromEntries(WHAT_IF.halfPortionColumns.map((n) => [n, 0.5 * rawValue(actual, n, meta)])),
    meta,
  );
  const out: Scenario[] = [{ name: "half_portion", description: "eat half of this meal", changed: half, base: null }];
  const changes: [string, string, string, string, (v: number) => number][] = [
    [
      "higher_fiber",
      `add ${WHAT_IF.extraFiberG.toFixed(0)} g of fibre (a side of vegetables or legumes) to the same carbohydrate`,
      "fiber_g",
      "fiber_known",
      (fiber) => fiber + WHAT_IF.extraFiberG,
    ],
    [
      "walk_15_min",
      `a ${WHAT_IF.walkMin.toFixed(0)}-min walk starting 15-30 min after the meal`,
      "planned_walk_min",
      "planned_walk_known",
      (walk) => Math.max(WHAT_IF.walkMin, walk),
    ],
  ];
  for (const [name, description, column, bit, change] of changes) {
    let current: number;
    let base: Row | null = null;
    if (known(bit)) current = rawValue(actual, column, meta);
    else {
      current = meta.reference_meal.features[column];
      base = withValues(actual, { [column]: current }, meta);
    }
    out.push({ name, description, changed: withValues(actual, { [column]: change(current) }, meta), base });
  }
  return out;
}

/** (rows,) highest p50 rise after minute 0 and its index (glucose_model/metrics.peak_rise; first maximum). */
function peaks(p50: number[][]): { rise: number[]; index: number[] } {
  const rise: number[] = [];
  const index: number[] = [];
  for (const curve of p50) {
    let best = 1;
    for (let t = 2; t < curve.length; t++) if (curve[t] > curve[best]) best = t;
    rise.push(curve[best]);
    index.push(best);
  }
  return { rise, index };
}

/** Positive incremental area (mg/dL*min) of a rise curve above 0 (metrics.positive_incremental_aucs). */
export function positiveIncrementalAuc(minutes: number[], rise: number[]): number {
  const d = rise.map((v) => (Math.abs(v) < ROUNDING_TOLERANCE_MG_DL ? 0 : v));
  let total = 0;
  for (let i = 0; i + 1 < d.length; i++) {
    const [d0, d1, dt] = [d[i], d[i + 1], minutes[i + 1] - minutes[i]];
    let area = 0;
    if (d0 >= 0 && d1 >= 0) area = 0.5 * (d0 + d1) * dt;
    else if (d0 >= 0 !== d1 >= 0) {
      const above = d0 >= 0 ? d0 : d1;
      area = (0.5 * above * dt * above) / (Math.abs(d0) + Math.abs(d1));
    }
    total += Math.max(area, 0);
  }
  return total;
}

function rescore(probability: number, slope: number, shift: number): number {
  const p = Math.min(Math.max(probability, 1e-7), 1 - 1e-7);
  return 1 / (1 + Math.exp(-(Math.log(p / (1 - p)) + slope * shift)));
}

/** (N,) highest measured rise after minute 0 of each curve, NaN = not measured (-Infinity if none). */
function measuredPeakRise(curves: number[][]): number[] {
  return curves.map((c) => c.slice(1).reduce((best, v) => (Number.isFinite(v) && v > best ? v : best), -Infinity));
}

/** Ridge fit of measured on predicted rises toward identity (calibration.fit_adjustment). */
export function fitAdjustment(predicted: number[][], measured: number[][]): { scale: number; offsetMgDl: number } {
  const x: number[] = [];
  const y: number[] = [];
  predicted.forEach((row, i) =>
    row.forEach((p, t) => {
      if (Number.isFinite(p) && Number.isFinite(measured[i][t])) {
        x.push(p);
        y.push(measured[i][t]);
      }
    }),
  );
  if (x.length === 0) return { scale: 1, offsetMgDl: 0 };
  const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
  const w = CALIBRATION.priorMeals * (x.length / Math.max(predicted.length, 1));
  const xx = sum(x.map((v) => v * v));
  const m2 = xx / x.length + 1;
  const [a, b, c, d] = [xx + w * m2, sum(x), sum(x), x.length + w];
  const [e, f] = [sum(x.map((v, i) => v * y[i])) + w * m2, sum(y)];
  const det = a * d - b * c;
  const scale = (e * d - b * f) / det;
  const offset = (a * f - c * e) / det;
  return { scale: Math.min(Math.max(scale, CALIBRATION.scaleLimits[0]), CALIBRATION.scaleLimits[1]), offsetMgDl: offset };
}

/** Fit on all past meals and test by leave-one-out whether it helps (calibration.calibrate). */
export function calibrate(predicted: number[][], measured: number[][]): CalibrationReport {
  const n = predicted.length;
  const fit = fitAdjustment(predicted, measured);
  const report = (applied: boolean, reason: string, before: number | null, after: number | null) => ({
    nMeals: n,
    scale: fit.scale,
    offsetMgDl: fit.offsetMgDl,
    applied,
    reason,
    looPeakRiseMaeBeforeMgDl: before,
    looPeakRiseMaeAfterMgDl: after,
  });
  if (n < 2) return report(false, "needs at least 2 past meals to test", null, null);
  const measuredPeak = measuredPeakRise(measured);
  const before: number[] = [];
  const after: number[] = [];
  for (let j = 0; j < n; j++) {
    const others = (a: number[][]) => a.filter((_, i) => i !== j);
    const heldOut = fitAdjustment(others(predicted), others(measured));
    before.push(Math.abs(measuredPeakRise([predicted[j]])[0] - measuredPeak[j]));
    const adjusted = predicted[j].map((v) => heldOut.scale * v + heldOut.offsetMgDl);
    after.push(Math.abs(measuredPeakRise([adjusted])[0] - measuredPeak[j]));
  }
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const [maeBefore, maeAfter] = [mean(before), mean(after)];
  if (n < CALIBRATION.minMealsToApply)
    return report(false, `needs at least ${CALIBRATION.minMealsToApply} past meals to adjust`, maeBefore, maeAfter);
  if (maeAfter >= maeBefore) return report(false, "did not improve this person's held-out meals", maeBefore, maeAfter);
  return report(true, "improved this person's held-out meals", maeBefore, maeAfter);
}

export interface ImpactBatch {
  prediction: ResponseFeeds;
  feeds: Record<string, ort.Tensor>; // the one batch, in the server's row order
  nCoalitions: number;
  scenarios: Scenario[];
  nRows: number; // coalitions + what-if rows + interval rows (past-meal rows follow on a population graph)
  photo: boolean;
  past: PastMealRows; // the request's past meals as the graph reads them (all of them on a population graph)
}

/** The server's batch for one request: coalitions, what-ifs, the photo interval, past meals (population). */
export function impactBatch(
  request: ImpactRequest,
  prediction: ResponseFeeds,
  features: ArrayLike<number>,
  meta: ImpactMetadata,
  carbs?: CarbsInterval,
): ImpactBatch {
  const personal = isPersonal(meta);
  const coalitionFeeds = explanationFeeds(prediction, features, meta);
  const nCoalitions = 2 ** meta.factor_groups.length;
  const coalitions = rowsOf(coalitionFeeds);
  const [actual] = rowsOf(prediction.feeds);
  const known = (bit: string) => features[meta.feature_names.indexOf(bit)] !== 0;
  const scenarios = whatIfScenarios(actual, known, meta);
  const scenarioRows = scenarios.flatMap((s) => (s.base === null ? [s.changed] : [s.changed, s.base]));
  const interval = carbs === undefined ? [] : [carbs.p10G, carbs.p90G].map((c) => withValues(actual, { carbs_g: c }, meta));
  const rows = [...coalitions, ...scenarioRows, ...interval];
  const nRows = rows.length;
  const past = pastMealRows(request, meta);
  if (!personal) {
    const points = actual.cgm.length;
    const [nMeal, nContext] = [actual.meal.length, actual.context.length];
    for (let i = 0; i < past.n; i++) {
      rows.push({
        cgm: past.cgm.slice(i * points, (i + 1) * points),
        meal: past.meal.slice(i * nMeal, (i + 1) * nMeal),
        context: past.context.slice(i * nContext, (i + 1) * nContext),
        kind: past.kind[i],
      });
    }
    return { prediction, feeds: stack(rows), nCoalitions, scenarios, nRows, photo: carbs !== undefined, past };
  }
  const withHistory = meta.history?.slots.with_history ?? 0;
  const slots = BigInt64Array.from({ length: nRows }, (_, r) =>
    r < nCoalitions ? (coalitionFeeds.history_slot.data as BigInt64Array)[r] : BigInt(withHistory),
  );
  const person = prediction.feeds.person.data as Float32Array;
  const persons = new Float32Array(nRows * person.length);
  for (let r = 0; r < nRows; r++) persons.set(person, r * person.length);
  const history = Object.fromEntries(Object.entries(coalitionFeeds).filter(([name]) => name.startsWith("history_") && name !== "history_slot"));
  return {
    prediction,
    feeds: {
      ...stack(rows),
      person: new ort.Tensor("float32", persons, [nRows, person.length]),
      history_slot: new ort.Tensor("int64", slots, [nRows]),
      ...history,
    },
    nCoalitions,
    scenarios,
    nRows,
    photo: carbs !== undefined,
    past,
  };
}

/** The answer from the batch's outputs (the second half of ResponsePredictor.impact). */
export function readImpact(
  batch: ImpactBatch,
  out: ort.InferenceSession.OnnxValueMapType,
  meta: ImpactMetadata,
): ImpactAnswer {
  const nT = meta.curve_minutes.length;
  const nQ = meta.quantiles.length;
  const nF = meta.feature_names.length;
  const riseData = out.rise_mg_dl.data as Float32Array;
  const spikeData = out.spike_probability.data as Float32Array;
  const slopeData = out.spike_logit_per_mg_dl.data as Float32Array;
  const featureData = out.features.data as Float32Array;
  const total = spikeData.length;
  const q = (quantile: number) => meta.quantiles.indexOf(quantile);
  const curveOf = (r: number, quantile: number) =>
    Array.from({ length: nT }, (_, t) => riseData[(r * nT + t) * nQ + q(quantile)]);
  const feature = (r: number, name: string) => featureData[r * nF + meta.feature_names.indexOf(name)];
  const { nCoalitions, nRows } = batch;
  const own = nCoalitions - 1;

  let adjust = { scale: 1, offsetMgDl: 0 };
  let calibration: CalibrationReport | null = null;
  const nPast = total - nRows;
  if (isPersonal(meta)) {
    const n = batch.past.n;
    if (n > 0) calibration = { nMeals: n, scale: 1, offsetMgDl: 0, applied: true, reason: PERSONAL_CALIBRATION_REASON, looPeakRiseMaeBeforeMgDl: null, looPeakRiseMaeAfterMgDl: null };
  } else if (nPast > 0) {
    // The measured rise after each past meal, from the baseline the graph computed for it.
    const past = batch.past;
    const predicted = Array.from({ length: nPast }, (_, i) => curveOf(nRows + i, 0.5));
    const measured = Array.from({ length: nPast }, (_, i) => {
      const baseline = feature(nRows + i, "baseline_glucose_mg_dl");
      return Array.from(past.glucoseAfter.slice(i * nT, (i + 1) * nT), (v) => v - baseline);
    });
    calibration = calibrate(predicted, measured);
    if (calibration.applied) adjust = { scale: calibration.scale, offsetMgDl: calibration.offsetMgDl };
  }

  const baseline = feature(own, "baseline_glucose_mg_dl");
  const threshold = feature(own, "spike_threshold_mg_dl");
  const rawPeak = peaks(Array.from({ length: nRows }, (_, r) => curveOf(r, 0.5))).rise;
  const adjusted = (r: number, quantile: number) => curveOf(r, quantile).map((v) => adjust.scale * v + adjust.offsetMgDl);
  const p50 = Array.from({ length: nRows }, (_, r) => adjusted(r, 0.5));
  const { rise: p50Peak, index: p50Index } = peaks(p50);
  const spike = Array.from({ length: nRows }, (_, r) => rescore(spikeData[r], slopeData[r], p50Peak[r] - rawPeak[r]));

  let low = adjusted(own, 0.1);
  let high = adjusted(own, 0.9);
  let spikeProbability = spike[own];
  if (batch.photo) {
    const [lo, hi] = [nRows - 2, nRows - 1];
    const loCurve = adjusted(lo, 0.1);
    const hiCurve = adjusted(hi, 0.9);
    low = low.map((v, t) => Math.min(v, loCurve[t]));
    high = high.map((v, t) => Math.max(v, hiCurve[t]));
    spikeProbability = 0.25 * spike[lo] + 0.5 * spike[own] + 0.25 * spike[hi];
  }

  const window = meta.curve_minutes.filter((m) => m <= IAUC_WINDOW_MIN);
  const iauc = p50.slice(0, nCoalitions).map((curve) => positiveIncrementalAuc(window, curve.slice(0, window.length)));
  const n = meta.factor_groups.length;
  const phiPeak = shapleyValues(p50Peak.slice(0, nCoalitions), n);
  const phiIauc = shapleyValues(iauc, n);

  const whatIf: WhatIf[] = [];
  let row = nCoalitions;
  for (const scenario of batch.scenarios) {
    let peak: number;
    let probability: number;
    if (scenario.base === null) {
      [peak, probability] = [p50Peak[row], spike[row]];
      row += 1;
    } else {
      const shift = p50Peak[row] - p50Peak[row + 1];
      peak = p50Peak[own] + shift;
      probability = rescore(spike[own], slopeData[own], shift);
      row += 2;
    }
    whatIf.push({ name: scenario.name, description: scenario.description, available: true, peakGlucoseMgDl: baseline + peak, spikeProbability: probability });
  }
  for (const [name, description] of UNAVAILABLE_WHAT_IFS) {
    whatIf.push({ name, description, available: false, peakGlucoseMgDl: null, spikeProbability: null });
  }

  return {
    curve: {
      minute: meta.curve_minutes,
      glucoseMgDl: p50[own].map((v) => baseline + v),
      lowMgDl: low.map((v) => baseline + v),
      highMgDl: high.map((v) => baseline + v),
    },
    peak: { glucoseMgDl: baseline + p50Peak[own], minute: meta.curve_minutes[p50Index[own]], riseMgDl: p50Peak[own] },
    spike: { probability: spikeProbability, thresholdMgDl: threshold },
    explanation: {
      contributions: meta.factor_groups.map((factor, g) => ({ factor, peakRiseMgDl: phiPeak[g], iauc2hMgDlMin: phiIauc[g] })),
      referencePeakRiseMgDl: p50Peak[0],
      referenceIauc2hMgDlMin: iauc[0],
      predictedPeakRiseMgDl: p50Peak[own],
      predictedIauc2hMgDlMin: iauc[own],
      reference: REFERENCE_DESCRIPTION,
    },
    whatIf,
    calibration,
  };
}

/**
 * The impact of one meal: validates the request as the server does (throws RequestRefused), runs the
 * prediction row (the graph's known bits decide the reference and the what-ifs), then the server's batch.
 * `carbs`: the photo's carbohydrate interval, when the carbohydrate came from the recognizer.
 */
export async function predictImpact(
  run: RunFn,
  request: ImpactRequest,
  meta: ImpactMetadata,
  options: { carbs?: CarbsInterval; now?: Date } = {},
): Promise<ImpactAnswer & { batch: ImpactBatch }> {
  validateImpactRequest(request, meta, { now: options.now, carbs: options.carbs });
  const prediction = responseFeeds(request, meta, { carbs: options.carbs });
  const first = await run(prediction.feeds);
  const nF = meta.feature_names.length;
  const features = (first.features.data as Float32Array).slice(0, nF);
  const batch = impactBatch(request, prediction, features, meta, options.carbs);
  const out = await run(batch.feeds);
  const answer = readImpact(batch, out, meta);
  checkAnswer(answer);
  return { ...answer, batch };
}
