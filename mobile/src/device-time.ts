// Device-local reading times (`cgm.tz`), as serving/device_time.localize_readings reads them before the
// schema sees the request: when `tz` is a string it must name a zone (else the server's 422, on the cgm
// object), and each reading time that Python's datetime.fromisoformat parses without a UTC offset gets
// the zone's offset, written as Python's isoformat() writes it. Times with an offset keep it; a time
// fromisoformat cannot parse, a number in a string (time-text.ts), or one that is not a string, is left for
// the schema to refuse.
//
// The offset is zoneinfo's with fold=0 (what `datetime.replace(tzinfo=zone)` gives): a time in the hour
// the clocks go back (it happens twice) is its first occurrence, the offset before the change; a time in
// the hour the clocks skip (it never happens) also takes the offset before the change, so 02:30 in
// Zurich on the spring-forward day is 02:30+01:00 (01:30 UTC, 03:30 on the clock). Offsets come from
// Intl.DateTimeFormat (ICU's zone data; no dependency); the golden cases check them against Python's.

import { readsAsNumber } from "./time-text.ts";

/** Python's datetime.fromisoformat on a string without an offset: the wall-clock fields; else null. */
export interface WallTime {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
  microsecond: number;
}

const ZERO = 0x30;
const DAY_MS = 86_400_000;

/** CPython's _datetimemodule.c reads the UTF-8 bytes of the string, with a NUL after the last one. */
class Bytes {
  readonly data: Uint8Array;
  readonly length: number;

  constructor(text: string) {
    this.data = new TextEncoder().encode(text);
    this.length = this.data.length;
  }

  at(i: number): number {
    return i >= 0 && i < this.length ? this.data[i] : 0;
  }
}

const isDigit = (c: number) => c - ZERO >= 0 && c - ZERO < 10;
const ch = (s: string) => s.charCodeAt(0);

/** parse_digits: `count` ASCII digits from `pos`; [value, next position] or null. */
function digits(b: Bytes, pos: number, count: number): [number, number] | null {
  let value = 0;
  for (let i = 0; i < count; i++) {
    const d = b.at(pos + i) - ZERO;
    if (d < 0 || d > 9) return null;
    value = value * 10 + d;
  }
  return [value, pos + count];
}

/** _find_isoformat_datetime_separator: where the date part ends. */
function separatorAt(b: Bytes): number {
  const n = b.length;
  if (n === 7) return 7;
  if (b.at(4) === ch("-")) {
    if (b.at(5) === ch("W")) {
      if (n < 8) return -1;
      if (n > 8 && b.at(8) === ch("-")) {
        if (n === 9) return -1;
        if (n > 10 && isDigit(b.at(10))) return 8;
        return 10;
      }
      return 8;
    }
    return 10;
  }
  if (b.at(4) === ch("W")) {
    let idx = 7;
    while (idx < n && isDigit(b.at(idx))) idx++;
    if (idx < 9) return idx;
    return idx % 2 === 0 ? 7 : 8;
  }
  return 8;
}

const isLeap = (y: number) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
/** Days in a month of the proleptic Gregorian calendar (year 0 a leap year, as speedate has it). */
export const daysIn = (y: number, m: number) => [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];

/** Days since 1970-01-01 of a proleptic Gregorian date (any year). */
const epochDay = (y: number, m: number, d: number) => wallMs(y, m, d, 0, 0, 0) / DAY_MS;

/** iso_to_ymd: an ISO year, week and weekday as year, month, day; null when out of range. */
function isoWeekDate(year: number, week: number, day: number): [number, number, number] | null {
  if (year < 1 || year > 9999) return null;
  if (week <= 0 || week >= 53) {
    // A year has a week 53 when it starts on a Thursday, or on a Wednesday in a leap year.
    const weekday = (((epochDay(year, 1, 1) + 3) % 7) + 7) % 7; // Monday 0 ... Sunday 6 (1970-01-01: Thursday)
    if (!(week === 53 && (weekday === 3 || (weekday === 2 && isLeap(year))))) return null;
  }
  if (day <= 0 || day >= 8) return null;
  const jan4 = epochDay(year, 1, 4);
  const jan4Weekday = (((jan4 + 3) % 7) + 7) % 7;
  const monday = jan4 - jan4Weekday + (week - 1) * 7 + (day - 1);
  const t = new Date(monday * DAY_MS);
  return [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate()];
}

