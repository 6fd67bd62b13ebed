// Device-local reading times (`cgm.tz`) against the server's serving/device_time.py: every zone name and
// reading time of golden/device_time.json (wall times around each change of offset of ten zones in 2000,
// 2026 and 2099, and the forms Python's datetime.fromisoformat reads) must come out as the server writes
// them, or be refused in its words; glucose.json's requests with device-local times are answered (or
// refused) as the server answered them by golden.test.ts and impact.test.ts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

import { UnknownTimeZone, isTimeZone, localizeReadings, naiveIsoTime, pythonRepr, wallOffsetS } from "../src/device-time.ts";
import { GOLDEN } from "./golden-models.ts";

interface Localized {
  tz: unknown;
  time: unknown;
  localized?: unknown;
  error?: string;
}

const doc = JSON.parse(readFileSync(path.join(GOLDEN, "device_time.json"), "utf8")) as { zones: Localized[]; times: Localized[] };
const glucose = JSON.parse(readFileSync(path.join(GOLDEN, "glucose.json"), "utf8"));

/** What this client makes of one reading time in `tz`: the time it writes, or the refusal's message. */
function localize(tz: unknown, time: unknown): { localized?: unknown; error?: string } {
  try {
    const cgm = localizeReadings({ unit: "mg/dL", tz, readings: [{ time, value: 100 }] });
    return { localized: cgm.readings[0].time };
  } catch (e) {
    if (e instanceof UnknownTimeZone) return { error: e.message };
    throw e;
  }
}

function agree(cases: Localized[]): string[] {
  const wrong: string[] = [];
  for (const c of cases) {
    const got = localize(c.tz, c.time);
    const want = c.error !== undefined ? { error: c.error } : { localized: c.localized };
    if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${JSON.stringify(c.tz)} ${JSON.stringify(c.time)}: ${JSON.stringify(got)}, server ${JSON.stringify(want)}`);
  }
  return wrong;
}

describe("device-local reading times, as serving/device_time.py reads them", () => {
  test("zone names: accepted, or refused in the server's words (folders, wrong case, Python's repr)", () => {
    assert.ok(doc.zones.some((c) => c.tz === "America" && c.error !== undefined), "a folder name");
    assert.ok(doc.zones.some((c) => c.error === undefined), "an accepted name");
    assert.deepEqual(agree(doc.zones), []);
  });

  test("wall times around every change of offset get the server's offset (fold=0), to the second", (t) => {
    const around = doc.times.filter((c) => typeof c.localized === "string" && /[+-]\d\d:\d\d$/.test(c.localized as string));
    assert.ok(around.length > 1000, `${around.length} localized times`);
    const zones = new Set(doc.times.map((c) => c.tz));
    for (const zone of ["Europe/Zurich", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin", "Antarctica/Troll"]) assert.ok(zones.has(zone), zone);
    const wrong = agree(doc.times);
    t.diagnostic(`${doc.times.length - wrong.length} of ${doc.times.length} reading times as the server writes them`);
    assert.deepEqual(wrong, []);
  });

  test("many readings at once (offsets from the zone's changes, found once) give the same times", () => {
    // Grouped by zone and year: a year's readings are localized from one scan of the zone's changes.
    const groups = new Map<string, Localized[]>();
    for (const c of doc.times) {
      if (typeof c.localized !== "string" || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(c.time as string)) continue;
      const key = `${c.tz} ${(c.time as string).slice(0, 4)}`;
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    assert.ok(groups.size >= 30, `${groups.size} zone-years`);
    for (const [key, cases] of groups) {
      const cgm = localizeReadings({ unit: "mg/dL", tz: cases[0].tz, readings: cases.map((c) => ({ time: c.time as string, value: 100 })) });
      assert.deepEqual(cgm.readings.map((r) => r.time), cases.map((c) => c.localized), key);
    }
  });

  test("the hour the clocks skip and the hour they repeat take the offset before the change", () => {
    const wall = (iso: string) => Date.parse(`${iso}Z`);
    assert.equal(wallOffsetS("Europe/Zurich", wall("2026-03-29T02:30:00")), 3600); // never happens: +01:00
    assert.equal(wallOffsetS("Europe/Zurich", wall("2026-03-29T03:00:00")), 7200);
    assert.equal(wallOffsetS("Europe/Zurich", wall("2026-10-25T02:30:00")), 7200); // happens twice: the first
    assert.equal(wallOffsetS("Europe/Zurich", wall("2026-10-25T03:00:00")), 3600);
    assert.equal(wallOffsetS("America/New_York", wall("2026-11-01T01:30:00")), -4 * 3600);
    assert.equal(wallOffsetS("America/New_York", wall("2026-03-08T02:30:00")), -5 * 3600);
  });

  test("times with an offset, and what fromisoformat cannot read, are left as they are", () => {
    assert.equal(localize("Europe/Zurich", "2026-10-25T02:30:00+01:00").localized, "2026-10-25T02:30:00+01:00");
    assert.equal(localize("Europe/Zurich", "2026-02-30T10:00").localized, "2026-02-30T10:00");
    assert.equal(naiveIsoTime("2026-10-25T02:30:00Z"), null);
    assert.deepEqual(naiveIsoTime("20261025T0230"), { year: 2026, month: 10, day: 25, hour: 2, minute: 30, second: 0, microsecond: 0 });
    assert.equal(localize(null, "2026-10-25T02:30").localized, "2026-10-25T02:30"); // no tz: the schema refuses it
  });

  test("zone names as zoneinfo takes them: case matters, offsets are no zones", () => {
    assert.ok(isTimeZone("Europe/Zurich") && isTimeZone("US/Eastern"));
    assert.ok(!isTimeZone("europe/zurich") && !isTimeZone("America") && !isTimeZone("+01:00") && !isTimeZone(""));
    assert.equal(pythonRepr("Don't"), `"Don't"`);
    assert.equal(pythonRepr("a\"b'c\n"), `'a"b\\'c\\n'`);
  });

  test("glucose.json has requests with device-local times, across the clocks going forward and back, and refusals", () => {
    const accepted = (glucose.cases as { name: string; request: { cgm: { tz?: string } } }[]).filter((c) => typeof c.request.cgm.tz === "string");
    const names = accepted.map((c) => c.name);
    for (const name of ["impact_device_time_zurich", "impact_device_time_zurich_spring_forward", "impact_device_time_zurich_fall_back", "impact_device_time_new_york_fall_back", "forecast_device_time_new_york"]) {
      assert.ok(names.includes(name), name);
    }
    // The fall-back cases mix times without an offset and (in the repeated hour) with one.
    const fall = accepted.find((c) => c.name === "impact_device_time_zurich_fall_back") as unknown as { request: { cgm: { readings: { time: string }[] } } };
    const offsets = fall.request.cgm.readings.map((r) => /[+-]\d\d:\d\d$/.test(r.time));
    assert.ok(offsets.includes(true) && offsets.includes(false));
    const refused = (glucose.refused.cases as { name: string; problem: { detail: string } }[]).map((c) => c.name);
    for (const name of ["cgm_tz_is_a_folder", "cgm_tz_unknown_and_unit_misspelt", "cgm_readings_through_the_skipped_hour", "cgm_repeated_hour_without_offset", "forecast_cgm_tz_unknown"]) {
      assert.ok(refused.includes(name), name);
    }
  });
});
