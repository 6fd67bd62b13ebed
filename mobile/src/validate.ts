// The requests the server refuses with 422, refused here before the graph sees them (the graph itself
// refuses nothing: all-NaN CGM gives finite numbers). Mirrors, in the server's order:
// - the request schema (serving/schemas/meals.py, glucose.py: types, ranges, enums, list lengths, times
//   as pydantic reads them with a UTC offset between 2000 and 2100 (timestamp.ts), no key the schema does
//   not define), as pydantic and serving/schemas/closed.py word it ("Input should be ...", "Extra inputs
//   are not permitted: ..."); reading times without an offset are read in `cgm.tz` first, as
//   serving/device_time.py (device-time.ts);
// - serving/request_records.py: glucose 20-600 mg/dL after the unit, times not in the future (5 min clock
//   skew), readings strictly increasing;
// - glucose_model/features.pre_meal_from_grid: at least 6 of the 12 grid points of the hour before the meal
//   and one in its last 30 min; glucose_model/impact._past_meal_windows: the same for each past meal, and
//   at least half of the 3 h after it measured;
// - serving/output_bounds.check_outputs on the answer (`checkAnswer`).
// Each refusal says the server's problem type (its `type` URI ends with it), the field, and what to fix;
// the golden test checks these against the server's 422 answers.
import { resampleToGrid } from "./cgm.ts";
import { UnknownTimeZone, localizeReadings } from "./device-time.ts";
import { aroundMeal, readingsOf, type CarbsInterval, type CgmIn, type ImpactRequest, type ResponseMetadata } from "./response.ts";
import { compareInstants, epochMs, instantOf, isRefusal, isoformat, readTimestamp, type Instant } from "./timestamp.ts";

export const GLUCOSE_MIN_MG_DL = 20; // glucose_model/records.py
export const GLUCOSE_MAX_MG_DL = 600;
const MG_DL_PER_MMOL_L = 18.016;
export const MIN_VALID_LAST_HOUR = 6; // glucose_model/features.py
export const BASELINE_WINDOW_MIN = 30;
export const MIN_MEASURED_SHARE = 0.5; // glucose_model/impact.py
export const CLOCK_SKEW_MIN = 5; // serving/request_records.py
const MAX_ANSWER_GLUCOSE_MG_DL = 600; // serving/output_bounds.py

/** What to do about each kind of refusal (the server's problem types, serving/problems.py). */
export const PROBLEMS: Record<string, string> = {
  "validation-error": "The field named says what to fix.",
  "bad-unit": "Glucose unit must be mg/dL or mmol/L.",
  "value-out-of-range": "Check the units and the values sent.",
  "timestamps-out-of-order": "Send readings in strictly increasing time order, without duplicates.",
  "timestamp-in-future": "Check the device clock and the UTC offset of the times sent.",
  "too-few-cgm-readings": "Send more recent CGM readings (the detail says how many).",
  "invalid-record": "The detail says which field to fix.",
  "stale-cgm": "Send the latest readings; the last one must be recent (see MEALIMPACT_MAX_CGM_AGE_MIN).",
  "prediction-out-of-range": "The inputs drive the model beyond what a body can reach; check the amounts and units sent.",
};

/** A request the server would refuse with 422: `problem` is its problem type, `loc` the field. */
export class RequestRefused extends Error {
  readonly problem: string;
  readonly loc: (string | number)[];
  readonly detail: string;

  constructor(problem: string, loc: (string | number)[], detail: string) {
    super(`${detail} (${problem}: ${PROBLEMS[problem] ?? ""})`);
    this.name = "RequestRefused";
    this.problem = problem;
    this.loc = loc;
    this.detail = detail;
  }
}

type Loc = (string | number)[];
const dotted = (loc: Loc) => loc.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("").replace(/^\./, "");

