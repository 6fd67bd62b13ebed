"""The FHIR CGM bundle on a synthetic record: codes of the HL7 CGM guide, consent flags, and validity
against the `fhir.resources` R4B models (every resource parses and round-trips)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from glucose_model.agp import build_profile
from glucose_model.fhir import FhirExportError, FhirExportOptions, build_cgm_bundle
from glucose_model.records import GlucoseSeries

resources = pytest.importorskip(
    "fhir.resources.R4B.bundle", reason="fhir.resources is a dev extra (tests only)"
)


@pytest.fixture(scope="module")
def record() -> tuple[object, GlucoseSeries]:
    n = 3 * 288  # 3 days of 5-min readings
    glucose = 140.0 + 90.0 * np.sin(np.arange(n) * 2 * np.pi / 288)  # 50..230 mg/dL
    series = GlucoseSeries(
        1_700_000_000 + np.arange(n, dtype=np.int64) * 300, np.full(n, 60, np.int16), glucose, "test"
    )
    return build_profile(series), series


def by_code(bundle: dict) -> dict[str, dict]:
    return {
        e["resource"]["code"]["coding"][0]["code"]: e["resource"]
        for e in bundle["entry"]
        if "code" in e["resource"]
    }


def test_summary_follows_the_cgm_guide(record: tuple) -> None:
    profile, series = record
    bundle = build_cgm_bundle(profile, series, FhirExportOptions(patient_reference="Patient/7"))
    assert bundle["type"] == "transaction"
    observations = by_code(bundle)
    panel = observations["107931-8"]
    assert len(panel["hasMember"]) == 6  # mean, times in ranges, GMI, CV, days of wear, sensor active
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert {m["reference"] for m in panel["hasMember"]} <= urls
    ranges = {
        c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"]
        for c in observations["106793-3"]["component"]
    }
    s = profile.summary
    assert ranges == {
        "104642-4": round(s.time_below_54_percent, 2),
        "104641-6": round(s.time_54_69_percent, 2),
        "97510-2": round(s.time_in_range_70_180_percent, 2),
        "104640-8": round(s.time_181_250_percent, 2),
        "104639-0": round(s.time_above_250_percent, 2),
    }
    assert observations["97507-8"]["valueQuantity"]["code"] == "mg/dL"
    assert observations["97506-0"]["valueQuantity"]["value"] == pytest.approx(s.gmi_percent, abs=0.005)
    assert observations["104636-6"]["valueQuantity"]["code"] == "d"
    assert panel["effectivePeriod"]["start"] == profile.start.date().isoformat()


def test_only_what_was_chosen_is_shared(record: tuple) -> None:
    profile, series = record
    plain = build_cgm_bundle(profile, series, FhirExportOptions(patient_identifier_value="abc"))
    kinds = [e["resource"]["resourceType"] for e in plain["entry"]]
    assert "DiagnosticReport" not in kinds
    assert "99504-3" not in by_code(plain)  # no readings unless asked
    assert plain["entry"][1]["resource"]["subject"] == {
        "identifier": {"system": "urn:ietf:rfc:3986", "value": "abc"}
    }
    full = build_cgm_bundle(
        profile,
        series,
        FhirExportOptions("Patient/7", include_readings=True, include_pdf=True),
        pdf=b"%PDF-1.4",
    )
    readings = [
        e
        for e in full["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "99504-3"
    ]
    assert len(readings) == len(series)
    assert readings[0]["resource"]["effectiveDateTime"].endswith("+01:00")  # the person's own offset
    report = next(e["resource"] for e in full["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
    assert base64.b64decode(report["presentedForm"][0]["data"]) == b"%PDF-1.4"


def test_refuses_bundles_without_patient_or_pdf(record: tuple) -> None:
    profile, series = record
    with pytest.raises(FhirExportError, match="needs a patient"):
        build_cgm_bundle(profile, series, FhirExportOptions())
    with pytest.raises(FhirExportError, match="no PDF"):
        build_cgm_bundle(profile, series, FhirExportOptions("Patient/1", include_pdf=True))


def test_every_resource_parses_and_round_trips(record: tuple) -> None:
    profile, series = record
    options = FhirExportOptions("Patient/7", include_readings=True, include_pdf=True, include_molar_mean=True)
    bundle = build_cgm_bundle(profile, series.between(profile.start, profile.start + (profile.end - profile.start) / 50),
                              options, pdf=b"%PDF-1.4")  # fmt: skip
    parsed = resources.Bundle.model_validate(bundle)
    assert len(parsed.entry) == len(bundle["entry"])
    again = json.loads(parsed.model_dump_json(exclude_none=True))
    for original, dumped in zip(bundle["entry"], again["entry"], strict=True):
        assert dumped["resource"]["resourceType"] == original["resource"]["resourceType"]
        assert dumped["fullUrl"] == original["fullUrl"]
    assert resources.Bundle.model_validate(again).model_dump() == parsed.model_dump()


def test_sensor_low_and_high_readings_are_bounds_not_values(record: tuple) -> None:
    profile, _ = record
    t = 1_700_000_000 + np.arange(3, dtype=np.int64) * 300
    series = GlucoseSeries(
        t, np.zeros(3, np.int16), np.array([39.0, 120.0, 401.0]), "test", np.array([-1, 0, 1], np.int8)
    )
    bundle = build_cgm_bundle(profile, series, FhirExportOptions("Patient/7", include_readings=True))
    values = [
        e["resource"]["valueQuantity"]
        for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "99504-3"
    ]
    assert [(v.get("comparator"), v["value"]) for v in values] == [("<=", 39.0), (None, 120.0), (">=", 401.0)]
    resources.Bundle.model_validate(bundle)
