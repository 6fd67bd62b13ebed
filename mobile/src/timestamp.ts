// How the server reads a time field (the schema's `Timestamp`, serving/schemas/glucose.py): pydantic's lax
// datetime parsing (pydantic-core's speedate, on the string's UTF-8 bytes), then "has a UTC offset", then
// 2000 <= time < 2100 in UTC. One reader for every time the client reads, so it accepts exactly what the
// server accepts, at the same instant (to the microsecond), and refuses the rest in the server's words.
//
// Accepted: YYYY-MM-DD, one of `T` `t` `_` or a space, HH:MM, optionally :SS and a fraction after `.` or `,`
// (any number of digits, cut to 6), and an offset `Z` `z` or +HH:MM +HHMM -HH:MM (U+2212 too) below 24 h.
// Not: a number in a string, which pydantic would read as Unix seconds (milliseconds beyond 2e10 in size) in
// UTC and the server refuses first ("not a number of seconds", time-text.ts); an hour-only or seconds offset
// (+01, +01:00:00), a leap second, 24:00, week or ordinal dates, the basic format, spaces around. A time
// without offset is refused ("Input should have timezone info") unless it is a CGM reading of a `cgm` with
// `tz` (device-time.ts writes the zone's offset first). When the date-time grammar fails, pydantic reads the
// string as a date alone and words the refusal by that: "Input should be a valid datetime or date, <why the
// date failed>" (golden/timestamps.json holds its verdict on each form).
import { daysIn, hasLoneSurrogate, wallMs, writeIsoformat, type WallTime } from "./device-time.ts";
import { NUMBER_REFUSAL, readsAsNumber } from "./time-text.ts";

/** A time as the server holds it: the instant and the wall clock in the time's own offset. */
export interface Instant {
  utcS: number; // whole seconds since 1970-01-01 UTC (floor): Python's int(time.timestamp())
  microsecond: number;
  offsetS: number; // the time's own UTC offset (0 for Z)
  local: WallTime; // the wall clock in that offset (what the meal's local time of day is read from)
}

/** The server's refusal of a time: pydantic's error type and message (the 422's `errors[].type`, `msg`). */
export interface TimeRefusal {
  type: string;
  msg: string;
}

export const EARLIEST_UTC_S = Date.UTC(2000, 0, 1) / 1000; // serving/schemas/glucose.py EARLIEST_TIME
export const LATEST_UTC_S = Date.UTC(2100, 0, 1) / 1000;
const NOT_A_STRING = "Value error, time must be an ISO 8601 date-time string with its UTC offset"; // _iso_text
const OUTSIDE_YEARS = "Value error, time must lie between the years 2000 and 2100"; // _plausible

const ZERO = 0x30;
const isDigit = (c: number | undefined) => c !== undefined && c >= ZERO && c <= ZERO + 9;
const code = (s: string) => s.charCodeAt(0);
const [T, t, SPACE, UNDERSCORE, COLON, DOT, COMMA, Z, z, PLUS, HYPHEN] = Array.from("Tt _:.,Zz+-", code);

/** Two ASCII digits at `i` as a number, or null. */
function two(b: Uint8Array, i: number): number | null {
  return isDigit(b[i]) && isDigit(b[i + 1]) ? (b[i] - ZERO) * 10 + (b[i + 1] - ZERO) : null;
}

interface Parsed {
  wall: WallTime;
  offsetS: number | null; // null: no offset (naive)
}

/** speedate's date YYYY-MM-DD at the start of `b`: the date or the reason it is not one, in its words. */
function datePart(b: Uint8Array): { year: number; month: number; day: number } | string {
  if (b.length < 10) return "input is too short";
  if (!(isDigit(b[0]) && isDigit(b[1]) && isDigit(b[2]) && isDigit(b[3]))) return "invalid character in year";
  if (b[4] !== HYPHEN) return "invalid date separator, expected `-`";
  const month = two(b, 5);
  if (month === null) return "invalid character in month";
  if (b[7] !== HYPHEN) return "invalid date separator, expected `-`";
  const day = two(b, 8);
  if (day === null) return "invalid character in day";
  const year = (b[0] - ZERO) * 1000 + (b[1] - ZERO) * 100 + (b[2] - ZERO) * 10 + (b[3] - ZERO);
  if (month < 1 || month > 12) return "month value is outside expected range of 1-12";
  if (day < 1 || day > daysIn(year, month)) return "day value is outside expected range";
  return { year, month, day };
}

const isMinusSign = (b: Uint8Array, i: number) => b[i] === 0xe2 && b[i + 1] === 0x88 && b[i + 2] === 0x92; // U+2212

