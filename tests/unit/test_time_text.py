"""serving/time_text.reads_as_number is exactly the strings pydantic reads as a number for a date-time."""

from __future__ import annotations

import random
from datetime import datetime

from pydantic import ConfigDict, TypeAdapter, ValidationError

from serving.time_text import reads_as_number
from training.mobile_golden_timestamps import FORMS, timestamp_cases

# pydantic reads a number in a string as seconds or milliseconds as `val_temporal_unit` says: a string it
# reads as a number is read differently by the two; a string it parses another way, or refuses, is not.
_IN = {
    unit: TypeAdapter(datetime, config=ConfigDict(val_temporal_unit=unit))
    for unit in ("seconds", "milliseconds")
}


def _read(unit: str, text: str) -> object:
    try:
        return _IN[unit].validate_python(text)
    except ValidationError as err:
        return err.errors(include_url=False)[0]["msg"]


def _read_as_a_number_by_pydantic(text: str) -> bool:
    return _read("seconds", text) != _read("milliseconds", text)


def _strings() -> list[str]:
    cases: list[dict[str, object]] = timestamp_cases()["times"]  # type: ignore[assignment]
    table = [c["time"] for c in cases if isinstance(c["time"], str) and "\ud800" not in c["time"]]
    rng = random.Random(0)
    digits, other = "0123456789.", "0123456789.+-eE _xinf:T"
    fuzzed = [
        "".join(rng.choice(other if rng.random() < 0.3 else digits) for _ in range(rng.randint(0, 14)))
        for _ in range(4000)
    ]
    edges = ["0" * 5000 + "1767270896", "1767270896." + "5" * 400, "-9223372036854775809", "1.8e308", "."]
    return [*table, *fuzzed, *edges]


def test_a_string_pydantic_reads_as_a_number_is_one_and_a_number_of_seconds_is_read_as_one() -> None:
    numbers = 0
    for text in _strings():
        number = reads_as_number(text)
        numbers += number
        if _read_as_a_number_by_pydantic(text):
            assert number, text
        if number and 1 <= abs(float(text)) <= 1e12:
            assert _read_as_a_number_by_pydantic(text), text
    assert numbers > 500


def test_the_forms_the_issue_named() -> None:
    for text in ("1767270896", "+1767270896", "1767270896.", "1.767270896e9", "-0", ".5", "0" * 5000 + "1"):
        assert reads_as_number(text), text
    for text in (
        "1e9",
        "inf",
        "NaN",
        " 1767270896",
        "1_767_270_896",
        "9223372036854775808",
        "1.5e400",
        "2026-01-01",
    ):
        assert not reads_as_number(text), text
    assert {f for f in FORMS if isinstance(f, str) and reads_as_number(f)} >= {"1767270896", "20261025"}
