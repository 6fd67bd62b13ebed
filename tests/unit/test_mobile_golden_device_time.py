"""Golden cases for device-local reading times: the server's own answers, and requests that cross a change."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from serving.device_time import localize_readings
from training.mobile_golden import EXAMPLES, _personal
from training.mobile_golden_device_time import (
    device_local,
    device_time_cases,
    refused_device_time_requests,
)

ZURICH = "Europe/Zurich"


def _instants(cgm: dict[str, Any]) -> list[float]:
    return [datetime.fromisoformat(r["time"]).timestamp() for r in localize_readings(cgm)["readings"]]


def test_the_table_holds_the_skipped_and_the_repeated_hour_with_the_offset_before_the_change() -> None:
    cases = device_time_cases()
    times: Any = cases["times"]
    by_input = {(c["tz"], c["time"]): c for c in times}
    # fold=0: 02:30 never happens on 2026-03-29 and happens twice on 2026-10-25; both keep the earlier offset.
    assert by_input[(ZURICH, "2026-03-29T02:30:00")]["localized"] == "2026-03-29T02:30:00+01:00"
    assert by_input[(ZURICH, "2026-10-25T02:30:00")]["localized"] == "2026-10-25T02:30:00+02:00"
    assert by_input[(ZURICH, "2026-10-25T03:00:00")]["localized"] == "2026-10-25T03:00:00+01:00"
    assert any(c["localized"].endswith("+13:45") for c in times if c["tz"] == "Pacific/Chatham")
    zones: Any = cases["zones"]
    refused = {c["tz"] for c in zones if "error" in c}
    assert {"America", "europe/zurich", ""} <= refused and ZURICH not in refused


def test_device_local_requests_keep_every_instant_and_write_an_offset_only_where_fold_0_would_misread() -> (
    None
):
    base = _personal(json.loads((EXAMPLES / "impact.json").read_text()))
    meal = datetime(2026, 10, 25, 3, 30, tzinfo=ZoneInfo(ZURICH))
    moved = device_local(base, ZURICH, meal)
    assert datetime.fromisoformat(moved["meal"]["time"]) == meal
    readings = moved["cgm"]["readings"]
    with_offset = [r["time"] for r in readings if datetime.fromisoformat(r["time"]).tzinfo is not None]
    assert len(with_offset) == 12 and all(t.endswith("+01:00") for t in with_offset)  # the second 02:xx
    instants = _instants(moved["cgm"])
    assert all(b - a == 300 for a, b in pairwise(instants))
    before = [datetime.fromisoformat(r["time"]).timestamp() for r in base["cgm"]["readings"]]
    assert [b - before[-1] for b in before] == [i - instants[-1] for i in instants]
    assert all(past["cgm"]["tz"] == ZURICH for past in moved["history"])


def test_refused_device_time_requests_are_named_once_and_break_one_thing() -> None:
    impact = _personal(json.loads((EXAMPLES / "impact.json").read_text()))
    forecast = json.loads((EXAMPLES / "forecast.json").read_text())
    cases = refused_device_time_requests(impact, forecast)
    names = [name for _, name, _ in cases]
    assert len(names) == len(set(names))
    requests = {name: request for _, name, request in cases}
    assert requests["cgm_tz_is_a_folder"]["cgm"]["tz"] == "America"
    gap = _instants(requests["cgm_readings_through_the_skipped_hour"]["cgm"])
    assert any(b <= a for a, b in pairwise(gap))  # 02:xx+01:00 and 03:xx+02:00 collide
    assert {kind for kind, _, _ in cases} == {"impact", "forecast"}
