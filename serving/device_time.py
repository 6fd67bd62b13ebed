"""Device-local reading times in a request (`cgm.tz`): most exports write clock time without an offset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from glucose_model.records import UnknownTimeZoneError, time_zone
from serving.time_text import reads_as_number


def localize_readings(data: Any) -> Any:
    """A raw `cgm` object whose `tz` names a zone: each reading time without an offset gets the zone's.

    Runs before validation, so the readings still validate as aware times; a time that carries an
    offset keeps it, and without `tz` a time without one is refused as before (by the schema), as is a
    number in a string with or without `tz`.
    """
    if not isinstance(data, dict) or not isinstance(data.get("tz"), str):
        return data
    try:
        zone = time_zone(data["tz"])
    except UnknownTimeZoneError:
        raise ValueError(f"tz {data['tz']!r} is no IANA time zone; give one such as Europe/Zurich") from None
    readings = data.get("readings")
    if not isinstance(readings, list):
        return data
    localized = []
    for reading in readings:
        if (
            isinstance(reading, dict)
            and isinstance(reading.get("time"), str)
            # fromisoformat reads some numbers as a basic-format date ("20261025", "2026102510230.5"):
            # the schema refuses every number, with or without tz.
            and not reads_as_number(reading["time"])
        ):
            try:
                time = datetime.fromisoformat(reading["time"])
            except ValueError:
                time = None  # left for the schema to refuse with its own message
            if time is not None and time.tzinfo is None:
                reading = {**reading, "time": time.replace(tzinfo=zone).isoformat()}
        localized.append(reading)
    return {**data, "readings": localized}
