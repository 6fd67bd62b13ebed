// Which time strings the server refuses as numbers (serving/time_text.py): pydantic would read them as Unix
// seconds (milliseconds beyond 2e10 in size) in UTC, so the schema refuses them before it parses them, and a
// reading in a `cgm` with `tz` is not localized (fromisoformat reads "20261025" as a basic-format date).
// pydantic-core's number syntax: an integer that fits in 64 bits (any number of leading zeros), or a finite
// decimal written with a point (an exponent may follow); no spaces, no `_`, not `1e9`, `inf` or `nan`.

/** The server's refusal of such a string: its error type and message (the 422's `errors[].type`, `msg`). */
export const NUMBER_REFUSAL = {
  type: "value_error",
  msg: "Value error, time must be an ISO 8601 date-time string with its UTC offset, such as 2026-11-28T12:00:00+01:00, not a number of seconds",
};

const INTEGER = /^[+-]?[0-9]+$/;
const DECIMAL = /^[+-]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** True when pydantic would read `text`, given for a date-time, as a number (in a valid year or not). */
export function readsAsNumber(text: string): boolean {
  if (INTEGER.test(text)) {
    const value = BigInt(text.replace(/^\+/, ""));
    return value >= I64_MIN && value <= I64_MAX;
  }
  return DECIMAL.test(text) && Number.isFinite(Number(text));
}
