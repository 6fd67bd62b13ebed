"""`mealimpact report` (AGP + meal-response pages as PDF/PNG/HTML) and `mealimpact export fhir` (HL7 CGM Bundle).

Only argparse at import time; the record loading, model and rendering imports live in the handlers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from glucose_model.records import DiabetesKind, RecordError
from mealimpact.commands import CommandGroups

if TYPE_CHECKING:
    from glucose_model.agp import ReportPeriod
    from glucose_model.meal_summary import MealSummary
    from glucose_model.records import Recording

DEFAULT_DATA_ROOT = Path("../shared/data")
DEFAULT_RESPONSE_MODEL = Path("models/glucose_response/1/model.onnx")
KINDS = ("none", "prediabetes", "type2", "type1")


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("the record (one of --cgm or --cohort)")
    source.add_argument("--cgm", type=Path, help="a CGM export file, or a cohort / D1NAMO person folder")
    source.add_argument(
        "--format",
        default="auto",
        help="format of the --cgm file: auto, dexcom, libreview, nightscout, apple_health, generic_csv",
    )
    source.add_argument(
        "--tz",
        help="IANA zone of the device clock (e.g. Europe/Zurich) for every time written without an offset",
    )
    source.add_argument(
        "--keep-partial", action="store_true", help="read a cut export up to the cut (with a warning)"
    )
    source.add_argument("--cohort", help="a cohort under --data-root: d1namo, dubosson, shanghai, weinstock")
    source.add_argument(
        "--person", help="which recording: a person id (shanghai-2016), or 2016_0 for a Shanghai period"
    )
    source.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="where the cohorts live")
    source.add_argument("--meals", type=Path, help="meal log CSV: time (ISO 8601 with offset), carbs_g, ...")
    source.add_argument(
        "--kind", choices=KINDS, help="diabetes kind (sets the spike threshold); default the record's"
    )
    period = parser.add_argument_group("the period (default: the latest 14 days, as the AGP consensus asks)")
    period.add_argument("--days", type=int, default=14, help="the latest N days of the record")
    period.add_argument(
        "--from",
        dest="first_day",
        type=date.fromisoformat,
        help="first local day, YYYY-MM-DD (replaces --days)",
    )
    period.add_argument(
        "--to", dest="last_day", type=date.fromisoformat, help="last local day, YYYY-MM-DD (replaces --days)"
    )


def register(groups: CommandGroups) -> None:
    report = groups.root.add_parser(
        "report", help="AGP report and meal-response pages (PDF, PNG or HTML by the --out extension)"
    )
    add_record_arguments(report)
    report.add_argument("--unit", default="mg/dL", help="mg/dL or mmol/L")
    report.add_argument(
        "--model", type=Path, default=DEFAULT_RESPONSE_MODEL, help="response model for predicted curves"
    )
    report.add_argument("--no-model", action="store_true", help="measured curves only")
    report.add_argument(
        "--label", help="who the report is about, printed in its header (default: the person id)"
    )
    report.add_argument("--out", type=Path, required=True, help="report.pdf, report.png or report.html")
    report.add_argument(
        "--language", choices=("en", "ko"), default="en", help="words of the report's pages (AGP and meals)"
    )
    report.set_defaults(handler=run_report)

    fhir = groups.export.add_parser("fhir", help="HL7 FHIR R4 transaction Bundle (CGM implementation guide)")
    add_record_arguments(fhir)
    fhir.add_argument("--patient-reference", help="e.g. Patient/123 on the receiving server")
    fhir.add_argument("--patient-identifier-system", default="urn:ietf:rfc:3986")
    fhir.add_argument(
        "--patient-identifier", help="the patient's identifier value (when no reference is given)"
    )
    fhir.add_argument("--device-name", default="Continuous glucose monitor")
    fhir.add_argument("--device-identifier-system", default="urn:ietf:rfc:3986")
    fhir.add_argument(
        "--device-identifier", help="the sensor's identifier (default: a fresh urn:uuid, no serial number)"
    )
    fhir.add_argument("--include-readings", action="store_true", help="one Observation per CGM reading")
    fhir.add_argument("--include-pdf", action="store_true", help="the AGP report as a DiagnosticReport")
    fhir.add_argument(
        "--unit",
        default="mg/dL",
        help="unit of the attached PDF; mmol/L also adds the mean glucose in mmol/L",
    )
    fhir.add_argument("--out", type=Path, required=True, help="bundle.json")
    fhir.set_defaults(handler=run_export_fhir)


def load_recording(args: argparse.Namespace) -> Recording:
    """The record named on the command line, with --meals and --kind applied."""
    from glucose_model.cohorts import load_cohort, load_d1namo_person
    from glucose_model.meal_summary import read_meal_log

    if (args.cgm is None) == (args.cohort is None):
        raise RecordError("give either --cgm FILE/FOLDER or --cohort NAME --person ID")
    if args.cohort is not None:
        recordings = load_cohort(args.data_root, args.cohort)
    elif (args.cgm / "glucose.csv").is_file() and (args.cgm / "food.csv").is_file():
        recordings = [load_d1namo_person(args.cgm)]  # one D1NAMO person's folder
    elif args.cgm.is_dir():
        recordings = load_cohort(args.cgm, "auto")
    else:
        recordings = [read_cgm_file(args.cgm, args.format, args.tz, args.keep_partial)]
    recording = select_recording(recordings, args.person)
    if args.meals is not None:
        recording = dataclasses.replace(
            recording, meals=read_meal_log(args.meals.read_text(encoding="utf-8"))
        )
    if args.kind is not None:
        recording = dataclasses.replace(recording, kind=DiabetesKind(args.kind))
    return recording


def read_cgm_file(path: Path, file_format: str, tz: str | None, keep_partial: bool = False) -> Recording:
    from glucose_model.importers import import_file

    recording = import_file(path, fmt=file_format, tz=tz, keep_partial=keep_partial)
    for note in recording.report.notes:
        if "cut at line" in note:
            print(f"warning: {note}", file=sys.stderr)
    return recording


def report_period(args: argparse.Namespace) -> ReportPeriod:
    from glucose_model.agp import ReportPeriod

    return ReportPeriod(days=args.days, first_day=args.first_day, last_day=args.last_day)


def select_recording(recordings: list[Recording], person: str | None) -> Recording:
    if person is None:
        if len(recordings) == 1:
            return recordings[0]
        raise RecordError(f"this source holds {len(recordings)} recordings; choose one with --person")

    def matches(r: Recording) -> bool:
        # A Shanghai period (2016_0) is named by its file, kept in the import notes.
        return (
            r.person_id == person
            or r.person_id.endswith(f"-{person}")
            or any(note.startswith(f"file processed_{person}_") for note in r.report.notes)
        )

    found = [r for r in recordings if matches(r)]
    if not found:
        sample = ", ".join(sorted({r.person_id for r in recordings})[:8])
        raise RecordError(f"no recording of {person!r}; people here include {sample}")
    if len(found) > 1:
        raise RecordError(
            f"{person!r} has {len(found)} recordings (periods); for Shanghai name one as <person>_<period>, e.g. "
            f"{person}_0"
        )
    return found[0]


def describe_person(recording: Recording) -> str:
    """'shanghai-2016 period 0, type2 (shanghai_t2dm)': who, which recording period, what kind, which cohort."""
    period = next(
        (m for n in recording.report.notes if (m := re.match(r"file processed_\d+_(\d+)_", n))), None
    )
    kind = f", {recording.kind.value}" if recording.kind is not None else ""
    return f"{recording.person_id}{f' period {period.group(1)}' if period else ''}{kind} ({recording.cohort})"


def summarize_with_model(recording: Recording, model: Path | None) -> MealSummary:
    """The meal summary; predicted curves when the response model file exists, said plainly when not."""
    from glucose_model.meal_summary import MODEL_NOTE, Sentence, impact_predictor, summarize_meals

    if model is None:
        return summarize_meals(recording, None, Sentence("Predicted curves are not shown (--no-model)."))
    if not model.is_file():
        note = Sentence(
            "Predicted curves are not shown: no response model at {model} (train and export one first).",
            model=str(model),
        )
        return summarize_meals(recording, None, note)
    from glucose_model.impact import ResponsePredictor
    from mealimpact.model_repository.sessions import open_session

    session = open_session(model)
    names = [o.name for o in session.get_outputs()]

    def infer(feed: dict) -> dict:
        return dict(zip(names, session.run(names, feed), strict=True))

    predictor = ResponsePredictor(session.get_modelmeta().custom_metadata_map, infer)
    return summarize_meals(
        recording, impact_predictor(predictor, recording), Sentence(MODEL_NOTE, version=predictor.version)
    )


def run_report(args: argparse.Namespace) -> int:
    return explain_record_errors(write_agp_report, args)


def run_export_fhir(args: argparse.Namespace) -> int:
    return explain_record_errors(write_fhir_bundle, args)


def explain_record_errors(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Bad input ends with its named error's message (what was wrong, how to fix it), not a traceback."""
    try:
        return handler(args)
    except RecordError as error:
        print(f"error ({type(error).__name__}): {error}", file=sys.stderr)
        return 2


