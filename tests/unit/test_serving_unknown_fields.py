"""Request bodies refuse keys they do not define, at every level, naming the key and what is accepted."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from serving.dependencies import refuse_unknown_query_parameters
from serving.main import create_app
from serving.metrics import ServingMetrics
from serving.problems import install_problem_handlers
from serving.routes.meals import FORM_FIELDS
from serving.schemas.closed import closest_field, edit_distance, unknown_field_message
from serving.schemas.glucose import ForecastRequest
from serving.schemas.meals import GLYCEMIC_INDEX_REFUSED, AnalyzeContext, ImpactRequest
from serving.schemas.reports import AgpReportRequest, FhirExportRequest, example_day
from serving.v2_protocol import InferenceProtocolError, decode_request

EXAMPLES = Path(__file__).resolve().parents[2] / "serving" / "examples"
IMPACT = json.loads((EXAMPLES / "impact.json").read_text())
FORECAST = json.loads((EXAMPLES / "forecast.json").read_text())
PERSONAL_IMPACT = {
    **IMPACT,
    "insulin": [{"time": "2026-11-28T11:50:00+01:00", "units": 4, "kind": "rapid"}],
    "recent_meals": [{"time": "2026-11-28T08:00:00+01:00", "carbs_g": 40}],
    "history": [{"meal": dict(IMPACT["meal"]), "cgm": copy.deepcopy(IMPACT["cgm"])}],
}
REPORT = {
    "cgm": {"unit": "mg/dL", "readings": example_day()},
    "meals": [{"time": "2026-11-27T08:00:00+01:00", "carbs_g": 45}],
}
FHIR = {"cgm": {"unit": "mg/dL", "readings": example_day()}, "patient": {"reference": "Patient/1"}}
ANALYZE = {k: v for k, v in IMPACT.items() if k != "meal"} | {"meal": {"time": IMPACT["meal"]["time"]}}

BODIES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (ImpactRequest, PERSONAL_IMPACT),
    (AnalyzeContext, ANALYZE),
    (ForecastRequest, FORECAST),
    (AgpReportRequest, REPORT),
    (FhirExportRequest, FHIR),
]


def objects(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every JSON object in a request, with its place."""
    if isinstance(value, dict):
        yield path, value
        for key, inner in value.items():
            yield from objects(inner, (*path, key))
    elif isinstance(value, list) and value:
        yield from objects(value[0], (*path, 0))


@pytest.mark.parametrize(("model", "body"), BODIES, ids=[m.__name__ for m, _ in BODIES])
def test_the_examples_are_accepted(model: type[BaseModel], body: dict[str, Any]) -> None:
    model.model_validate(body)


@pytest.mark.parametrize(("model", "body"), BODIES, ids=[m.__name__ for m, _ in BODIES])
def test_an_unknown_key_is_refused_at_every_level_of_every_request(
    model: type[BaseModel], body: dict[str, Any]
) -> None:
    places = list(objects(body))
    assert len(places) >= 3
    for path, _ in places:
        request = copy.deepcopy(body)
        target: Any = request
        for key in path:
            target = target[key]
        target["zz_unknown"] = 1
        with pytest.raises(ValidationError) as caught:
            model.model_validate(request)
        errors = caught.value.errors()
        assert [(e["loc"], e["type"]) for e in errors] == [((*path, "zz_unknown"), "extra_forbidden")], path
        assert "'zz_unknown' is not a field here; the fields are " in errors[0]["msg"]


def test_a_misspelt_field_is_named_with_the_field_meant_and_the_accepted_ones() -> None:
    request = copy.deepcopy(IMPACT)
    request["meal"]["fibre_g"] = request["meal"].pop("fiber_g")
    with pytest.raises(ValidationError) as caught:
        ImpactRequest.model_validate(request)
    (error,) = caught.value.errors()
    assert error["loc"] == ("meal", "fibre_g")
    assert error["msg"] == (
        "Extra inputs are not permitted: 'fibre_g' is not a field here (did you mean 'fiber_g'?); "
        "the fields are time, sugars_g, fiber_g, fat_g, protein_g, carbs_g"
    )


