// The response model's inputs from what a phone has: the impact request (meal, time, activity, insulin,
// sleep, earlier meals, profile, past meals with their CGM) and raw CGM readings. The graph (version 3 on)
// builds the features itself (masks, baseline, trend, known bits, time of day, kind, threshold); this file
// only puts the request's numbers into the columns its metadata names, NaN where the request is silent.
// The few sums over event lists (rapid insulin within +-30 min, the latest earlier meal) are
// glucose_model/features.py's, line for line; the golden test checks them against the server's feeds.
import * as ort from "onnxruntime-node";

import { gridWindow, resampleToGrid, type Grid, type Readings } from "./cgm.ts";
import { localizeReadings } from "./device-time.ts";
import { instantOf, localMinuteOfDay as minuteOfDay } from "./timestamp.ts";

const MG_DL_PER_MMOL_L = 18.016; // glucose_model/records.py
const INSULIN_WINDOW_MIN = 30; // glucose_model/features.py
const LAST_MEAL_LOOKBACK_H = 24;

export interface ColumnSpec {
  name: string;
  unit: string;
  group: string;
}

interface InputSpec {
  shape: (string | number)[];
  columns?: ColumnSpec[];
  codes?: Record<string, number>;
  minutes?: number[];
}

/** What the client reads from the model's metadata (bundle metadata.json, or the golden cases). */
export interface ResponseMetadata {
  inputs: Record<string, InputSpec>;
  feature_names: string[];
  curve_minutes: number[];
  quantiles: number[];
  factor_groups: string[];
  /** Present on a personal graph (person encoder inside, `person` and `history_*` inputs); absent on a
   * population graph (`train glucose`), which the client calibrates on past meals instead. */
  person_fields?: string[];
  history?: { max_meals: number; slots: { with_history: number; without: number } };
}

/** A personal graph takes the person and the past meals as inputs; a population one takes the meal rows
 * only (the server tells them apart the same way: glucose_model.impact.ResponsePredictor.personal). */
export function isPersonal(meta: ResponseMetadata): boolean {
  return Array.isArray(meta.person_fields);
}

export interface MealIn {
  time: string; // ISO 8601 with offset: the local wall-clock time is the one written
  carbs_g: number;
  sugars_g?: number | null;
  fiber_g?: number | null;
  fat_g?: number | null;
  protein_g?: number | null;
  // No glycemic index: the server refuses one (the model saw GI only in simulated meals), so the graph's
  // glycemic_index column is always NaN here too and a phone gets the server's answer.
}

export interface CgmIn {
  unit: "mg/dL" | "mmol/L"; // required, as the server requires it
  readings: { time: string; value: number }[];
  // IANA zone of the device clock: reading times without a UTC offset are read in it (device-time.ts).
  tz?: string | null;
}

export interface ImpactRequest {
  meal: MealIn;
  cgm: CgmIn;
  activity?: { steps?: number | null; heart_rate?: number | null; planned_walk_min?: number | null };
  profile?: {
    diabetes?: string | null;
    age_years?: number | null;
    sex?: "female" | "male" | null;
    bmi_kg_m2?: number | null;
    hba1c_percent?: number | null;
    fasting_glucose_mg_dl?: number | null;
    medication?: string[] | null;
  };
  insulin?: { time: string; units: number; kind?: "rapid" | "basal" }[];
  sleep_hours?: number | null;
  recent_meals?: { time: string; carbs_g: number }[];
  history?: { meal: MealIn; cgm: CgmIn }[];
}

/** A photo's carbohydrate interval (the recognizer's p10 and p90), when the carbs came from a photo. */
export interface CarbsInterval {
  p10G: number;
  p90G: number;
}

const utcS = (time: string) => instantOf(time).utcS; // Python's int(time.timestamp())
const orNaN = (v: number | null | undefined) => (v === null || v === undefined ? NaN : v);

/** Minutes after local midnight in the time's own UTC offset, whole seconds only:
 * glucose_model/features.py's hour * 60 + minute + second / 60 on the server's datetime. */
export const localMinuteOfDay = (time: string): number => minuteOfDay(instantOf(time));

/** The readings in UTC seconds and mg/dL (times without an offset read in `cgm.tz`, as the server does). */
export function readingsOf(cgmIn: CgmIn): Readings {
  const cgm = localizeReadings(cgmIn);
  const factor = cgm.unit === "mmol/L" ? MG_DL_PER_MMOL_L : 1;
  return { timesUtcS: cgm.readings.map((r) => utcS(r.time)), glucoseMgDl: cgm.readings.map((r) => r.value * factor) };
}

