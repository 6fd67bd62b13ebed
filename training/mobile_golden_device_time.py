"""Golden cases for device-local reading times (`cgm.tz`, serving/device_time.py) in the JavaScript client.

- `device_time_cases`: zone names and reading times through `localize_readings` itself, with what it
  wrote (or the error it raised): wall times around every change of offset of a set of zones (the hour
  skipped and the hour repeated, 30- and 45-minute offsets, a 2-hour jump, negative DST), and the time
  formats Python's `datetime.fromisoformat` reads.
- `device_local`: a request whose CGM reading times are written as the device's clock shows them (no
  offset) in a zone, moved to a given meal time (across a change of offset, say).
- `refused_device_time_requests`: requests the server refuses because of `cgm.tz`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from serving.device_time import localize_readings

# Zones whose offsets change in ways a client could get wrong.
TRANSITION_ZONES = (
    "Europe/Zurich",  # the usual one-hour DST at 01:00 UTC
    "America/New_York",  # DST at 02:00 local time
    "Australia/Sydney",  # southern hemisphere: the clocks go back in April
    "Australia/Lord_Howe",  # a 30-minute DST
    "Europe/Dublin",  # tzdata's negative DST (winter time is the "daylight" one)
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -03:30 / -02:30
    "Antarctica/Troll",  # a 2-hour DST
    "Africa/Casablanca",  # the clocks go back for Ramadan, and forward after it
    "America/Santiago",  # DST that starts and ends at midnight
)
ZONES_WITHOUT_CHANGES = ("UTC", "Etc/GMT+5", "Asia/Kathmandu", "Asia/Kolkata", "America/Sao_Paulo")
YEARS = (2000, 2026, 2099)
# Minutes around a change of offset (in wall time after the change starts) to sample, and seconds.
_AROUND_MIN = (-61, -60, -59, -31, -30, -1, 0, 1, 15, 29, 30, 31, 59, 60, 61, 89, 90, 119, 120, 121)
_AROUND_S = (-1, 1)

# Reading times in the forms fromisoformat reads (or not), in one zone, around a change of offset.
FORMAT_ZONE = "Europe/Zurich"
FORMATS: tuple[object, ...] = (
    "2026-03-29T02:30",
    "2026-03-29T02:30:00",
    "2026-03-29 02:30:00",
    "2026-03-29T02:30:00.5",
    "2026-03-29T02:30:00,123456789",
    "2026-03-29T02:30:00.1234567",
    "2026-03-29T02:30:00.",
    "2026-03-29T02:30:00:00",
    "2026-03-29T023000",
    "20260329T023000",
    "20260329T0230",
    "2026-W13-7T02:30",
    "2026W137T0230",
    "2026-W13",
    "2026W13",
    "2026-W53-1",
    "2020-W53-1T08:00",
    "2026-03-29",
    "20261025",
    "2026-03-29T02",
    "2026-03-29T02.5",
    "2026-03-29X02:30",
    "2026-03-29\u00e902:30",
    "2026-03-29T",
    "2026-3-29T02:30",
    "2026-02-30T10:00",
    "2026-03-29T24:00",
    "2026-03-29T02:60",
    "2026-10-25T02:30:00Z",
    "2026-10-25T02:30:00+01:00",
    "2026-10-25T02:30:00+0100",
    "2026-10-25T02:30:00-",
    "2026-10-25T02:30:00+01:00:30",
    "2026-10-25T02:30:00.000001",
    "2026-10-25T02:59:59.999999",
    "2026-10-25T03:00:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59",
    "",
    "garbage",
    "2026-10-25T02:30:00 ",
    " 2026-10-25T02:30:00",
    12345,
    None,
)
# Zone names: accepted, and refused (a folder, a wrong case, names zoneinfo cannot open, Python's repr).
ZONE_NAMES = (
    "Europe/Zurich",
    "America/Argentina/Buenos_Aires",
    "US/Eastern",
    "Asia/Calcutta",
    "Etc/GMT-14",
    "GMT",
    "EST5EDT",
    "America",
    "America/Argentina",
    "Etc",
    "europe/zurich",
    "EUROPE/ZURICH",
    "Mars/Olympus_Mons",
    "",
    "x" * 70,
    "+01:00",
    "UTC+1",
    "/Europe/Zurich",
    "Europe/Zurich/",
    "Europe/../Europe/Zurich",
    " Europe/Zurich",
    "Europe/Zurich\n",
    "Europe/Z\u00fcrich",
    "Don't/Know",
    "a\"b'c",
    "Back\\slash",
)


def _localized(tz: object, time: object) -> dict[str, object]:
    """What localize_readings makes of one reading time in `tz`: the time it wrote, or its error."""
    try:
        cgm = localize_readings({"unit": "mg/dL", "tz": tz, "readings": [{"time": time, "value": 100.0}]})
    except ValueError as err:
        return {"tz": tz, "time": time, "error": str(err)}
    return {"tz": tz, "time": time, "localized": cgm["readings"][0]["time"]}


def _changes(zone: ZoneInfo, year: int) -> Iterator[datetime]:
    """The UTC instants in `year` at which `zone`'s offset changes (to the minute)."""
    step = timedelta(hours=1)
    t = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    before = t.astimezone(zone).utcoffset()
    while t < end:
        after = (t + step).astimezone(zone).utcoffset()
        if after != before:
            lo, hi = t, t + step  # the change lies in (lo, hi]
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid <= lo:
                    break
                if mid.astimezone(zone).utcoffset() == before:
                    lo = mid
                else:
                    hi = mid
            yield hi
        before = after
        t += step


