// Time fields against the server's reading of them (pydantic's datetime parsing, serving/schemas/glucose.py's
// Timestamp, serving/device_time.py for a reading in a `cgm` with `tz`): every time of golden/timestamps.json
// must be accepted at the server's instant (isoformat, UTC seconds, microsecond) or refused with its error
// type and message, as a time field and as a reading in the zone; glucose.json's `time_forms` requests (every
// time in another accepted form) are answered as the server answered them by golden.test.ts and
// impact.test.ts, and its refused forms refused in the server's words by impact.test.ts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

import { localizeReadings } from "../src/device-time.ts";
import { localMinuteOfDay } from "../src/response.ts";
import { NUMBER_REFUSAL, readsAsNumber } from "../src/time-text.ts";
import { compareInstants, epochMs, isRefusal, isoformat, readTimestamp, type Instant, type TimeRefusal } from "../src/timestamp.ts";
import { pythonIsoformat } from "../src/validate.ts";
import { GOLDEN } from "./golden-models.ts";

interface Verdict {
  isoformat?: string;
  utc_s?: number;
  microsecond?: number;
  error?: string;
  msg?: string;
}

interface Case {
  time: unknown;
  field: Verdict;
  reading_in_zone?: Verdict; // absent: as `field`
}

const doc = JSON.parse(readFileSync(path.join(GOLDEN, "timestamps.json"), "utf8")) as { zone: string; forms: number; times: Case[] };
const glucose = JSON.parse(readFileSync(path.join(GOLDEN, "glucose.json"), "utf8"));

function verdict(t: Instant | TimeRefusal): Verdict {
  return isRefusal(t) ? { error: t.type, msg: t.msg } : { isoformat: isoformat(t), utc_s: t.utcS, microsecond: t.microsecond };
}

/** A reading's time in a `cgm` with `tz`: device-time.ts writes the zone's offset first, then the schema. */
function inZone(time: unknown): Verdict {
  const cgm = localizeReadings({ unit: "mg/dL", tz: doc.zone, readings: [{ time: time as string, value: 100 }] });
  return verdict(readTimestamp(cgm.readings[0].time));
}

function disagreements(read: (time: unknown) => Verdict, want: (c: Case) => Verdict): string[] {
  const wrong: string[] = [];
  for (const c of doc.times) {
    const got = read(c.time);
    if (JSON.stringify(got) !== JSON.stringify(want(c))) wrong.push(`${JSON.stringify(c.time)}: ${JSON.stringify(got)}, server ${JSON.stringify(want(c))}`);
  }
  return wrong;
}

const find = (time: unknown) => doc.times.find((c) => JSON.stringify(c.time) === JSON.stringify(time)) as Case;

describe("time fields, as the server reads them", () => {
  test("the table holds the forms the review named, with the server's verdicts", () => {
    assert.ok(doc.times.length > 1500, `${doc.times.length} times`);
    assert.match(find("2026-01-01T12:34:56+01").field.msg ?? "", /unexpected extra characters/);
    for (const sep of ["t", "_", " "]) assert.equal(find(`2026-01-01${sep}12:34:56+01:00`).field.isoformat, "2026-01-01T12:34:56+01:00");
    assert.equal(find("2026-01-01T12:34:56").reading_in_zone?.isoformat, "2026-01-01T12:34:56+01:00");
  });

  test("a number in a string is refused as the server refuses it, with or without cgm.tz, and nothing else is", () => {
    for (const number of ["1767270896", "+1767270896", "1767270896.", "1.767270896e9", "2026", "20261025"]) {
      assert.deepEqual(find(number).field, { error: NUMBER_REFUSAL.type, msg: NUMBER_REFUSAL.msg }, number);
      assert.equal(find(number).reading_in_zone, undefined, number); // fromisoformat reads "20261025" as a date
      assert.deepEqual(readTimestamp(number), NUMBER_REFUSAL, number);
    }
    const numbers = doc.times.filter((c) => typeof c.time === "string" && readsAsNumber(c.time));
    assert.ok(numbers.length > 100, `${numbers.length} numbers`);
    const others = doc.times.filter((c) => !numbers.includes(c) && c.field.msg === NUMBER_REFUSAL.msg);
    assert.deepEqual(others.map((c) => c.time), []);
    for (const text of ["1e9", "inf", " 1767270896", "1_767_270_896", "9223372036854775808", "1.5e400"]) assert.ok(!readsAsNumber(text), text);
    for (const text of ["-9223372036854775808", `${"0".repeat(5000)}1`, ".5", "1.e5", "-0"]) assert.ok(readsAsNumber(text), text);
  });

  test("every time as a time field: the server's instant, or its refusal in its words", (t) => {
    const wrong = disagreements((time) => verdict(readTimestamp(time)), (c) => c.field);
    t.diagnostic(`${doc.times.length - wrong.length} of ${doc.times.length} as the server reads them`);
    assert.deepEqual(wrong.slice(0, 20), []);
  });

  test("every time as a CGM reading's in a cgm with tz: device-time.ts, then the same reading", (t) => {
    const wrong = disagreements(inZone, (c) => c.reading_in_zone ?? c.field);
    t.diagnostic(`${doc.times.length - wrong.length} of ${doc.times.length} as the server reads them`);
    assert.deepEqual(wrong.slice(0, 20), []);
  });

  test("instants order to the microsecond, and the local time of day is the time's own offset's", () => {
    const accepted = doc.times.filter((c) => c.field.isoformat !== undefined);
    assert.ok(accepted.length > 100, `${accepted.length} accepted`);
    for (const c of accepted) {
      const time = readTimestamp(c.time) as Instant;
      assert.equal(pythonIsoformat(c.time as string), c.field.isoformat);
      const [h, m, s] = (c.field.isoformat as string).slice(11, 19).split(":").map(Number);
      assert.equal(localMinuteOfDay(c.time as string), h * 60 + m + s / 60, String(c.time));
      const later = { ...time, microsecond: time.microsecond + 1 };
      assert.equal(compareInstants(time, later), -1);
      assert.ok(epochMs(later) > epochMs(time), String(c.time));
    }
  });

  test("glucose.json has requests with every accepted form and refused forms", () => {
    const names = new Set(glucose.cases.map((c: { name: string }) => c.name));
    for (const name of ["impact_time_forms", "forecast_time_forms"]) assert.ok(names.has(name), name);
    const refused = new Set(glucose.refused.cases.map((c: { name: string }) => c.name));
    const refusedNames = ["meal_time_offset_in_hours_only", "insulin_time_as_a_week_date", "forecast_meal_time_as_a_number", "meal_time_as_unix_seconds_in_a_string", "cgm_reading_time_as_unix_milliseconds_in_a_string"];
    for (const name of refusedNames) assert.ok(refused.has(name), name);
  });
});