/** The grid time nearest `timeUtcS` (halves round up), as glucose_model/resample.nearest_grid_time_s. */
function nearestGridTime(timeUtcS: number, stepMin: number): number {
  const step = stepMin * 60;
  return Math.floor(timeUtcS / step + 0.5) * step;
}

/** `points` grid values ending (or starting) at the grid time nearest the meal: the 3 h before or after. */
export function aroundMeal(grid: Grid, mealIso: string, points: number, before: boolean, stepMin: number): Float32Array {
  const centre = nearestGridTime(utcS(mealIso), stepMin);
  const first = before ? centre - (points - 1) * stepMin * 60 : centre;
  return gridWindow(grid, first, points, stepMin);
}

function columns(meta: ResponseMetadata, input: string): ColumnSpec[] {
  const spec = meta.inputs[input];
  if (spec?.columns === undefined) throw new Error(`the response model's metadata has no columns for ${input}: not a raw-input graph`);
  return spec.columns;
}

function row(values: Record<string, number>, cols: ColumnSpec[], what: string): Float32Array {
  return Float32Array.from(
    cols.map((c) => {
      if (!(c.name in values)) throw new Error(`${what} column ${c.name} is not one this client can fill`);
      return values[c.name];
    }),
  );
}

/** The `meal` input row: the meal's numbers, NaN where not given. */
export function mealRow(meal: MealIn, meta: ResponseMetadata, carbs?: CarbsInterval): Float32Array {
  return row(
    {
      carbs_g: meal.carbs_g,
      carbs_p10_g: carbs?.p10G ?? NaN,
      carbs_p90_g: carbs?.p90G ?? NaN,
      sugars_g: orNaN(meal.sugars_g),
      fiber_g: orNaN(meal.fiber_g),
      fat_g: orNaN(meal.fat_g),
      protein_g: orNaN(meal.protein_g),
      glycemic_index: NaN, // not accepted (MealIn): unknown, as the server feeds it
    },
    columns(meta, "meal"),
    "meal",
  );
}

/** The `context` input row of the meal asked about (features.py's aggregations of the request's lists). */
export function contextRow(request: ImpactRequest, meta: ResponseMetadata): Float32Array {
  const mealS = utcS(request.meal.time);
  const earlier = (request.recent_meals ?? []).filter((m) => {
    const ago = mealS - utcS(m.time);
    return ago > 0 && ago <= LAST_MEAL_LOOKBACK_H * 3600;
  });
  const last = earlier.reduce<{ time: string; carbs_g: number } | undefined>(
    (best, m) => (best === undefined || utcS(m.time) > utcS(best.time) ? m : best),
    undefined,
  );
  // No insulin record at all = not known; records without a rapid dose near the meal = none taken.
  const insulin = request.insulin ?? [];
  const rapid = insulin
    .filter((d) => (d.kind ?? "rapid") === "rapid" && Math.abs(utcS(d.time) - mealS) <= INSULIN_WINDOW_MIN * 60)
    .reduce((sum, d) => sum + d.units, 0);
  const activity = request.activity ?? {};
  return row(
    {
      local_minute_of_day: localMinuteOfDay(request.meal.time),
      minutes_since_last_meal: last === undefined ? NaN : (mealS - utcS(last.time)) / 60,
      last_meal_carbs_g: last === undefined ? NaN : last.carbs_g,
      sleep_hours: orNaN(request.sleep_hours),
      steps_hour_before: orNaN(activity.steps),
      heart_rate_bpm_hour_before: orNaN(activity.heart_rate),
      planned_walk_min: orNaN(activity.planned_walk_min),
      rapid_insulin_units: insulin.length === 0 ? NaN : rapid,
    },
    columns(meta, "context"),
    "context",
  );
}

/** A past meal's `history_context` row: its time of day only (the graph reads nothing else of it). */
function pastContextRow(meal: MealIn, meta: ResponseMetadata): Float32Array {
  const cols = columns(meta, "context");
  return Float32Array.from(cols.map((c) => (c.name === "local_minute_of_day" ? localMinuteOfDay(meal.time) : NaN)));
}

export function kindCode(kind: string | null | undefined, meta: ResponseMetadata): number {
  const codes = meta.inputs.diabetes_kind?.codes ?? {};
  return codes[kind ?? "unknown"] ?? codes.unknown ?? -1;
}

const MEDICATIONS = ["none", "oral", "basal_insulin", "rapid_insulin"];