def _wall_times_around(zone: ZoneInfo, change: datetime) -> Iterator[str]:
    """Wall-clock times (no offset) around a change of offset: before, in the skipped or repeated
    stretch, at its edges (to the second), and after."""
    before = (change - timedelta(seconds=1)).astimezone(zone).utcoffset()
    after = change.astimezone(zone).utcoffset()
    assert before is not None and after is not None
    starts = {(change + before).replace(tzinfo=None), (change + after).replace(tzinfo=None)}
    for start in sorted(starts):
        for minutes in _AROUND_MIN:
            yield (start + timedelta(minutes=minutes)).isoformat()
        for seconds in _AROUND_S:
            yield (start + timedelta(seconds=seconds)).isoformat()


def device_time_cases() -> dict[str, object]:
    """Zone names and reading times through serving/device_time.localize_readings, with its answers."""
    times: list[dict[str, object]] = []
    for name in TRANSITION_ZONES:
        zone = ZoneInfo(name)
        for year in YEARS:
            for change in _changes(zone, year):
                times.extend(_localized(name, wall) for wall in _wall_times_around(zone, change))
    for name in ZONES_WITHOUT_CHANGES:
        times.extend(_localized(name, wall) for wall in ("2026-03-29T02:30:00", "2026-10-25T02:30:00"))
    times.extend(_localized(FORMAT_ZONE, text) for text in FORMATS)
    return {
        "zones": [_localized(name, "2026-07-01T12:00:00") for name in ZONE_NAMES],
        "times": times,
    }


def _times_in(request: dict[str, Any], edit: Callable[[str], str]) -> None:
    """Every time of an impact or forecast request (meal, events, CGM, past meals) passed through `edit`."""
    for entry in [request.get("meal"), *request.get("insulin", []), *request.get("recent_meals", [])]:
        if isinstance(entry, dict) and "time" in entry:
            entry["time"] = edit(entry["time"])
    for key in ("meals", "activity"):  # the forecast's lists (an impact's activity is a summary)
        entries = request.get(key)
        for entry in entries if isinstance(entries, list) else []:
            entry["time"] = edit(entry["time"])
    for cgm in [request["cgm"], *(past["cgm"] for past in request.get("history", []))]:
        for reading in cgm["readings"]:
            reading["time"] = edit(reading["time"])
    for past in request.get("history", []):
        past["meal"]["time"] = edit(past["meal"]["time"])


def _device_clock(time: str, zone: ZoneInfo) -> str:
    """`time` as a device clock in `zone` writes it: no offset, unless the server would read the wall time
    as another instant (the second time round of the hour the clocks go back: fold=0 reads the first)."""
    local = datetime.fromisoformat(time).astimezone(zone)
    wall = local.replace(tzinfo=None, fold=0)
    if wall.replace(tzinfo=zone).utcoffset() != local.utcoffset():
        return local.isoformat()
    return wall.isoformat()