/** parse_isoformat_date on bytes [0, end): [year, month, day] or null. */
function parseDate(b: Bytes, end: number): [number, number, number] | null {
  const y = digits(b, 0, 4);
  if (y === null) return null;
  let p = y[1];
  const sep = b.at(p) === ch("-");
  if (sep) p++;
  if (b.at(p) === ch("W")) {
    p++;
    const w = digits(b, p, 2);
    if (w === null) return null;
    p = w[1];
    let day = 1;
    if (p < end) {
      if (sep && b.at(p++) !== ch("-")) return null;
      const d = digits(b, p, 1);
      if (d === null) return null;
      day = d[0];
    }
    return isoWeekDate(y[0], w[0], day);
  }
  const m = digits(b, p, 2);
  if (m === null) return null;
  p = m[1];
  if (sep && b.at(p++) !== ch("-")) return null;
  const d = digits(b, p, 2);
  if (d === null) return null;
  return [y[0], m[0], d[0]];
}

/** parse_hh_mm_ss_ff on bytes [start, end): the fields and whether anything follows, or null. */
function parseClock(b: Bytes, start: number, end: number): { fields: number[]; more: boolean } | null {
  const fields = [0, 0, 0, 0];
  let p = start;
  let sep = true;
  for (let i = 0; i < 3; i++) {
    const v = digits(b, p, 2);
    if (v === null) return null;
    fields[i] = v[0];
    p = v[1];
    const c = b.at(p++);
    if (i === 0) sep = c === ch(":");
    if (p >= end) return { fields, more: c !== 0 };
    if (sep && c === ch(":")) continue;
    if (c === ch(".") || c === ch(",")) break;
    if (!sep) p--;
    else return null;
  }
  const remains = end - p;
  const take = Math.min(remains, 6);
  const f = digits(b, p, take);
  if (f === null) return null;
  fields[3] = take < 6 ? f[0] * 10 ** (6 - take) : f[0];
  p = f[1];
  while (isDigit(b.at(p))) p++;
  return { fields, more: b.at(p) !== 0 };
}

/** Whether `text` has a surrogate that is not half of a pair (it has no UTF-8 encoding). */
export const hasLoneSurrogate = (s: string) => /[\ud800-\udfff]/.test(s) && /[\ud800-\udfff]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ""));

/**
 * Python's datetime.fromisoformat(text) when it gives a time without an offset (the wall-clock fields),
 * else null (it gives one with an offset, or raises ValueError). CPython's C parser, step for step.
 */
export function naiveIsoTime(text: string): WallTime | null {
  if (text.length < 7) return null;
  // A surrogate separator (positions 7, 8 or 10) is read as "T"; any other surrogate fails the encoding.
  let clean = text;
  for (const pos of [7, 8, 10]) {
    if (pos > text.length) break;
    const code = text.charCodeAt(pos);
    if (code >= 0xd800 && code <= 0xdfff) {
      clean = `${text.slice(0, pos)}T${text.slice(pos + 1)}`;
      break;
    }
  }
  if (hasLoneSurrogate(clean)) return null;
  const b = new Bytes(clean);
  const sepAt = separatorAt(b);
  if (sepAt < 0) return null;
  const date = parseDate(b, sepAt);
  if (date === null) return null;
  let clock = [0, 0, 0, 0];
  if (b.length > sepAt) {
    // The separator is any one character: skip its UTF-8 bytes.
    const lead = b.at(sepAt);
    const start = sepAt + (lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4);
    let tzAt = start;
    do {
      const c = b.at(tzAt);
      if (c === ch("Z") || c === ch("+") || c === ch("-")) break;
    } while (++tzAt < b.length);
    const parsed = parseClock(b, start, tzAt);
    if (parsed === null) return null;
    if (tzAt < b.length) return null; // an offset (or a malformed one): not a time without offset
    if (parsed.more) return null;
    clock = parsed.fields;
  }
  const [year, month, day] = date;
  const [hour, minute, second, microsecond] = clock;
  if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59 || microsecond > 999_999) return null;
  return { year, month, day, hour, minute, second, microsecond };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      era: "short",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Milliseconds since the epoch of a wall-clock time read as if it were UTC (any year, no 1900 shift). */