/** The `person` row (glucose_model/personal.person_row): NaN = unknown. */
export function personRow(profile: ImpactRequest["profile"], meta: ResponseMetadata): Float32Array {
  const p = profile ?? {};
  const values: Record<string, number> = {
    age_years: orNaN(p.age_years),
    sex_male: p.sex === undefined || p.sex === null ? NaN : Number(p.sex === "male"),
    bmi_kg_m2: orNaN(p.bmi_kg_m2),
    hba1c_percent: orNaN(p.hba1c_percent),
    fasting_glucose_mg_dl: orNaN(p.fasting_glucose_mg_dl),
  };
  const taken = p.medication === undefined || p.medication === null ? undefined : p.medication.filter((m) => m !== "none");
  for (const name of MEDICATIONS) {
    values[`medication_${name}`] = taken === undefined ? NaN : name === "none" ? Number(taken.length === 0) : Number(taken.includes(name));
  }
  return Float32Array.from((meta.person_fields ?? []).map((f) => values[f] ?? NaN));
}

export interface ResponseFeeds {
  feeds: Record<string, ort.Tensor>;
}

/** The person's past meals as raw rows: the pre-meal CGM window, meal and context rows, kind code, and
 * the glucose measured at curve_minutes after each (mg/dL, float64; NaN = not measured). */
export interface PastMealRows {
  n: number;
  cgm: Float32Array; // (n, points)
  meal: Float32Array; // (n, meal columns)
  context: Float32Array; // (n, context columns)
  kind: Float32Array; // (n,)
  glucoseAfter: Float64Array; // (n, points)
}

/** The request's past meals (`history`), each gridded once from its readings (3 h before to 3 h after). */
export function pastMealRows(
  request: ImpactRequest,
  meta: ResponseMetadata,
  options: { stepMin?: number; maxGapMin?: number } = {},
): PastMealRows {
  const stepMin = options.stepMin ?? 5;
  const points = meta.inputs.cgm_mg_dl.shape[1] as number;
  const nMeal = columns(meta, "meal").length;
  const nContext = columns(meta, "context").length;
  // A personal graph reads the latest max_meals; the population path calibrates on all of them.
  const all = request.history ?? [];
  const past = isPersonal(meta) && meta.history !== undefined ? all.slice(-meta.history.max_meals) : all;
  const n = past.length;
  const out: PastMealRows = {
    n,
    cgm: new Float32Array(n * points),
    meal: new Float32Array(n * nMeal),
    context: new Float32Array(n * nContext),
    kind: new Float32Array(n).fill(kindCode(request.profile?.diabetes, meta)),
    glucoseAfter: new Float64Array(n * points),
  };
  past.forEach((entry, i) => {
    const pastGrid = resampleToGrid(readingsOf(entry.cgm), stepMin, options.maxGapMin);
    out.cgm.set(aroundMeal(pastGrid, entry.meal.time, points, true, stepMin), i * points);
    out.glucoseAfter.set(aroundMeal64(pastGrid, entry.meal.time, points, stepMin), i * points);
    out.meal.set(mealRow(entry.meal, meta), i * nMeal);
    out.context.set(pastContextRow(entry.meal, meta), i * nContext);
  });
  return out;
}

/** The grid values from the meal's grid time on, in float64 (the measured response after a past meal). */
function aroundMeal64(grid: Grid, mealIso: string, points: number, stepMin: number): Float64Array {
  const out = new Float64Array(points).fill(NaN);
  if (grid.timesUtcS.length === 0) return out;
  const offset = Math.round((nearestGridTime(utcS(mealIso), stepMin) - grid.timesUtcS[0]) / (stepMin * 60));
  for (let i = 0; i < points; i++) {
    const j = offset + i;
    if (j >= 0 && j < grid.glucoseMgDl.length) out[i] = grid.glucoseMgDl[j];
  }
  return out;
}

/**
 * Feeds for the prediction of one meal (one row). A personal graph also gets the person and the
 * request's past meals as its history set; a population graph takes the four row inputs only.
 */