function schemaError(loc: Loc, msg: string): never {
  // A missing or wrong unit is the server's bad-unit problem when nothing else is wrong (see `withUnits`).
  if (loc[loc.length - 1] === "unit") throw new RequestRefused("bad-unit", loc, `${dotted(loc)} must be 'mg/dL' or 'mmol/L'`);
  throw new RequestRefused("validation-error", loc, `${dotted(loc)}: ${msg}`);
}

/**
 * serving/problems.py: the schema's unit errors are one bad-unit problem naming each unit field (joined by
 * "; ") only when the schema finds nothing else; otherwise the server says validation-error, and so does this
 * (naming the other error). Each unit met is set valid and the schema checked again, to find the others.
 */
function withUnits(body: unknown, check: (body: unknown) => void): void {
  const units: Loc[] = [];
  let probe = body;
  for (;;) {
    try {
      check(probe);
      break;
    } catch (e) {
      if (!(e instanceof RequestRefused) || e.problem !== "bad-unit") throw e;
      units.push(e.loc);
      probe = structuredClone(probe);
      let target = probe as Record<string | number, unknown>;
      for (const key of e.loc.slice(0, -1)) target = target[key] as Record<string | number, unknown>;
      target[e.loc[e.loc.length - 1]] = "mg/dL";
    }
  }
  if (units.length > 0) throw new RequestRefused("bad-unit", units[0], units.map((l) => `${dotted(l)} must be 'mg/dL' or 'mmol/L'`).join("; "));
}

/** serving/schemas/closed.py's edit distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  const rows: number[][] = [Array.from({ length: y.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= x.length; i++) {
    const row = [i, ...new Array<number>(y.length).fill(0)];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      row[j] = Math.min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) row[j] = Math.min(row[j], rows[i - 2][j - 2] + 1);
    }
    rows.push(row);
  }
  return rows[x.length][y.length];
}

const MAX_SUGGESTION_EDITS = 2;

/** The field `name` was probably meant to be (the first of the nearest, case ignored), or null. */
export function closestField(name: string, fields: readonly string[]): string | null {
  let best: string | null = null;
  let bestEdits = MAX_SUGGESTION_EDITS + 1;
  for (const field of fields) {
    const edits = editDistance(name.toLowerCase(), field.toLowerCase());
    if (edits < bestEdits) [best, bestEdits] = [field, edits];
  }
  return bestEdits <= MAX_SUGGESTION_EDITS && bestEdits < Array.from(name).length ? best : null;
}

// The fields of each request object in the server's order (pydantic's model_fields: inherited first).
const FIELDS = {
  impact: ["cgm", "activity", "profile", "insulin", "sleep_hours", "recent_meals", "history", "meal"],
  forecast: ["cgm", "meals", "insulin", "activity", "profile"],
  meal: ["time", "sugars_g", "fiber_g", "fat_g", "protein_g", "carbs_g"],
  cgm: ["unit", "readings", "tz"],
  reading: ["time", "value"],
  activitySummary: ["steps", "heart_rate", "planned_walk_min"],
  activity: ["time", "duration_min", "steps", "heart_rate_bpm"],
  profile: ["diabetes", "age_years", "sex", "bmi_kg_m2", "hba1c_percent", "fasting_glucose_mg_dl", "medication"],
  insulin: ["time", "units", "kind"],
  mealEvent: ["time", "carbs_g"],
  pastMeal: ["meal", "cgm"],
} as const;
// Other names of a field the server accepts (pydantic validation aliases).
const ALIASES: Record<string, string[]> = { heart_rate_bpm: ["heart_rate"] };
/** serving/schemas/meals.py: a glycemic index is refused with its reason (the model saw GI only in simulated meals). */
export const GLYCEMIC_INDEX_REFUSED =
  "the response model saw a glycemic index only in simulated meals and its answer to one is not trustworthy " +
  "(models/glucose_response/MODEL_CARD.md); leave it out";
const MEAL_REFUSED: Record<string, string> = { glycemic_index: GLYCEMIC_INDEX_REFUSED, glycaemic_index: GLYCEMIC_INDEX_REFUSED };