export function wallMs(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  if (y >= 100) return Date.UTC(y, mo - 1, d, h, mi, s); // Date.UTC reads years 0-99 as 1900-1999
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, s, 0);
  return t.getTime();
}

/** The zone's UTC offset (seconds) at the instant `utcMs`, from ICU's zone data. */
export function zoneOffsetS(zone: string, utcMs: number): number {
  const whole = Math.floor(utcMs / 1000) * 1000;
  const p: Record<string, string> = {};
  for (const part of formatter(zone).formatToParts(new Date(whole))) p[part.type] = part.value;
  const year = p.era === "BC" || p.era === "B" ? 1 - Number(p.year) : Number(p.year);
  return (wallMs(year, Number(p.month), Number(p.day), Number(p.hour), Number(p.minute), Number(p.second)) - whole) / 1000;
}

/** A zone's UTC offset (seconds) at an instant (ms since the epoch). */
export type OffsetAt = (utcMs: number) => number;
const SCAN_STEP_MS = 6 * 3_600_000; // no zone changes its offset twice within 6 h
const MAX_SCAN_MS = 400 * DAY_MS; // longer spans: ask ICU per time rather than scan

/**
 * The zone's offsets over [fromMs, toMs] from its changes, found once (ICU every 6 h, each change to the
 * second by bisection): the same numbers as zoneOffsetS at a fraction of the calls for many readings.
 */
export function zoneOffsetsOver(zone: string, fromMs: number, toMs: number): OffsetAt {
  const changes: { atMs: number; before: number; after: number }[] = [];
  let t = Math.floor(fromMs / 1000) * 1000;
  let offset = zoneOffsetS(zone, t);
  const first = offset;
  while (t < toMs) {
    const next = t + SCAN_STEP_MS;
    const nextOffset = zoneOffsetS(zone, next);
    if (nextOffset !== offset) {
      let [lo, hi] = [t, next]; // offset at lo is `offset`, at hi it is not
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (zoneOffsetS(zone, mid) === offset) lo = mid;
        else hi = mid;
      }
      changes.push({ atMs: hi, before: offset, after: nextOffset });
    }
    [t, offset] = [next, nextOffset];
  }
  return (utcMs) => {
    if (utcMs < fromMs || utcMs > t) return zoneOffsetS(zone, utcMs);
    let result = first;
    for (const c of changes) {
      if (utcMs >= c.atMs) result = c.after;
      else break;
    }
    return result;
  };
}

/**
 * The UTC offset (seconds) zoneinfo gives a wall-clock time with fold=0: the one valid offset; in a
 * fall-back hour (two are valid) the first, the offset before the change; in a spring-forward gap (none is
 * valid) the offset before the change too. Assumes, as Temporal does, at most one change within a day.
 */
export function wallOffsetS(zone: string, wall: number, offsetAt: OffsetAt = (utcMs) => zoneOffsetS(zone, utcMs)): number {
  const before = offsetAt(wall - DAY_MS);
  const after = offsetAt(wall + DAY_MS);
  if (before === after) return before;
  const valid = [before, after].filter((o) => offsetAt(wall - o * 1000) === o);
  // The gap (none valid) and the repeated hour (both valid): fold=0 keeps the offset before the change.
  return valid.length === 1 ? valid[0] : before;
}

/** Whether Python's zoneinfo (the server's glucose_model.records.time_zone) would take `name`. */
export function isTimeZone(name: string): boolean {
  if (/^[+-]/.test(name)) return false; // newer ICU takes "+01:00"; zoneinfo has no such file
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return false;
  }
  // ICU ignores case; zoneinfo reads a file, and its names are case-sensitive ("europe/zurich" is refused).
  return !(resolved.toLowerCase() === name.toLowerCase() && resolved !== name);
}