def test_a_glycemic_index_is_refused_with_the_reason() -> None:
    for key in ("glycemic_index", "glycaemic_index"):
        request = copy.deepcopy(IMPACT)
        request["meal"][key] = 40
        with pytest.raises(ValidationError) as caught:
            ImpactRequest.model_validate(request)
        (error,) = caught.value.errors()
        assert (
            error["msg"]
            == f"Extra inputs are not permitted: '{key}' is not accepted: {GLYCEMIC_INDEX_REFUSED}"
        )
    assert "MODEL_CARD" in GLYCEMIC_INDEX_REFUSED


def test_analyze_refuses_carbs_in_its_context_and_says_where_they_go() -> None:
    with pytest.raises(ValidationError, match=r"comes from the photo.*/v1/meals/impact"):
        AnalyzeContext.model_validate(PERSONAL_IMPACT)


def test_other_errors_keep_their_words_beside_an_unknown_key() -> None:
    request = copy.deepcopy(PERSONAL_IMPACT)
    request["extra"] = 1
    request["meal"]["carbs_g"] = -1
    request["history"][0]["meal"]["time"] = "1999-01-01T00:00:00+00:00"
    request["cgm"]["readings"][0]["value"] = "105"
    with pytest.raises(ValidationError) as caught:
        ImpactRequest.model_validate(request)
    words = {e["loc"]: e["msg"] for e in caught.value.errors()}
    assert words[("meal", "carbs_g")] == "Input should be greater than or equal to 0"
    assert (
        words[("history", 0, "meal", "time")] == "Value error, time must lie between the years 2000 and 2100"
    )
    assert words[("cgm", "readings", 0, "value")] == "Input should be a valid number"
    assert words[("extra",)].startswith("Extra inputs are not permitted: 'extra' is not a field here")


def test_another_name_of_a_field_is_not_unknown() -> None:
    request = copy.deepcopy(FORECAST)
    request["activity"] = [{"time": "2026-11-28T10:00:00+01:00", "duration_min": 30, "heart_rate": 90}]
    assert ForecastRequest.model_validate(request).activity[0].heart_rate_bpm == 90


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("fibre_g", "fiber_g"),  # two letters swapped
        ("Carbs_G", "carbs_g"),  # case
        ("carbs", "carbs_g"),  # two letters short
        ("protien_g", "protein_g"),
        ("x", None),  # one letter is no word
        ("glucose", None),
    ],
)
def test_closest_field(name: str, meant: str | None) -> None:
    fields = ["time", "sugars_g", "fiber_g", "fat_g", "protein_g", "carbs_g"]
    assert closest_field(name, fields) == meant


def test_edit_distance_counts_a_swap_as_one_edit() -> None:
    assert edit_distance("fibre", "fiber") == 1
    assert edit_distance("", "abc") == 3
    assert edit_distance("kitten", "sitting") == 3
    assert (
        unknown_field_message("q", ["a"], {})
        == "Extra inputs are not permitted: 'q' is not a field here; the fields are a"
    )