def write_agp_report(args: argparse.Namespace) -> int:
    from glucose_model.agp import build_recording_profile
    from glucose_model.report import DisplayUnit, format_from_path, render_report
    from glucose_model.report.document import write_report

    report_format = format_from_path(args.out)
    unit = DisplayUnit.parse(args.unit)
    recording = load_recording(args)
    profile = build_recording_profile(recording, report_period(args))
    meals = (
        summarize_with_model(recording, None if args.no_model else args.model) if recording.meals else None
    )
    label = args.label or describe_person(recording)
    rendered = render_report(profile, meals, unit, label, report_format, args.language)
    for path in write_report(rendered, args.out):
        print(f"wrote {path}")
    for key in ("period", "mean_glucose", "gmi_percent", "cv_percent", "time_in_range_70_180_percent"):
        print(f"  {key}: {rendered.printed['agp'][key]}")
    if "data_sufficiency_note" in rendered.printed["agp"]:
        print(f"  note: {rendered.printed['agp']['data_sufficiency_note']}")
    return 0


def write_fhir_bundle(args: argparse.Namespace) -> int:
    from glucose_model.agp import build_recording_profile
    from glucose_model.fhir import FhirExportError, FhirExportOptions, build_cgm_bundle
    from glucose_model.report import DisplayUnit, ReportFormat, render_report

    if not (args.patient_reference or args.patient_identifier):
        raise FhirExportError(
            "the bundle needs a patient: add --patient-reference Patient/123 (the patient's id on the "
            "receiving FHIR server) or --patient-identifier VALUE (with --patient-identifier-system, "
            "default urn:ietf:rfc:3986)"
        )
    recording = load_recording(args)
    profile = build_recording_profile(recording, report_period(args))
    options = FhirExportOptions(
        patient_reference=args.patient_reference,
        patient_identifier_system=args.patient_identifier_system,
        patient_identifier_value=args.patient_identifier,
        device_name=args.device_name,
        device_identifier_system=args.device_identifier_system,
        device_identifier_value=args.device_identifier,
        include_readings=args.include_readings,
        include_pdf=args.include_pdf,
        include_molar_mean=DisplayUnit.parse(args.unit) is DisplayUnit.MMOL_L,
    )
    options.subject()  # refuse a bundle without a patient before rendering anything
    pdf = None
    if args.include_pdf:
        unit = DisplayUnit.parse(args.unit)
        pdf = render_report(profile, None, unit, describe_person(recording), ReportFormat.PDF).pages[0]
    bundle = build_cgm_bundle(profile, recording.glucose, options, pdf)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(bundle, indent=1), encoding="utf-8")
    print(f"wrote {args.out}: {len(bundle['entry'])} resources")
    return 0