/** Refuses a key `fields` does not name, in serving/schemas/closed.py's words. */
function closed(obj: Record<string, unknown>, loc: Loc, fields: readonly string[], refused: Record<string, string> = {}): void {
  const known = new Set(fields.flatMap((f) => [f, ...(ALIASES[f] ?? [])]));
  const name = Object.keys(obj).find((k) => !known.has(k));
  if (name === undefined) return;
  const extra = "Extra inputs are not permitted";
  if (Object.hasOwn(refused, name)) schemaError([...loc, name], `${extra}: '${name}' is not accepted: ${refused[name]}`);
  const close = closestField(name, fields);
  const hint = close === null ? "" : ` (did you mean '${close}'?)`;
  schemaError([...loc, name], `${extra}: '${name}' is not a field here${hint}; the fields are ${fields.join(", ")}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function number(
  parent: Record<string, unknown>,
  key: string,
  loc: Loc,
  bounds: { ge?: number; le?: number; gt?: number; optional?: boolean },
): void {
  const v = parent[key];
  const here = [...loc, key];
  if (v === undefined || (v === null && bounds.optional)) {
    if (bounds.optional) return;
    schemaError(here, "Field required");
  }
  if (typeof v !== "number") schemaError(here, "Input should be a valid number");
  if (Number.isNaN(v)) return; // pydantic lets NaN through the schema; the records refuse it where it matters
  if (bounds.ge !== undefined && !(v >= bounds.ge)) schemaError(here, `Input should be greater than or equal to ${bounds.ge}`);
  if (bounds.gt !== undefined && !(v > bounds.gt)) schemaError(here, `Input should be greater than ${bounds.gt}`);
  if (bounds.le !== undefined && !(v <= bounds.le)) schemaError(here, `Input should be less than or equal to ${bounds.le}`);
}

function literal(parent: Record<string, unknown>, key: string, loc: Loc, allowed: string[], optional: boolean): void {
  const v = parent[key];
  if (v === undefined || (v === null && optional)) {
    if (optional) return;
    schemaError([...loc, key], "Field required");
  }
  if (typeof v !== "string" || !allowed.includes(v)) {
    const words = allowed.map((a) => `'${a}'`);
    schemaError([...loc, key], `Input should be ${words.slice(0, -1).join(", ")} or ${words[words.length - 1]}`);
  }
}

function list(parent: Record<string, unknown>, key: string, loc: Loc, min: number, max: number, optional = true): unknown[] {
  const v = parent[key];
  if (v === undefined || (v === null && optional)) {
    if (optional) return [];
    schemaError([...loc, key], "Field required");
  }
  if (!Array.isArray(v)) schemaError([...loc, key], "Input should be a valid list");
  if (v.length < min) schemaError([...loc, key], `List should have at least ${min} item${min === 1 ? "" : "s"} after validation, not ${v.length}`);
  if (v.length > max) schemaError([...loc, key], `List should have at most ${max} items after validation, not ${v.length}`);
  return v;
}

function object(parent: Record<string, unknown>, key: string, loc: Loc, optional: boolean): Record<string, unknown> | undefined {
  const v = parent[key];
  if (v === undefined || (v === null && optional)) {
    if (optional) return undefined;
    schemaError([...loc, key], "Field required");
  }
  if (!isObject(v)) schemaError([...loc, key], "Input should be a valid dictionary or instance of the model");
  return v;
}

/** A time field (the schema's `Timestamp`), read as the server reads it (timestamp.ts). */
function timestamp(parent: Record<string, unknown>, key: string, loc: Loc): void {
  const here = [...loc, key];
  if (parent[key] === undefined) schemaError(here, "Field required");
  const time = readTimestamp(parent[key]);
  if (isRefusal(time)) schemaError(here, time.msg);
}

/** The time as Python's datetime.isoformat() writes the server's datetime (the server names past meals so). */
export const pythonIsoformat = (time: string): string => isoformat(instantOf(time));

function cgmSchema(parent: Record<string, unknown>, key: string, loc: Loc): void {
  const raw = object(parent, key, loc, false) as Record<string, unknown>;
  const here = [...loc, key];
  // serving/device_time.localize_readings runs first (a model validator, before the fields): a `tz` string
  // that names no zone is the cgm object's only error; reading times without an offset get its offset.
  let cgm: Record<string, unknown>;
  try {
    cgm = localizeReadings(raw);
  } catch (e) {
    if (e instanceof UnknownTimeZone) throw new RequestRefused("validation-error", here, `${dotted(here)}: Value error, ${e.message}`);
    throw e;
  }
  closed(cgm, here, FIELDS.cgm);
  literal(cgm, "unit", here, ["mg/dL", "mmol/L"], false);
  const readings = list(cgm, "readings", here, 1, 4032, false);
  readings.forEach((r, i) => {
    if (!isObject(r)) schemaError([...here, "readings", i], "Input should be a valid dictionary or instance of the model");
    closed(r, [...here, "readings", i], FIELDS.reading);
    timestamp(r, "time", [...here, "readings", i]);
    number(r, "value", [...here, "readings", i], {});
  });
  if (cgm.tz !== undefined && cgm.tz !== null && typeof cgm.tz !== "string") schemaError([...here, "tz"], "Input should be a valid string");
}

function mealSchema(parent: Record<string, unknown>, key: string, loc: Loc): void {
  const meal = object(parent, key, loc, false) as Record<string, unknown>;
  const here = [...loc, key];
  closed(meal, here, FIELDS.meal, MEAL_REFUSED);
  timestamp(meal, "time", here);
  for (const [name, le] of [["sugars_g", 1000], ["fiber_g", 500], ["fat_g", 1000], ["protein_g", 1000]] as const) {
    number(meal, name, here, { ge: 0, le, optional: true });
  }
  number(meal, "carbs_g", here, { ge: 0, le: 1000 });
}

/** The schema of an impact request (ImpactRequest), as pydantic checks it; throws on the first problem. */
export function checkImpactSchema(body: unknown): asserts body is ImpactRequest {
  withUnits(body, impactSchema);
}

function impactSchema(body: unknown): void {
  if (!isObject(body)) schemaError([], "Input should be a valid dictionary or instance of the model");
  closed(body, [], FIELDS.impact);
  mealSchema(body, "meal", []);
  cgmSchema(body, "cgm", []);
  const activity = object(body, "activity", [], true);
  if (activity !== undefined) {
    closed(activity, ["activity"], FIELDS.activitySummary);
    number(activity, "steps", ["activity"], { ge: 0, le: 50_000, optional: true });
    number(activity, "heart_rate", ["activity"], { ge: 20, le: 250, optional: true });
    number(activity, "planned_walk_min", ["activity"], { ge: 0, le: 600, optional: true });
  }
  profileSchema(body);
  insulinSchema(body);
  number(body, "sleep_hours", [], { ge: 0, le: 24, optional: true });
  mealEventsSchema(body, "recent_meals", 20);
  list(body, "history", [], 0, 50).forEach((h, i) => {
    if (!isObject(h)) schemaError(["history", i], "Input should be a valid dictionary or instance of the model");
    closed(h, ["history", i], FIELDS.pastMeal);
    mealSchema(h, "meal", ["history", i]);
    cgmSchema(h, "cgm", ["history", i]);
  });
}

function mealEventsSchema(body: Record<string, unknown>, key: string, max: number): void {
  list(body, key, [], 0, max).forEach((m, i) => {
    if (!isObject(m)) schemaError([key, i], "Input should be a valid dictionary or instance of the model");
    closed(m, [key, i], FIELDS.mealEvent);
    timestamp(m, "time", [key, i]);
    number(m, "carbs_g", [key, i], { ge: 0, le: 1000 });
  });
}

function insulinSchema(body: Record<string, unknown>): void {
  list(body, "insulin", [], 0, 200).forEach((d, i) => {
    if (!isObject(d)) schemaError(["insulin", i], "Input should be a valid dictionary or instance of the model");
    closed(d, ["insulin", i], FIELDS.insulin);
    timestamp(d, "time", ["insulin", i]);
    number(d, "units", ["insulin", i], { ge: 0, le: 200 });
    literal(d, "kind", ["insulin", i], ["rapid", "basal"], true);
  });
}

function profileSchema(body: Record<string, unknown>): void {
  const profile = object(body, "profile", [], true);
  if (profile !== undefined) {
    closed(profile, ["profile"], FIELDS.profile);
    literal(profile, "diabetes", ["profile"], ["none", "prediabetes", "type2", "type1"], true);
    number(profile, "age_years", ["profile"], { ge: 1, le: 120, optional: true });
    literal(profile, "sex", ["profile"], ["female", "male"], true);
    number(profile, "bmi_kg_m2", ["profile"], { ge: 10, le: 80, optional: true });
    number(profile, "hba1c_percent", ["profile"], { ge: 3, le: 20, optional: true });
    number(profile, "fasting_glucose_mg_dl", ["profile"], { ge: 40, le: 500, optional: true });
    const medication = list(profile, "medication", ["profile"], 0, 4);
    const drugs = ["none", "oral", "basal_insulin", "rapid_insulin"];
    medication.forEach((m, i) => {
      if (typeof m !== "string" || !drugs.includes(m)) {
        schemaError(["profile", "medication", i], "Input should be 'none', 'oral', 'basal_insulin' or 'rapid_insulin'");
      }
    });
  }
}

/** A forecast request (the body of POST /v1/glucose/forecast). */
export interface ForecastRequest {
  cgm: CgmIn;
  meals?: { time: string; carbs_g: number }[];
  insulin?: { time: string; units: number; kind?: "rapid" | "basal" }[];
  activity?: { time: string; duration_min: number; steps?: number | null; heart_rate_bpm?: number | null; heart_rate?: number | null }[];
  profile?: ImpactRequest["profile"];
}

/** The schema of a forecast request (ForecastRequest), as pydantic checks it. */
export function checkForecastSchema(body: unknown): asserts body is ForecastRequest {
  withUnits(body, forecastSchema);
}

function forecastSchema(body: unknown): void {
  if (!isObject(body)) schemaError([], "Input should be a valid dictionary or instance of the model");
  closed(body, [], FIELDS.forecast);
  cgmSchema(body, "cgm", []);
  mealEventsSchema(body, "meals", 100);
  insulinSchema(body);
  list(body, "activity", [], 0, 500).forEach((a, i) => {
    if (!isObject(a)) schemaError(["activity", i], "Input should be a valid dictionary or instance of the model");
    closed(a, ["activity", i], FIELDS.activity);
    timestamp(a, "time", ["activity", i]);
    number(a, "duration_min", ["activity", i], { gt: 0, le: 1440 });
    number(a, "steps", ["activity", i], { ge: 0, le: 100_000, optional: true });
    // heart_rate is accepted as another name of heart_rate_bpm (the error names the one sent).
    number(a, a.heart_rate_bpm === undefined && a.heart_rate !== undefined ? "heart_rate" : "heart_rate_bpm", ["activity", i], { ge: 20, le: 250, optional: true });
  });
  profileSchema(body);
}

/** Python's f"{x:,.0f}": whole number with thousands separated by commas. */
const pyThousands = (x: number) => Math.round(x).toLocaleString("en-US");

/**
 * Refuses (throws RequestRefused) what POST /v1/glucose/forecast refuses with 422, in the server's order:
 * the schema, the readings (range, future, order), a last reading older than `maxCgmAgeMin` (the server's
 * MEALIMPACT_MAX_CGM_AGE_MIN, 20 by default), meals or insulin in the future, and a last hour with fewer than
 * 6 of its 12 grid points up to the latest reading.
 */
export function validateForecastRequest(
  request: unknown,
  options: { now?: Date; maxCgmAgeMin?: number; stepMin?: number } = {},
): asserts request is ForecastRequest {
  checkForecastSchema(request);
  const nowMs = (options.now ?? new Date()).getTime();
  const maxAge = options.maxCgmAgeMin ?? 20;
  const last = Math.max(...checkReadings(request.cgm, nowMs, "cgm", ["cgm"]).map(epochMs));
  const ageMin = (nowMs - last) / 60_000;
  if (maxAge && ageMin > maxAge) {
    throw new RequestRefused(
      "stale-cgm",
      ["cgm", "readings"],
      `The last CGM reading is ${pyThousands(ageMin)} min old; a forecast needs one from the last ${maxAge} min. Send the latest readings.`,
    );
  }
  (request.meals ?? []).forEach((m, i) => notFuture(m.time, nowMs, `meals[${i}]`, ["meals", i, "time"]));
  (request.insulin ?? []).forEach((d, i) => notFuture(d.time, nowMs, `insulin[${i}]`, ["insulin", i, "time"]));
  const stepMin = options.stepMin ?? 5;
  const grid = resampleToGrid(readingsOf(request.cgm), stepMin);
  const g = grid.glucoseMgDl;
  let lastHour = 0;
  for (let i = Math.max(0, g.length - 12); i < g.length; i++) if (Number.isFinite(g[i])) lastHour++;
  if (g.length === 0 || !Number.isFinite(g[g.length - 1]) || lastHour < MIN_VALID_LAST_HOUR) {
    throw new RequestRefused(
      "too-few-cgm-readings",
      ["cgm", "readings"],
      `a forecast needs CGM readings covering at least ${MIN_VALID_LAST_HOUR * stepMin} of the last 60 minutes, ` +
        "up to the latest reading; send the last 2-3 hours of CGM",
    );
  }
}

function notFuture(time: string | Instant, nowMs: number, what: string, loc: Loc): void {
  if (epochMs(typeof time === "string" ? instantOf(time) : time) > nowMs + CLOCK_SKEW_MIN * 60_000) {
    throw new RequestRefused("timestamp-in-future", loc, `${what} is in the future; check the device clock and the UTC offset of the times`);
  }
}

/** serving/request_records.glucose_series: unit, range, not in the future, strictly increasing; returns the
 * readings' instants. */
function checkReadings(cgmIn: CgmIn, nowMs: number, what: string, loc: Loc): Instant[] {
  const cgm = localizeReadings(cgmIn);
  const { glucoseMgDl } = readingsOf(cgm);
  const bad = glucoseMgDl.findIndex((v) => !Number.isFinite(v) || v < GLUCOSE_MIN_MG_DL || v > GLUCOSE_MAX_MG_DL);
  if (bad >= 0) {
    const [lo, hi] = [GLUCOSE_MIN_MG_DL / MG_DL_PER_MMOL_L, GLUCOSE_MAX_MG_DL / MG_DL_PER_MMOL_L];
    throw new RequestRefused(
      "value-out-of-range",
      [...loc, "readings", bad, "value"],
      `${what}.readings[${bad}] is outside ${GLUCOSE_MIN_MG_DL}-${GLUCOSE_MAX_MG_DL} mg/dL ` +
        `(${lo.toFixed(1)}-${hi.toFixed(1)} mmol/L); check cgm.unit and drop sensor error codes`,
    );
  }
  const times = cgm.readings.map((r) => instantOf(r.time));
  times.forEach((t, i) => notFuture(t, nowMs, `${what}.readings[${i}]`, [...loc, "readings", i, "time"]));
  for (let i = 1; i < times.length; i++) {
    if (compareInstants(times[i], times[i - 1]) <= 0) {
      throw new RequestRefused(
        "timestamps-out-of-order",
        [...loc, "readings", i, "time"],
        `${what}.readings[${i}] is not later than the reading before it; send readings oldest first without duplicates`,
      );
    }
  }
  return times;
}

/** features.pre_meal_from_grid's two checks on the (37,) grid before a meal; the message, or null. */
function preMealProblem(window: ArrayLike<number>): string | null {
  const n = window.length;
  const valid = (i: number) => Number.isFinite(window[i]);
  let lastHour = 0;
  for (let i = n - 12; i < n; i++) if (valid(i)) lastHour++;
  if (lastHour < MIN_VALID_LAST_HOUR) {
    return (
      `the hour before the meal has ${lastHour} of 12 CGM points on the 5-min grid; ` +
      `send at least ${MIN_VALID_LAST_HOUR} (the last 60 min of CGM readings before the meal)`
    );
  }
  let baseline = 0;
  for (let i = n - 1 - BASELINE_WINDOW_MIN / 5; i < n; i++) if (valid(i)) baseline++;
  if (baseline === 0) return `no CGM reading in the ${BASELINE_WINDOW_MIN} min before the meal; send the most recent readings`;
  return null;
}

/** Python's str() of a float ("20.0", "12.5"), for messages that quote one. */
const pyFloat = (v: number) => (Number.isInteger(v) ? v.toFixed(1) : String(v));

/**
 * Refuses (throws RequestRefused) what POST /v1/meals/impact refuses with 422, in the server's order.
 * `now`: the moment the request is made (times after it plus 5 min are refused); `carbs`: the photo's
 * carbohydrate interval when the carbohydrate came from the recognizer.
 */
export function validateImpactRequest(
  request: unknown,
  meta: ResponseMetadata,
  options: { now?: Date; carbs?: CarbsInterval; stepMin?: number } = {},
): asserts request is ImpactRequest {
  checkImpactSchema(request);
  const nowMs = (options.now ?? new Date()).getTime();
  const stepMin = options.stepMin ?? 5;
  notFuture(request.meal.time, nowMs, "meal.time", ["meal", "time"]);
  (request.insulin ?? []).forEach((d, i) => notFuture(d.time, nowMs, `insulin[${i}]`, ["insulin", i, "time"]));
  checkReadings(request.cgm, nowMs, "cgm", ["cgm"]);
  const history = request.history ?? [];
  history.forEach((entry, i) => {
    notFuture(entry.meal.time, nowMs, `history[${i}].meal.time`, ["history", i, "meal", "time"]);
    checkReadings(entry.cgm, nowMs, `history[${i}].cgm`, ["history", i, "cgm"]);
  });
  const points = meta.inputs.cgm_mg_dl.shape[1] as number;
  const grid = resampleToGrid(readingsOf(request.cgm), stepMin);
  const problem = preMealProblem(aroundMeal(grid, request.meal.time, points, true, stepMin));
  if (problem !== null) throw new RequestRefused("too-few-cgm-readings", ["cgm", "readings"], problem);
  const carbs = options.carbs;
  if (carbs !== undefined && carbs.p90G < carbs.p10G) {
    throw new RequestRefused("invalid-record", ["meal", "carbs_g"], `carbs_p90_g (${pyFloat(carbs.p90G)}) is below carbs_p10_g (${pyFloat(carbs.p10G)})`);
  }
  // A personal graph reads the latest max_meals past meals; the server checks those it uses.
  const used = Array.isArray(meta.person_fields) && meta.history !== undefined ? history.slice(-meta.history.max_meals) : history;
  const skipped = history.length - used.length;
  used.forEach((entry, k) => {
    const i = skipped + k;
    const pastGrid = resampleToGrid(readingsOf(entry.cgm), stepMin);
    let why = preMealProblem(aroundMeal(pastGrid, entry.meal.time, points, true, stepMin));
    if (why === null) {
      const after = aroundMeal(pastGrid, entry.meal.time, points, false, stepMin);
      const share = Array.from(after).filter(Number.isFinite).length / after.length;
      if (share < MIN_MEASURED_SHARE) {
        why = `CGM covers only ${(100 * share).toFixed(0)}% of the 3 h after it (at least ${(100 * MIN_MEASURED_SHARE).toFixed(0)}% needed)`;
      }
    }
    if (why !== null) {
      throw new RequestRefused(
        "too-few-cgm-readings",
        ["history", i, "cgm", "readings"],
        `history[${k}] (the past meal at ${pythonIsoformat(entry.meal.time)}): ${why}; ` +
          "send its CGM from 1 h before to 3 h after it, or leave that meal out of the history",
      );
    }
  });
}

/** serving/output_bounds.check_outputs on the answer: every number finite, glucose 0-600, probability 0-1. */
export function checkAnswer(answer: {
  curve: { glucoseMgDl: number[]; lowMgDl: number[]; highMgDl: number[] };
  peak: { glucoseMgDl: number; riseMgDl: number };
  spike: { probability: number; thresholdMgDl: number };
  explanation: { contributions: { peakRiseMgDl: number; iauc2hMgDlMin: number }[]; referencePeakRiseMgDl: number; predictedPeakRiseMgDl: number; referenceIauc2hMgDlMin: number; predictedIauc2hMgDlMin: number };
  whatIf: { peakGlucoseMgDl: number | null; spikeProbability: number | null }[];
}): void {
  const g = MAX_ANSWER_GLUCOSE_MG_DL;
  const checks: [string, number, number, number][] = [];
  answer.curve.glucoseMgDl.forEach((v, i) => {
    checks.push([`curve[${i}].glucose_mg_dl`, v, 0, g], [`curve[${i}].low_mg_dl`, answer.curve.lowMgDl[i], 0, g], [`curve[${i}].high_mg_dl`, answer.curve.highMgDl[i], 0, g]);
  });
  checks.push(["peak.glucose_mg_dl", answer.peak.glucoseMgDl, 0, g], ["peak.rise_mg_dl", answer.peak.riseMgDl, -g, g]);
  checks.push(["spike.probability", answer.spike.probability, 0, 1], ["spike.threshold_mg_dl", answer.spike.thresholdMgDl, 0, g]);
  const e = answer.explanation;
  e.contributions.forEach((c, i) => {
    checks.push([`explanation.contributions[${i}].peak_rise_mg_dl`, c.peakRiseMgDl, -g, g]);
    checks.push([`explanation.contributions[${i}].iauc_2h_mg_dl_min`, c.iauc2hMgDlMin, -Infinity, Infinity]);
  });
  checks.push(["explanation.reference_peak_rise_mg_dl", e.referencePeakRiseMgDl, -g, g], ["explanation.predicted_peak_rise_mg_dl", e.predictedPeakRiseMgDl, -g, g]);
  checks.push(["explanation.reference_iauc_2h_mg_dl_min", e.referenceIauc2hMgDlMin, -Infinity, Infinity], ["explanation.predicted_iauc_2h_mg_dl_min", e.predictedIauc2hMgDlMin, -Infinity, Infinity]);
  answer.whatIf.forEach((w, i) => {
    if (w.peakGlucoseMgDl !== null) checks.push([`what_if[${i}].peak_glucose_mg_dl`, w.peakGlucoseMgDl, 0, g]);
    if (w.spikeProbability !== null) checks.push([`what_if[${i}].spike_probability`, w.spikeProbability, 0, 1]);
  });
  for (const [path, value, lo, hi] of checks) {
    if (!Number.isFinite(value)) {
      throw new RequestRefused("prediction-out-of-range", [path], `The model gave no finite value for ${path}; check the amounts sent.`);
    }
    if (value < lo || value > hi) {
      throw new RequestRefused(
        "prediction-out-of-range",
        [path],
        `${path} would be outside ${lo}..${hi}: the inputs drive the model beyond what a body can reach; check the amounts and units sent.`,
      );
    }
  }
}