/** speedate's RFC 3339 date-time: the fields and offset, or null (pydantic then tries a number, a date). */
function dateTime(b: Uint8Array): Parsed | null {
  const date = datePart(b);
  if (typeof date === "string") return null;
  if (b[10] !== T && b[10] !== t && b[10] !== SPACE && b[10] !== UNDERSCORE) return null;
  const hour = two(b, 11);
  const minute = two(b, 14);
  if (hour === null || b[13] !== COLON || minute === null || hour > 23 || minute > 59) return null;
  let second = 0;
  let microsecond = 0;
  let p = 16;
  if (b[p] === COLON) {
    const s = two(b, p + 1);
    if (s === null || s > 59) return null;
    second = s;
    p += 3;
    if (b[p] === DOT || b[p] === COMMA) {
      const start = ++p;
      while (isDigit(b[p])) p++;
      if (p === start) return null;
      for (let i = start; i < start + 6; i++) microsecond = microsecond * 10 + (i < p ? b[i] - ZERO : 0);
    }
  }
  const wall = { year: date.year, month: date.month, day: date.day, hour, minute, second, microsecond };
  if (p === b.length) return { wall, offsetS: null };
  if (b[p] === Z || b[p] === z) return p + 1 === b.length ? { wall, offsetS: 0 } : null;
  const sign = b[p] === PLUS ? 1 : -1;
  if (b[p] === PLUS || b[p] === HYPHEN) p += 1;
  else if (isMinusSign(b, p)) p += 3;
  else return null;
  const oh = two(b, p);
  if (oh === null || oh >= 24) return null;
  p += b[p + 2] === COLON ? 3 : 2;
  const om = two(b, p);
  if (om === null || om >= 60 || p + 2 !== b.length) return null;
  return { wall, offsetS: sign * (oh * 3600 + om * 60) };
}

/** Why pydantic's fallback, the string read as a date alone, fails: its words; null if it does not. */
function dateRefusal(b: Uint8Array): string | null {
  const date = datePart(b);
  if (typeof date !== "string") return b.length > 10 ? "unexpected extra characters at the end of the input" : null;
  return date;
}

const utf8 = new TextEncoder();

/**
 * The server's reading of a time field's JSON value: the instant, or its refusal (pydantic's type and
 * message, as in the 422's `errors`). A CGM reading's time in a `cgm` with `tz` is read after
 * localizeReadings (device-time.ts) has given it the zone's offset.
 */
export function readTimestamp(value: unknown): Instant | TimeRefusal {
  if (typeof value !== "string") return { type: "value_error", msg: NOT_A_STRING };
  if (hasLoneSurrogate(value)) return { type: "string_unicode", msg: "Input should be a valid string, unable to parse raw data as a unicode string" };
  if (readsAsNumber(value)) return { ...NUMBER_REFUSAL };
  const b = utf8.encode(value);
  const parsed = dateTime(b);
  if (parsed === null) {
    const why = dateRefusal(b);
    if (why !== null) return { type: "datetime_from_date_parsing", msg: `Input should be a valid datetime or date, ${why}` };
    return { type: "timezone_aware", msg: "Input should have timezone info" }; // a date alone: midnight, naive
  }
  if (parsed.offsetS === null) return { type: "timezone_aware", msg: "Input should have timezone info" };
  const { wall, offsetS } = parsed;
  if (wall.year === 0) return { type: "datetime_parsing", msg: "Input should be a valid datetime, year 0 is out of range" };
  const { year, month, day, hour, minute, second } = wall;
  const utcS = wallMs(year, month, day, hour, minute, second) / 1000 - offsetS;
  if (!(utcS >= EARLIEST_UTC_S && utcS < LATEST_UTC_S)) return { type: "value_error", msg: OUTSIDE_YEARS };
  return { utcS, microsecond: wall.microsecond, offsetS, local: wall };
}

export const isRefusal = (t: Instant | TimeRefusal): t is TimeRefusal => "msg" in t;

/** The instant of a time the schema has accepted (throws on one it refuses: validate the request first). */
export function instantOf(value: unknown): Instant {
  const t = readTimestamp(value);
  if (isRefusal(t)) throw new Error(`${JSON.stringify(value)}: ${t.msg}`);
  return t;
}

/** Milliseconds since the epoch, with the microseconds as a fraction (exact order at this size). */
export const epochMs = (t: Instant) => t.utcS * 1000 + t.microsecond / 1000;

/** -1, 0 or 1 as `a` is before, at or after `b`, to the microsecond. */
export const compareInstants = (a: Instant, b: Instant) => Math.sign(a.utcS - b.utcS || a.microsecond - b.microsecond);

/** The time as Python's datetime.isoformat() writes the server's datetime (the server quotes past meals so). */
export const isoformat = (t: Instant): string => writeIsoformat(t.local, t.offsetS);

/** Minutes after local midnight in the time's own offset: glucose_model/features.py (hour, minute, second). */
export const localMinuteOfDay = (t: Instant) => t.local.hour * 60 + t.local.minute + t.local.second / 60;
