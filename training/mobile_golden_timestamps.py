"""Golden cases for how the server reads a time (the schema's `Timestamp`, serving/schemas/glucose.py) in the
JavaScript client: pydantic's datetime parsing, its timezone and 2000-2100 checks, and for a CGM reading in a
`cgm` with `tz` serving/device_time.py first (a time without an offset is read in the zone).

- `timestamp_cases`: time strings (and a few other JSON values) with the server's verdict: the datetime it
  made (Python's isoformat, UTC seconds, microsecond) or its refusal (pydantic's error type and message).
  The forms a phone or a person might write (separators, offsets, fractions, epoch numbers in a string, a
  date alone, week dates, basic format, spaces), and every one-character edit of a few valid times. A number
  in a string, which pydantic would read as Unix seconds or milliseconds, is refused (serving/time_text.py).
- `time_forms`: a request with its times rewritten in the other forms the server accepts, same instants.
- `refused_time_form_requests`: requests refused for the form of one time (hours-only offset, week date,
  a number in a string).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from serving.schemas.glucose import Cgm, Reading

ZONE = "Europe/Zurich"  # the zone of `cgm.tz` for the readings' column
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Forms of one time, each accepted or refused by the server for a reason worth pinning down.
FORMS: tuple[object, ...] = (
    # the date-time separator
    "2026-01-01T12:34:56+01:00",
    "2026-01-01t12:34:56+01:00",
    "2026-01-01_12:34:56+01:00",
    "2026-01-01 12:34:56+01:00",
    "2026-01-01X12:34:56+01:00",
    "2026-01-01\u00e912:34:56+01:00",
    "2026-01-01\t12:34:56+01:00",
    # the offset
    "2026-01-01T12:34:56Z",
    "2026-01-01T12:34:56z",
    "2026-01-01T12:34:56+01",
    "2026-01-01T12:34:56+0100",
    "2026-01-01T12:34:56-0130",
    "2026-01-01T12:34:56+01:00:00",
    "2026-01-01T12:34:56+00:34:08",
    "2026-01-01T12:34:56-00:00",
    "2026-01-01T12:34:56\u221201:00",
    "2026-01-01T12:34:56+23:59",
    "2026-01-01T12:34:56-23:59",
    "2026-01-01T12:34:56+24:00",
    "2026-01-01T12:34:56+01:60",
    "2026-01-01T12:34:56+1:00",
    "2026-01-01T12:34:56+01:0",
    "2026-01-01T12:34:56 +01:00",
    "2026-01-01T12:34:56UTC",
    "2026-01-01T12:34:56+01:00Z",
    "2026-01-01T12:34:56",
    # fractions of a second
    "2026-01-01T12:34:56.1+01:00",
    "2026-01-01T12:34:56.12+01:00",
    "2026-01-01T12:34:56.123+01:00",
    "2026-01-01T12:34:56.1234+01:00",
    "2026-01-01T12:34:56.12345+01:00",
    "2026-01-01T12:34:56.123456+01:00",
    "2026-01-01T12:34:56.1234567+01:00",
    "2026-01-01T12:34:56.12345678+01:00",
    "2026-01-01T12:34:56.123456789+01:00",
    "2026-01-01T12:34:56.999999999999+01:00",
    "2026-01-01T12:34:56,5+01:00",
    "2026-01-01T12:34:56.+01:00",
    "2026-01-01T12:34:56.5",
    # the clock
    "2026-01-01T12:34+01:00",
    "2026-01-01T12+01:00",
    "2026-01-01T1234+01:00",
    "2026-01-01T123456+01:00",
    "2026-01-01T12:34:5+01:00",
    "2026-01-01T12:34.5+01:00",
    "2026-12-31T23:59:60Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T23:60:00Z",
    # the date
    "2026-01-01",
    "2026-01-01Z",
    "2026-01-01T",
    "2026-02-29T12:00:00Z",
    "2028-02-29T12:00:00Z",
    "2026-13-01T12:00:00Z",
    "2026-04-31T12:00:00Z",
    "2026-1-1T12:00:00Z",
    "2026/01/01T12:00:00Z",
    "20260101T123456Z",
    "20260101T12:34:56+01:00",
    "2026-W01-4T12:34:56Z",
    "2026-001T12:34:56Z",
    "+2026-01-01T12:34:56Z",
    "\uff12\uff10\uff12\uff16-01-01T12:34:56Z",
    # spaces and other characters around it
    " 2026-01-01T12:34:56Z",
    "2026-01-01T12:34:56Z ",
    "2026-01-01T12:34:56Z\n",
    "2026-01-01T12:34:56Z\u0000",
    "2026-01-01T12:34:56Z\ud800",
    "2026-01-01\ud80012:34:56",
    "",
    "2026",
    "garbage",
    # the years the server takes (2000-2100, in UTC)
    "1999-12-31T23:59:59Z",
    "2000-01-01T00:00:00Z",
    "2000-01-01T00:59:59+01:00",
    "2000-01-01T00:30:00",
    "1999-12-31T23:30:00-01:00",
    "2099-12-31T23:59:59.999999Z",
    "2100-01-01T00:00:00Z",
    "2099-12-31T23:30:00-01:00",
    "0001-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "0000-01-01T00:00:00",
    "9999-12-31T23:59:59-01:00",
    # a number in a string, which pydantic would read as Unix seconds (milliseconds beyond 2e10): refused, in
    # range or not, with or without cgm.tz (fromisoformat reads the first three as basic-format dates)
    "20261025",
    "2026102510230",
    "2026102510230.5",
    "1767270896",
    "1767270896.5",
    "1767270896123",
    "1767270896123.4567",
    "1003413764968.2175",  # whole milliseconds, then the fraction's microseconds: .218 (not 1e-3 of it: .217)
    "+1767270896",
    "01767270896",
    "1767270896.",
    "1.767270896e9",
    "1767270896.5e0",
    "1.e5",
    ".5",
    "+.5e-3",
    "-0",
    "00000000000000000000001767270896",
    "1e9",
    "-1",
    "0",
    "946684800",
    "946684799.9999995",
    "946684799.9999994",
    "4102444799.999999",
    "4102444800",
    "19999999999",
    "20000000001",
    "253402300800000",
    "-62167219200000",
    "-62167219200001",
    "-99999999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1.0e300",
    "1767270896 ",
    " 1767270896",
    "1_767_270_896",
    "1.5e400",
    "inf",
    "NaN",
    # not a string
    1767270896,
    1767270896.5,
    None,
    True,
    ["2026-01-01T12:34:56Z"],
)
# Valid times whose every one-character edit (deleted, replaced, inserted) is a case.
EDITED = ("2026-03-29T02:30:05.25+01:00", "2026-10-25 02:30Z", "1774747805.5")
EDIT_CHARACTERS = "019-:Tt_ .,Zz+e\u2212"


def _unix_s(time: datetime) -> int:
    return (time - _EPOCH) // timedelta(seconds=1)


def _one_character_edits(text: str) -> Iterator[str]:
    for i in range(len(text)):
        yield text[:i] + text[i + 1 :]
        for c in EDIT_CHARACTERS:
            yield text[:i] + c + text[i + 1 :]
    for i in range(len(text) + 1):
        for c in EDIT_CHARACTERS:
            yield text[:i] + c + text[i:]


def _verdict(validate: Any, value: object) -> dict[str, object]:
    """What the server makes of one time: its datetime (isoformat, UTC seconds, microsecond), or the first
    error pydantic gives about it."""
    try:
        time = validate(value)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        return {"error": first["type"], "msg": first["msg"]}
    assert isinstance(time, datetime)
    return {
        "isoformat": time.isoformat(),
        "utc_s": _unix_s(time),
        "microsecond": time.microsecond,
    }


def _as_field(value: object) -> datetime:
    """A time as every `Timestamp` field reads it (a reading's without `cgm.tz`)."""
    return Reading.model_validate({"time": value, "value": 100.0}).time


def _as_reading_in_zone(value: object) -> datetime:
    """A reading's time in a `cgm` whose `tz` is ZONE: serving/device_time.py, then the schema."""
    cgm = Cgm.model_validate({"unit": "mg/dL", "tz": ZONE, "readings": [{"time": value, "value": 100.0}]})
    return cgm.readings[0].time


def timestamp_cases() -> dict[str, object]:
    """The server's verdict on each time of FORMS and of the one-character edits of EDITED: as a `Timestamp`
    field (`field`), and as a CGM reading's time in a `cgm` with `tz` ZONE (`reading_in_zone`, written only
    where it differs)."""
    values: list[object] = list(FORMS)
    seen = {repr(v) for v in values}
    for text in itertools.chain.from_iterable(_one_character_edits(t) for t in EDITED):
        if repr(text) not in seen:
            seen.add(repr(text))
            values.append(text)
    return {
        "zone": ZONE,
        "forms": len(FORMS),
        "times": [
            _case(value, _verdict(_as_field, value), _verdict(_as_reading_in_zone, value)) for value in values
        ],
    }


def _case(value: object, field: dict[str, object], in_zone: dict[str, object]) -> dict[str, object]:
    """One row of the table; `reading_in_zone` only where it differs from `field` (a time without offset)."""
    return {"time": value, "field": field} | ({} if in_zone == field else {"reading_in_zone": in_zone})


def _writers(time: datetime) -> Iterator[str]:
    """`time` (aware) in forms the server reads as the same instant: `_` and +HHMM, `t` and a 9-digit comma
    fraction, UTC with `Z` (or ` ` and `z` without seconds), UTC as `-00:00` with a 7-digit fraction, in
    +13:45 after a space, and in another offset written with U+2212."""
    offset = time.utcoffset()
    assert offset is not None
    sign, minutes = ("-" if offset < timedelta(0) else "+"), abs(offset) // timedelta(minutes=1)
    wall = time.replace(tzinfo=None).isoformat(timespec="microseconds")
    utc = time.astimezone(UTC).replace(tzinfo=None).isoformat()
    yield f"{wall[:10]}_{wall[11:]}{sign}{minutes // 60:02d}{minutes % 60:02d}"
    yield f"{wall[:10]}t{wall[11:19]},{wall[20:]}000{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    yield f"{utc[:10]} {utc[11:16]}z" if utc.endswith(":00") and time.microsecond == 0 else f"{utc}Z"
    yield f"{time.astimezone(UTC).replace(tzinfo=None).isoformat(timespec='microseconds')}0-00:00"
    east = time.astimezone(timezone(timedelta(hours=13, minutes=45))).replace(tzinfo=None).isoformat()
    yield f"{east[:10]} {east[11:]}+1345"
    west = time.astimezone(timezone(-timedelta(hours=5, minutes=30))).replace(tzinfo=None).isoformat()
    yield f"{west}\u221205:30"  # U+2212, the minus sign ISO 8601 also allows


def time_forms(request: Mapping[str, Any]) -> dict[str, Any]:
    """`request` with every time rewritten, in turn, in each form of `_writers` (the same instants; the
    meal's own time keeps its offset, as its local time of day is a model input)."""
    changed = copy.deepcopy(dict(request))
    forms = itertools.cycle(range(6))

    def rewrite(text: str) -> str:
        return list(_writers(datetime.fromisoformat(text)))[next(forms)]

    for entry in [*changed.get("insulin", []), *changed.get("recent_meals", []), *changed.get("meals", [])]:
        entry["time"] = rewrite(entry["time"])
    for cgm in [changed["cgm"], *(past["cgm"] for past in changed.get("history", []))]:
        for reading in cgm["readings"]:
            reading["time"] = rewrite(reading["time"])
    if "meal" in changed:
        changed["meal"]["time"] = next(_writers(datetime.fromisoformat(changed["meal"]["time"])))
    return changed


def refused_time_form_requests(
    impact: Mapping[str, Any], forecast: Mapping[str, Any]
) -> list[tuple[str, str, dict[str, Any]]]:
    """(route kind, name, request) refused for the form of one time: an offset of hours only (the meal), a
    week date (an insulin dose), a reading's offset with seconds, the meal's time as Unix seconds in a
    string, a forecast meal's time as a JSON number, a forecast reading's as milliseconds in a string.
    `impact` is the personal impact request."""
    out: list[tuple[str, str, dict[str, Any]]] = []

    def changed(kind: str, name: str, base: Mapping[str, Any], path: tuple[Any, ...], time: object) -> None:
        request = copy.deepcopy(dict(base))
        place: Any = request
        for key in path:
            place = place[key]
        place["time"] = time
        out.append((kind, name, request))

    meal = datetime.fromisoformat(impact["meal"]["time"])
    changed("impact", "meal_time_offset_in_hours_only", impact, ("meal",), meal.isoformat()[:-3])
    insulin = datetime.fromisoformat(impact["insulin"][0]["time"])
    week = insulin.strftime("%G-W%V-%u") + insulin.isoformat()[10:]
    changed("impact", "insulin_time_as_a_week_date", impact, ("insulin", 0), week)
    reading = impact["cgm"]["readings"][3]["time"]
    changed("impact", "cgm_reading_offset_with_seconds", impact, ("cgm", "readings", 3), f"{reading}:00")
    changed("impact", "meal_time_as_unix_seconds_in_a_string", impact, ("meal",), str(_unix_s(meal)))
    epoch = _unix_s(datetime.fromisoformat(forecast["meals"][0]["time"]))
    changed("forecast", "forecast_meal_time_as_a_number", forecast, ("meals", 0), epoch)
    last = datetime.fromisoformat(forecast["cgm"]["readings"][-1]["time"])
    path = ("cgm", "readings", len(forecast["cgm"]["readings"]) - 1)
    changed(
        "forecast", "cgm_reading_time_as_unix_milliseconds_in_a_string", forecast, path, f"{_unix_s(last)}000"
    )
    return out