def test_openapi_says_no_additional_properties_on_every_request_object() -> None:
    schema = create_app().openapi()
    components = schema["components"]["schemas"]
    request_bodies = [
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        for path, ops in schema["paths"].items()
        if path.startswith("/v1")
        for op in ops.values()
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]
    assert sorted(request_bodies) == [
        "AgpReportRequest",
        "FhirExportRequest",
        "ForecastRequest",
        "ImpactRequest",
    ]
    seen: set[str] = set()

    def walk(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        assert components[name].get("additionalProperties") is False, name
        for ref in _refs(components[name]):
            walk(ref)

    for name in request_bodies:
        walk(name)
    assert {"Cgm", "Reading", "MealIn", "Profile", "PatientRef", "LoggedMeal", "PastMealIn"} <= seen


def test_openapi_json_says_no_additional_parts_on_every_multipart_body() -> None:
    """As the app publishes it: each photo route's form names exactly the parts the server accepts
    (FORM_FIELDS, what refuse_unknown_form_fields checks) and says no other is allowed."""
    schema = TestClient(create_app()).get("/openapi.json").json()
    components = schema["components"]["schemas"]
    forms = {
        path: op["requestBody"]["content"]["multipart/form-data"]["schema"]
        for path, ops in schema["paths"].items()
        for op in ops.values()
        if "multipart/form-data" in op.get("requestBody", {}).get("content", {})
    }
    assert sorted(forms) == sorted(FORM_FIELDS) == ["/v1/meals/analyze", "/v1/meals/recognize"]
    for path, form in forms.items():
        body = components[form["$ref"].rsplit("/", 1)[-1]]
        assert body["additionalProperties"] is False, path
        assert tuple(body["properties"]) == FORM_FIELDS[path]


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if "$ref" in value:
            yield value["$ref"].rsplit("/", 1)[-1]
        for inner in value.values():
            yield from _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _refs(inner)


def _infer(body: dict[str, Any]) -> None:
    decode_request(json.dumps(body).encode(), None)


def test_v2_refuses_unknown_keys_but_keeps_parameters_open() -> None:
    tensor = {"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}
    _infer(
        {
            "id": "1",
            "parameters": {"binary_data_output": False, "sequence_id": 7},
            "inputs": [{**tensor, "parameters": {"anything": True}}],
            "outputs": [{"name": "y", "parameters": {"binary_data": False, "classification": 2}}],
        }
    )
    for body, where in (
        ({"inputs": [tensor], "output": [{"name": "y"}]}, "at output: .*did you mean 'outputs'"),
        ({"inputs": [{**tensor, "shapes": [1]}]}, "at inputs.0.shapes: .*did you mean 'shape'"),
        ({"inputs": [tensor], "outputs": [{"name": "y", "binary_data": True}]}, "at outputs.0.binary_data"),
    ):
        with pytest.raises(InferenceProtocolError, match=where):
            _infer(body)


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (AgpReportRequest, REPORT, "predicted_curves"),
        (FhirExportRequest, FHIR, "include_readings"),
        (FhirExportRequest, FHIR, "include_pdf"),
    ],
)
def test_a_report_switch_is_a_json_boolean_not_a_word(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    for word in ("yes", "true", 1):
        with pytest.raises(ValidationError, match=field):
            model.model_validate({**body, field: word})  # Python mode, as FastAPI validates
    assert getattr(model.model_validate({**body, field: False}), field) is False


class _Paging(BaseModel):
    page: int = 1
    size: int = 10


async def _paging(paging: Annotated[_Paging, Query()]) -> int:
    return paging.page


def _query_app() -> FastAPI:
    """A route that defines `lang` (and a dependency that defines `page` and `size` as a query model),
    behind the query check and the app's problem handlers, as the API routers are."""
    router = APIRouter()

    @router.get("/v1/things")
    async def things(
        page: Annotated[int, Depends(_paging)], lang: Annotated[str, Query()] = "en"
    ) -> dict[str, Any]:
        return {"lang": lang, "page": page}

    @router.post("/v1/none")
    async def none() -> dict[str, Any]:
        return {}

    @router.post("/v2/none")
    async def v2_none() -> dict[str, Any]:
        return {}

    app = FastAPI()
    app.include_router(router, dependencies=[Depends(refuse_unknown_query_parameters)])
    install_problem_handlers(app, ServingMetrics())
    return app


def test_an_unknown_query_parameter_is_refused_naming_the_one_meant_and_the_defined_ones() -> None:
    client = TestClient(_query_app())
    assert client.get("/v1/things?lang=de&page=2").json() == {"lang": "de", "page": 2}
    response = client.get("/v1/things?lnag=de&page=2&x=1&x=2")
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/validation-error"
    assert problem["errors"] == [
        {
            "loc": ["query", "lnag"],
            "msg": "Extra inputs are not permitted: 'lnag' is not a query parameter here (did you mean "
            "'lang'?); the query parameters are lang, page, size",
            "type": "extra_forbidden",
        },
        {
            "loc": ["query", "x"],
            "msg": "Extra inputs are not permitted: 'x' is not a query parameter here; the query parameters "
            "are lang, page, size",
            "type": "extra_forbidden",
        },
    ]
    assert problem["detail"] == "2 fields do not match the schema (query.lnag, query.x); see errors"
    (error,) = client.post("/v1/none?lang=de").json()["errors"]
    assert error["msg"].endswith("'lang' is not a query parameter here; this route takes none")
    v2 = client.post("/v2/none?lang=de")
    assert v2.status_code == 400 and "at query.lang: Extra inputs are not permitted" in v2.json()["error"]
    assert client.post("/v1/none").status_code == 200