def device_local(
    request: Mapping[str, Any], zone_name: str, meal_time: datetime | None = None
) -> dict[str, Any]:
    """`request` with `cgm.tz` (and each past meal's) naming `zone_name` and its CGM reading times written
    as the device's clock shows them; every other time keeps its offset, written in the zone. With
    `meal_time`, every time is first moved by the same amount so the meal (or, for a forecast, the last
    reading) is then."""
    changed = copy.deepcopy(dict(request))
    zone = ZoneInfo(zone_name)
    shift = timedelta(0)
    if meal_time is not None:
        anchor = changed["meal"]["time"] if "meal" in changed else changed["cgm"]["readings"][-1]["time"]
        shift = meal_time - datetime.fromisoformat(anchor)
    _times_in(changed, lambda t: (datetime.fromisoformat(t) + shift).astimezone(zone).isoformat())
    for cgm in [changed["cgm"], *(past["cgm"] for past in changed.get("history", []))]:
        cgm["tz"] = zone_name
        for reading in cgm["readings"]:
            reading["time"] = _device_clock(reading["time"], zone)
    return changed


def refused_device_time_requests(
    impact: Mapping[str, Any], forecast: Mapping[str, Any]
) -> list[tuple[str, str, dict[str, Any]]]:
    """(route kind, name, request) the server refuses because of `cgm.tz`: a zone it does not know (a
    folder, a wrong case, a name, a past meal's), one that hides a misspelt unit, a zone that is not a
    string, readings in the skipped hour or a repeated hour written without an offset, and reading times
    that the zone's offset moves to before 2000 or gives an offset with seconds (year 1). `impact` is the
    personal impact request."""
    zurich = "Europe/Zurich"
    local = device_local(impact, zurich)
    out: list[tuple[str, str, dict[str, Any]]] = []

    def changed(
        kind: str, name: str, base: Mapping[str, Any], edit: Callable[[dict[str, Any]], object]
    ) -> None:
        request = copy.deepcopy(dict(base))
        edit(request)
        out.append((kind, name, request))

    changed("impact", "cgm_tz_is_a_folder", local, lambda r: r["cgm"].update(tz="America"))
    changed("impact", "cgm_tz_in_lower_case", local, lambda r: r["cgm"].update(tz="europe/zurich"))
    changed(
        "impact", "history_cgm_tz_unknown", local, lambda r: r["history"][1]["cgm"].update(tz="Europe/Zurch")
    )
    changed(
        "impact",
        "cgm_tz_unknown_and_unit_misspelt",  # the zone's error is the cgm object's only one
        local,
        lambda r: r["cgm"].update(tz="Mars/Olympus_Mons", unit="mg/dl"),
    )
    changed(
        "impact",
        "cgm_tz_not_a_string",
        impact,  # times with offsets: only the zone is wrong
        lambda r: r["cgm"].update(tz=1),
    )
    # Spring forward in Zurich on 2026-03-29: 02:00-02:59 never happens; fold=0 reads 02:30 as 02:30+01:00
    # (01:30 UTC), the same instant as 03:30, so readings that step through the hour go back in time.
    spring = device_local(impact, zurich, datetime(2026, 3, 29, 4, 0, tzinfo=ZoneInfo(zurich)))

    def through_the_gap(request: dict[str, Any]) -> None:
        for reading in request["cgm"]["readings"]:
            wall = datetime.fromisoformat(reading["time"])
            if wall >= datetime(2026, 3, 29, 3, 0):
                reading["time"] = (wall - timedelta(hours=1)).isoformat()  # a clock that did not jump

    changed("impact", "cgm_readings_through_the_skipped_hour", spring, through_the_gap)
    # Fall back on 2026-10-25: 02:00-02:59 happens twice; without an offset both are read as the first.
    fall = device_local(impact, zurich, datetime(2026, 10, 25, 3, 30, tzinfo=ZoneInfo(zurich)))

    def repeated_hour_without_offset(request: dict[str, Any]) -> None:
        for reading in request["cgm"]["readings"]:
            reading["time"] = reading["time"][:19]

    changed("impact", "cgm_repeated_hour_without_offset", fall, repeated_hour_without_offset)
    changed(
        "impact",
        "cgm_reading_before_2000_in_its_zone",  # 00:30 local on 2000-01-01 is 23:30 UTC the day before
        local,
        lambda r: r["cgm"]["readings"][0].update(time="2000-01-01T00:30:00"),
    )
    changed(
        "impact",
        "cgm_reading_in_year_1_in_its_zone",  # local mean time +00:34:08: pydantic refuses an offset's seconds
        local,
        lambda r: r["cgm"]["readings"][0].update(time="0001-01-01T00:00:00"),
    )
    forecast_local = device_local(forecast, "America/New_York")
    changed("forecast", "forecast_cgm_tz_unknown", forecast_local, lambda r: r["cgm"].update(tz="New_York"))
    return out
