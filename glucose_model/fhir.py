"""A FHIR R4 transaction Bundle of a CGM record, following the HL7 CGM implementation guide (STU 1, 1.0.0).

Built as plain dicts (JSON-ready, no FHIR library at run time). The guide's summary is a panel Observation
whose hasMember points at one Observation per metric (mean glucose, times in ranges with five components,
GMI, CV, days of wear, sensor-active percentage); the PDF report is a DiagnosticReport; the sensor a Device.
Only what the person chose to share goes in: readings and the PDF are opt-in.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from glucose_model.agp import AmbulatoryGlucoseProfile
from glucose_model.records import GlucoseSeries, RecordError, mg_dl_to_mmol_l

IG_CANONICAL = "http://hl7.org/fhir/uv/cgm/StructureDefinition/"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"

# LOINC codes as the guide binds them (input/fsh/profiles.fsh of HL7/cgm, published 1.0.0 examples).
LOINC_CGM_SUMMARY_PANEL = "107931-8"  # Continuous glucose monitoring summary panel - Reporting Period
LOINC_TIMES_IN_RANGES = "106793-3"
LOINC_TIME_VERY_LOW = "104642-4"  # < 54 mg/dL
LOINC_TIME_LOW = "104641-6"  # 54-69 mg/dL
LOINC_TIME_IN_TARGET = "97510-2"  # 70-180 mg/dL
LOINC_TIME_HIGH = "104640-8"  # 181-250 mg/dL
LOINC_TIME_VERY_HIGH = "104639-0"  # > 250 mg/dL
LOINC_MEAN_GLUCOSE_MASS = "97507-8"
LOINC_MEAN_GLUCOSE_MOLAR = "105273-7"
LOINC_GMI = "97506-0"
LOINC_CV = "104638-2"
LOINC_DAYS_OF_WEAR = "104636-6"
LOINC_SENSOR_ACTIVE = "104637-4"
LOINC_READING_MASS = "99504-3"
LOINC_READING_MOLAR = "105272-9"


class FhirExportError(RecordError):
    """The export options are inconsistent (e.g. a PDF requested but none rendered)."""


@dataclass(frozen=True)
class FhirExportOptions:
    """Who the data is about and what the person agreed to share.

    patient_reference: a reference the receiving system resolves ("Patient/123"); when None, the
        patient is identified by a logical reference (identifier system + value) instead
    """

    patient_reference: str | None = None
    patient_identifier_system: str = "urn:ietf:rfc:3986"
    patient_identifier_value: str | None = None
    device_name: str = "Continuous glucose monitor"
    device_identifier_system: str = "urn:ietf:rfc:3986"
    device_identifier_value: str | None = None  # default: a fresh urn:uuid, so no serial number leaks
    include_readings: bool = False
    include_pdf: bool = False
    include_molar_mean: bool = False  # also the mean in mmol/L, for systems that chart in mmol/L

    def subject(self) -> dict[str, Any]:
        if self.patient_reference:
            return {"reference": self.patient_reference}
        if self.patient_identifier_value:
            return {
                "identifier": {
                    "system": self.patient_identifier_system,
                    "value": self.patient_identifier_value,
                }
            }
        raise FhirExportError(
            "the bundle needs a patient: give a patient reference (e.g. Patient/123) or a patient identifier"
        )


def coding(code: str, system: str = LOINC) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def quantity(value: float, unit: str, code: str, decimals: int = 2) -> dict[str, Any]:
    return {"value": round(float(value), decimals), "unit": unit, "system": UCUM, "code": code}


def percent(value: float) -> dict[str, Any]:
    # The guide asks for times in ranges "with at least two decimal places of precision".
    return quantity(value, "%", "%")


class BundleBuilder:
    """Collects resources with urn:uuid full URLs (so references resolve inside the transaction)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, resource: dict[str, Any]) -> str:
        full_url = f"urn:uuid:{uuid.uuid4()}"
        self.entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
        return full_url

    def bundle(self, timestamp: datetime) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "meta": {"profile": [IG_CANONICAL + "cgm-data-submission-bundle"]},
            "type": "transaction",
            "timestamp": timestamp.isoformat(timespec="seconds"),
            "entry": self.entries,
        }


def summary_observation(
    profile_name: str, code: str, subject: Mapping[str, Any], period: Mapping[str, str], device: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "meta": {"profile": [IG_CANONICAL + profile_name]},
        "status": "final",
        "category": [coding("laboratory", OBSERVATION_CATEGORY)],
        "code": coding(code),
        "subject": dict(subject),
        "effectivePeriod": dict(period),
        "device": {"reference": device},
    }


