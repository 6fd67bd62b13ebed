"""The request files the README's curl calls send are exactly the OpenAPI examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from serving.schemas.glucose import ForecastRequest
from serving.schemas.meals import AnalyzeContext, ImpactRequest
from serving.schemas.reports import AgpReportRequest, FhirExportRequest

EXAMPLES = Path(__file__).resolve().parents[2] / "serving" / "examples"


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("impact", ImpactRequest),
        ("analyze_context", AnalyzeContext),
        ("forecast", ForecastRequest),
        ("agp_report", AgpReportRequest),
        ("fhir_export", FhirExportRequest),
    ],
)
def test_example_files_are_the_openapi_examples(name: str, model: type[BaseModel]) -> None:
    on_disk = json.loads((EXAMPLES / f"{name}.json").read_text())
    assert on_disk == model.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
    model.model_validate(on_disk)  # and they are valid requests