export function responseFeeds(
  request: ImpactRequest,
  meta: ResponseMetadata,
  options: { carbs?: CarbsInterval; stepMin?: number; maxGapMin?: number } = {},
): ResponseFeeds {
  const stepMin = options.stepMin ?? 5;
  const points = meta.inputs.cgm_mg_dl.shape[1] as number;
  const nMeal = columns(meta, "meal").length;
  const nContext = columns(meta, "context").length;
  const grid = resampleToGrid(readingsOf(request.cgm), stepMin, options.maxGapMin);
  const cgm = aroundMeal(grid, request.meal.time, points, true, stepMin);
  const kind = kindCode(request.profile?.diabetes, meta);
  const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor("float32", data, dims);
  const feeds: Record<string, ort.Tensor> = {
    cgm_mg_dl: f32(cgm, [1, points]),
    meal: f32(mealRow(request.meal, meta, options.carbs), [1, nMeal]),
    context: f32(contextRow(request, meta), [1, nContext]),
    diabetes_kind: f32(Float32Array.from([kind]), [1, 1]),
  };
  if (!isPersonal(meta)) return { feeds };
  // The person's past meals: one history set (padded to one all-NaN meal when there are none).
  const past = pastMealRows(request, meta, options);
  const h = Math.max(1, past.n);
  const pad = (data: Float32Array, width: number) => {
    const out = new Float32Array(h * width).fill(NaN);
    out.set(data);
    return out;
  };
  const hKind = new Float32Array(h).fill(kindCode(undefined, meta));
  hKind.set(past.kind);
  const person = personRow(request.profile, meta);
  return {
    feeds: {
      ...feeds,
      person: f32(person, [1, person.length]),
      history_slot: new ort.Tensor("int64", BigInt64Array.from([0n]), [1]),
      history_cgm_mg_dl: f32(pad(past.cgm, points), [1, h, points]),
      history_meal: f32(pad(past.meal, nMeal), [1, h, nMeal]),
      history_context: f32(pad(past.context, nContext), [1, h, nContext]),
      history_diabetes_kind: f32(hKind, [1, h]),
      history_glucose_mg_dl: f32(pad(Float32Array.from(past.glucoseAfter), points), [1, h, points]),
    },
  };
}

export interface ResponseCurve {
  minute: number[];
  glucoseMgDl: number[]; // p50
  lowMgDl: number[]; // p10
  highMgDl: number[]; // p90
  baselineMgDl: number; // the graph's own pre-meal baseline
  spikeProbability: number;
}

/** The predicted glucose curve from one row of the graph's outputs (rise + the graph's baseline). */
export function responseCurve(out: ort.InferenceSession.OnnxValueMapType, meta: ResponseMetadata, rowIndex = 0): ResponseCurve {
  const features = out.features.data as Float32Array;
  const nF = meta.feature_names.length;
  const baseline = features[rowIndex * nF + meta.feature_names.indexOf("baseline_glucose_mg_dl")];
  const rise = out.rise_mg_dl.data as Float32Array;
  const nT = meta.curve_minutes.length;
  const nQ = meta.quantiles.length;
  const at = (t: number, q: number) => baseline + rise[(rowIndex * nT + t) * nQ + meta.quantiles.indexOf(q)];
  return {
    minute: meta.curve_minutes,
    glucoseMgDl: meta.curve_minutes.map((_, t) => at(t, 0.5)),
    lowMgDl: meta.curve_minutes.map((_, t) => at(t, 0.1)),
    highMgDl: meta.curve_minutes.map((_, t) => at(t, 0.9)),
    baselineMgDl: baseline,
    spikeProbability: (out.spike_probability.data as Float32Array)[rowIndex],
  };
}

/** The metadata the explanation needs: the factor groups and the reference meal as raw inputs. */
export interface ExplanationMetadata {
  factor_groups: string[];
  reference_meal: {
    features: Record<string, number>;
    raw: {
      meal_and_context: Record<string, number | null>;
      baseline_glucose_mg_dl_by_kind: Record<string, number>;
      known_bits: Record<string, string[]>;
      groups: { cgm_mg_dl: string };
    };
  };
}

/**
 * The explanation's coalition rows (as glucose_model/explanation.raw_coalition_inputs): row c keeps the
 * request's raw columns of factor group g when bit g of c is set and takes the reference meal's otherwise;
 * on a personal graph the last factor (the past meals) points the row at the person's history set or at an
 * empty one; a population graph has no such factor (and no person or history inputs).
 * `features` is the prediction row's `features` output (its known bits say what the request left unknown,
 * which stays unknown in the reference). Row 2^n - 1 is the prediction itself.
 */