def build_cgm_bundle(
    profile: AmbulatoryGlucoseProfile,
    series: GlucoseSeries,
    options: FhirExportOptions,
    pdf: bytes | None = None,
    created: datetime | None = None,
) -> dict[str, Any]:
    """The transaction Bundle: Device, the summary panel and its six member Observations, optionally one
    Observation per sensor reading, and optionally the PDF report as a DiagnosticReport."""
    if options.include_pdf and pdf is None:
        raise FhirExportError("include_pdf is set but no PDF was rendered; render the report first")
    created = created or datetime.now(UTC)
    subject = options.subject()
    s = profile.summary
    # The guide's reporting period is a pair of dates (YYYY-MM-DD), local to the person.
    period = {"start": profile.start.date().isoformat(), "end": profile.end.date().isoformat()}
    builder = BundleBuilder()
    device_id = options.device_identifier_value or f"urn:uuid:{uuid.uuid4()}"
    device = builder.add(
        {
            "resourceType": "Device",
            "meta": {"profile": [IG_CANONICAL + "cgm-device"]},
            "identifier": [{"system": options.device_identifier_system, "value": device_id}],
            "deviceName": [{"name": options.device_name, "type": "user-friendly-name"}],
        }
    )

    def member(profile_name: str, code: str, **fields: Any) -> str:
        return builder.add({**summary_observation(profile_name, code, subject, period, device), **fields})

    members = [
        member(
            "cgm-summary-mean-glucose-mass-per-volume",
            LOINC_MEAN_GLUCOSE_MASS,
            valueQuantity=quantity(s.mean_mg_dl, "mg/dl", "mg/dL", decimals=1),
        )
    ]
    if options.include_molar_mean:
        mean_mmol_l = float(mg_dl_to_mmol_l(s.mean_mg_dl))
        members.append(
            member(
                "cgm-summary-mean-glucose-moles-per-volume",
                LOINC_MEAN_GLUCOSE_MOLAR,
                valueQuantity=quantity(mean_mmol_l, "mmol/l", "mmol/L"),
            )
        )
    ranges = (
        (LOINC_TIME_VERY_LOW, s.time_below_54_percent),
        (LOINC_TIME_LOW, s.time_54_69_percent),
        (LOINC_TIME_IN_TARGET, s.time_in_range_70_180_percent),
        (LOINC_TIME_HIGH, s.time_181_250_percent),
        (LOINC_TIME_VERY_HIGH, s.time_above_250_percent),
    )
    members += [
        member(
            "cgm-summary-times-in-ranges",
            LOINC_TIMES_IN_RANGES,
            component=[{"code": coding(code), "valueQuantity": percent(value)} for code, value in ranges],
        ),
        member("cgm-summary-gmi", LOINC_GMI, valueQuantity=percent(s.gmi_percent)),
        member("cgm-summary-coefficient-of-variation", LOINC_CV, valueQuantity=percent(s.cv_percent)),
        member(
            "cgm-summary-days-of-wear",
            LOINC_DAYS_OF_WEAR,
            valueQuantity=quantity(s.days_covered, "days", "d"),
        ),
        member(
            "cgm-summary-sensor-active-percentage",
            LOINC_SENSOR_ACTIVE,
            valueQuantity=percent(s.sensor_wear_percent),
        ),
    ]
    summary = member("cgm-summary", LOINC_CGM_SUMMARY_PANEL, hasMember=[{"reference": m} for m in members])
    if options.include_pdf and pdf is not None:
        builder.add(
            {
                "resourceType": "DiagnosticReport",
                "meta": {"profile": [IG_CANONICAL + "cgm-summary-pdf"]},
                "status": "final",
                "category": [coding("LAB", DIAGNOSTIC_SERVICE)],
                "code": coding(LOINC_CGM_SUMMARY_PANEL),
                "subject": dict(subject),
                "effectivePeriod": period,
                "issued": created.isoformat(timespec="seconds"),
                "result": [{"reference": summary}],
                "presentedForm": [
                    {
                        "contentType": "application/pdf",
                        "data": base64.b64encode(pdf).decode("ascii"),
                        "title": "AGP report and meal responses",
                    }
                ],
            }
        )
    if options.include_readings:
        for resource in reading_observations(series, subject, device):
            builder.add(resource)
    return builder.bundle(created)


def reading_observations(
    series: GlucoseSeries, subject: Mapping[str, Any], device: str
) -> list[dict[str, Any]]:
    """One CGMSensorReadingMassPerVolume Observation per valid reading, timed in the person's local offset.

    A sensor LOW / HIGH is a bound, not a measurement: its quantity carries the comparator "<=" / ">=".
    """
    out = []
    censored = np.zeros(len(series), np.int8) if series.censored is None else series.censored
    for i in np.flatnonzero(np.isfinite(series.glucose_mg_dl)):
        value = quantity(float(series.glucose_mg_dl[i]), "mg/dl", "mg/dL", decimals=1)
        if censored[i]:
            value["comparator"] = "<=" if censored[i] < 0 else ">="
        out.append(
            {
                "resourceType": "Observation",
                "meta": {"profile": [IG_CANONICAL + "cgm-sensor-reading-mass-per-volume"]},
                "status": "final",
                "category": [coding("laboratory", OBSERVATION_CATEGORY)],
                "code": coding(LOINC_READING_MASS),
                "subject": dict(subject),
                "effectiveDateTime": series.datetime_at(int(i)).isoformat(timespec="seconds"),
                "valueQuantity": value,
                "device": {"reference": device},
            }
        )
    return out