const pad = (v: number, width = 2) => String(v).padStart(width, "0");

function pythonOffset(offsetS: number): string {
  const sign = offsetS < 0 ? "-" : "+";
  const a = Math.abs(offsetS);
  const [h, m, s] = [Math.floor(a / 3600), Math.floor((a % 3600) / 60), a % 60];
  return `${sign}${pad(h)}:${pad(m)}${s === 0 ? "" : `:${pad(s)}`}`;
}

/** A wall time with its UTC offset (seconds), as Python's datetime.isoformat() writes it. */
export function writeIsoformat(time: WallTime, offsetS: number): string {
  const fraction = time.microsecond === 0 ? "" : `.${pad(time.microsecond, 6)}`;
  const date = `${pad(time.year, 4)}-${pad(time.month)}-${pad(time.day)}`;
  return `${date}T${pad(time.hour)}:${pad(time.minute)}:${pad(time.second)}${fraction}${pythonOffset(offsetS)}`;
}

/** `time` in `zone`, as Python's `time.replace(tzinfo=ZoneInfo(zone)).isoformat()` writes it. */
export function localizedIso(time: WallTime, zone: string, offsetAt?: OffsetAt): string {
  return writeIsoformat(time, wallOffsetS(zone, wallOf(time), offsetAt));
}

const wallOf = (t: WallTime) => wallMs(t.year, t.month, t.day, t.hour, t.minute, t.second);

/** Python's repr() of a string, as the server quotes a zone name it refuses. */
export function pythonRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = "";
  for (const c of text) {
    const code = c.codePointAt(0) as number;
    if (c === quote || c === "\\") out += `\\${c}`;
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (c === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (c !== " " && /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u.test(c)) {
      out += code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : code <= 0xffff ? `\\u${code.toString(16).padStart(4, "0")}` : `\\U${code.toString(16).padStart(8, "0")}`;
    } else out += c;
  }
  return `${quote}${out}${quote}`;
}

/** A `tz` that names no zone; the message is serving/device_time.py's (the server's 422 puts it on the cgm
 * object, after pydantic's "Value error, "). */
export class UnknownTimeZone extends Error {
  readonly zone: string;

  constructor(zone: string) {
    super(`tz ${pythonRepr(zone)} is no IANA time zone; give one such as Europe/Zurich`);
    this.name = "UnknownTimeZone";
    this.zone = zone;
  }
}

/**
 * serving/device_time.localize_readings: the raw `cgm` object with every reading time that has no offset
 * written with the offset of `cgm.tz` (a copy; the object itself when there is nothing to do). Throws
 * UnknownTimeZone when `tz` is a string that names no zone.
 */
export function localizeReadings<T>(cgm: T): T {
  if (typeof cgm !== "object" || cgm === null || Array.isArray(cgm)) return cgm;
  const data = cgm as Record<string, unknown>;
  const zone = data.tz;
  if (typeof zone !== "string") return cgm;
  if (!isTimeZone(zone)) throw new UnknownTimeZone(zone);
  if (!Array.isArray(data.readings)) return cgm;
  const walls = data.readings.map((reading: unknown) => {
    if (typeof reading !== "object" || reading === null || Array.isArray(reading)) return null;
    const time = (reading as Record<string, unknown>).time;
    // A number in a string is left for the schema to refuse (fromisoformat reads "20261025" as a date).
    return typeof time === "string" && !readsAsNumber(time) ? naiveIsoTime(time) : null;
  });
  const ms = walls.filter((w) => w !== null).map(wallOf);
  const [from, to] = [Math.min(...ms) - 2 * DAY_MS, Math.max(...ms) + 2 * DAY_MS];
  const offsetAt = ms.length > 1 && to - from <= MAX_SCAN_MS ? zoneOffsetsOver(zone, from, to) : undefined;
  const readings = data.readings.map((reading: unknown, i: number) => {
    const wall = walls[i];
    return wall === null ? reading : { ...(reading as Record<string, unknown>), time: localizedIso(wall, zone, offsetAt) };
  });
  return { ...data, readings } as T;
}