export function explanationFeeds(
  prediction: ResponseFeeds,
  features: ArrayLike<number>,
  meta: ResponseMetadata & ExplanationMetadata,
): Record<string, ort.Tensor> {
  const ref = meta.reference_meal.raw;
  const groups = meta.factor_groups;
  const n = groups.length;
  const rows = 2 ** n;
  const feature = (name: string) => features[meta.feature_names.indexOf(name)];
  const actual = (input: string) => prediction.feeds[input].data as Float32Array;
  // The reference meal for this request: its values, except where the request said nothing.
  const unknown = new Set(Object.entries(ref.known_bits).flatMap(([bit, cols]) => (feature(bit) === 0 ? cols : [])));
  const referenceRow = (input: string) =>
    Float32Array.from(columns(meta, input), (c, i) =>
      unknown.has(c.name) || !(c.name in ref.meal_and_context) ? actual(input)[i] : (ref.meal_and_context[c.name] ?? NaN),
    );
  const kinds = Object.keys(ref.baseline_glucose_mg_dl_by_kind).filter((k) => k !== "unknown");
  const kind = kinds.find((k) => feature(`kind_${k}`) > 0) ?? "unknown";
  const points = actual("cgm_mg_dl").length;
  const flat = new Float32Array(points).fill(ref.baseline_glucose_mg_dl_by_kind[kind]);
  const mixed = (input: string) => {
    const cols = columns(meta, input);
    const reference = referenceRow(input);
    const out = new Float32Array(rows * cols.length);
    for (let c = 0; c < rows; c++) {
      cols.forEach((col, i) => {
        out[c * cols.length + i] = (c >> groups.indexOf(col.group)) & 1 ? actual(input)[i] : reference[i];
      });
    }
    return new ort.Tensor("float32", out, [rows, cols.length]);
  };
  const cgm = new Float32Array(rows * points);
  const glucoseBit = groups.indexOf(ref.groups.cgm_mg_dl);
  for (let c = 0; c < rows; c++) cgm.set((c >> glucoseBit) & 1 ? actual("cgm_mg_dl") : flat, c * points);
  const repeat = (input: string) => {
    const one = actual(input);
    const out = new Float32Array(rows * one.length);
    for (let c = 0; c < rows; c++) out.set(one, c * one.length);
    return new ort.Tensor("float32", out, [rows, one.length]);
  };
  const rowInputs = {
    cgm_mg_dl: new ort.Tensor("float32", cgm, [rows, points]),
    meal: mixed("meal"),
    context: mixed("context"),
    diabetes_kind: repeat("diabetes_kind"),
  };
  if (!isPersonal(meta) || meta.history === undefined) return rowInputs;
  const slotOf = meta.history.slots;
  const historyBit = n - 1; // the person's past responses: the last factor
  const slots = BigInt64Array.from({ length: rows }, (_, c) =>
    BigInt((c >> historyBit) & 1 ? slotOf.with_history : slotOf.without),
  );
  // Two history sets: the person's (the prediction's set 0) and an all-NaN one, at the slots' indices.
  const history: Record<string, ort.Tensor> = {};
  for (const name of ["history_cgm_mg_dl", "history_meal", "history_context", "history_diabetes_kind", "history_glucose_mg_dl"]) {
    const one = prediction.feeds[name];
    const size = (one.data as Float32Array).length;
    const padding = name === "history_diabetes_kind" ? kindCode(undefined, meta) : NaN;
    const data = new Float32Array(2 * size).fill(padding);
    data.set(one.data as Float32Array, slotOf.with_history * size);
    history[name] = new ort.Tensor("float32", data, [2, ...one.dims.slice(1)]);
  }
  return { ...rowInputs, person: repeat("person"), history_slot: new ort.Tensor("int64", slots, [rows]), ...history };
}

/** Exact Shapley values of `values` (one per coalition, 2^n of them; bit g = factor g present). */
export function shapleyValues(values: ArrayLike<number>, n: number): number[] {
  const factorial = (k: number): number => (k <= 1 ? 1 : k * factorial(k - 1));
  const phi = new Array<number>(n).fill(0);
  for (let c = 0; c < 2 ** n; c++) {
    let size = 0;
    for (let g = 0; g < n; g++) size += (c >> g) & 1;
    for (let g = 0; g < n; g++) {
      const weight =
        (c >> g) & 1
          ? (factorial(size - 1) * factorial(n - size)) / factorial(n)
          : -(factorial(size) * factorial(n - size - 1)) / factorial(n);
      phi[g] += weight * values[c];
    }
  }
  return phi;
}

/** (rows,) the highest p50 rise after minute 0 of each row, as glucose_model/metrics.peak_rise. */
export function peakRises(out: ort.InferenceSession.OnnxValueMapType, meta: ResponseMetadata): number[] {
  const rise = out.rise_mg_dl.data as Float32Array;
  const nT = meta.curve_minutes.length;
  const nQ = meta.quantiles.length;
  const q = meta.quantiles.indexOf(0.5);
  const rows = rise.length / (nT * nQ);
  return Array.from({ length: rows }, (_, r) => {
    let best = -Infinity;
    for (let t = 1; t < nT; t++) best = Math.max(best, rise[(r * nT + t) * nQ + q]);
    return best;
  });
}
