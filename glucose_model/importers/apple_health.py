"""Apple Health `export.xml`: blood glucose, steps, heart rate and sleep records.

Exports run to gigabytes, so the file is streamed with expat (the parser under ElementTree's
iterparse, used directly for its line numbers) and only `Record` elements are looked at:
HKQuantityTypeIdentifierBloodGlucose (unit `mg/dL` or `mmol<180.1558800000541>/L`),
HKQuantityTypeIdentifierStepCount, HKQuantityTypeIdentifierHeartRate and
HKCategoryTypeIdentifierSleepAnalysis (asleep stages merged into periods). Dates look like
`2024-05-01 08:00:00 +0200`. Every other record type is counted in `other_rows`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import IO
from xml.parsers import expat

from glucose_model.importers.assembly import ExportContents
from glucose_model.importers.errors import MalformedFileError, TruncatedFileError, UnitError
from glucose_model.records import MG_DL_PER_MMOL_L, ActivitySample, RecordError, SleepPeriod

GLUCOSE = "HKQuantityTypeIdentifierBloodGlucose"
STEPS = "HKQuantityTypeIdentifierStepCount"
HEART_RATE = "HKQuantityTypeIdentifierHeartRate"
SLEEP = "HKCategoryTypeIdentifierSleepAnalysis"
ASLEEP_PREFIX = (
    "HKCategoryValueSleepAnalysisAsleep"  # Asleep, AsleepCore, AsleepDeep, AsleepREM, AsleepUnspecified
)
# Asleep segments less than this apart (a short wake in the night) are one sleep period.
SLEEP_MERGE_GAP = timedelta(minutes=30)
# A heart-rate sample is an instant; it stands for the minute around it.
HEART_RATE_SAMPLE_MIN = 1.0
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"
# What expat says when the text stops inside the document: the file was cut.
_CUT_CODES = {
    expat.errors.codes[expat.errors.XML_ERROR_UNCLOSED_TOKEN],
    expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS],
    expat.errors.codes[expat.errors.XML_ERROR_PARTIAL_CHAR],
    expat.errors.codes[expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION],
}


def _glucose_factor(unit: str) -> float:
    if unit == "mg/dL":
        return 1.0
    if unit.startswith("mmol") and unit.endswith("/L"):
        return MG_DL_PER_MMOL_L
    raise UnitError(f"blood glucose unit {unit!r} is neither mg/dL nor mmol/L")


def _merge_sleep(segments: list[tuple[datetime, datetime]]) -> list[SleepPeriod]:
    periods: list[list[datetime]] = []
    for start, end in sorted(segments):
        if periods and start - periods[-1][1] <= SLEEP_MERGE_GAP:
            periods[-1][1] = max(periods[-1][1], end)
        else:
            periods.append([start, end])
    return [SleepPeriod(s, e) for s, e in periods if e > s]


def read_apple_health(stream: IO[bytes], source: str, *, keep_partial: bool = False) -> ExportContents:
    """Stream-parse an export.xml (see the module docstring).

    A file cut short ends inside an element: refused naming the line, or with `keep_partial` the
    records before it are kept and the cut is noted.
    """
    out = ExportContents(source)
    sleep_segments: list[tuple[datetime, datetime]] = []
    parser = expat.ParserCreate()
    seen_root = False

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal seen_root
        if not seen_root:
            seen_root = True
            if tag != "HealthData":
                raise MalformedFileError(
                    source, parser.CurrentLineNumber, f"root element is <{tag}>", "use export.xml"
                )
        if tag != "Record":
            return
        kind = attrs.get("type", "")
        try:
            if kind == GLUCOSE:
                time = datetime.strptime(attrs["startDate"], _TIME_FORMAT)
                out.add_reading(time, float(attrs["value"]) * _glucose_factor(attrs.get("unit", "")))
            elif kind == STEPS:
                begin = datetime.strptime(attrs["startDate"], _TIME_FORMAT)
                end = datetime.strptime(attrs["endDate"], _TIME_FORMAT)
                minutes = max((end - begin).total_seconds() / 60.0, 1.0)
                out.activity.append(ActivitySample(begin, minutes, steps=float(attrs["value"])))
            elif kind == HEART_RATE:
                time = datetime.strptime(attrs["startDate"], _TIME_FORMAT)
                out.activity.append(
                    ActivitySample(time, HEART_RATE_SAMPLE_MIN, heart_rate_bpm=float(attrs["value"]))
                )
            elif kind == SLEEP and attrs.get("value", "").startswith(ASLEEP_PREFIX):
                sleep_segments.append(
                    (
                        datetime.strptime(attrs["startDate"], _TIME_FORMAT),
                        datetime.strptime(attrs["endDate"], _TIME_FORMAT),
                    )
                )
            else:
                out.other_rows += 1
        except KeyError as err:
            raise MalformedFileError(
                source, parser.CurrentLineNumber, f"{kind} record without {err}", "use an unedited export.xml"
            ) from err
        except UnitError as err:
            raise UnitError(f"{source}, line {parser.CurrentLineNumber}: {err}") from err
        except (ValueError, RecordError) as err:
            raise MalformedFileError(
                source, parser.CurrentLineNumber, str(err), "use an unedited export.xml"
            ) from err

    parser.StartElementHandler = start
    try:
        parser.ParseFile(stream)
    except expat.ExpatError as err:
        problem = f"invalid XML ({expat.errors.messages[err.code]})"
        if err.code not in _CUT_CODES:
            raise MalformedFileError(
                source, err.lineno, problem, "the file was edited: export it again"
            ) from err
        if not keep_partial:
            raise TruncatedFileError(source, err.lineno, problem) from err
        out.note_cut(err.lineno)
    if not seen_root:
        raise MalformedFileError(
            source, 1, "no XML element found", "use export.xml from the Health app export zip"
        )
    try:
        out.sleep.extend(_merge_sleep(sleep_segments))
    except RecordError as err:
        raise MalformedFileError(
            source, parser.CurrentLineNumber, str(err), "check the sleep records"
        ) from err
    return out
