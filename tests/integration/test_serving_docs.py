"""/docs and /redoc work without internet: every asset the pages reference is served by the app itself,
and each route's error responses carry that route's own example."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from shipped_app import shipped_settings

from serving.auth import API_KEY_HEADER, new_key_entry
from serving.main import create_app
from serving.openapi_examples import PROBLEM_JSON

REFERENCE = re.compile(
    r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']|\.init\(\s*["']([^"']+)["']"""
)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(shipped_settings())) as test_client:
        yield test_client


def references(html: str) -> list[str]:
    """Every URL a page loads: script src, link href, the spec URL Swagger UI and ReDoc fetch."""
    found = [next(g for g in match.groups() if g) for match in REFERENCE.finditer(html)]
    spec = re.findall(r"""openapi\.json""", html)
    return sorted(set(found)) + (["/openapi.json"] if spec else [])


@pytest.mark.parametrize(
    ("page", "must_load"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_docs_pages_load_every_asset_from_the_server_itself(
    client: TestClient, page: str, must_load: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    urls = references(response.text)
    assert any(u.endswith(must_load) for u in urls), urls
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), f"{page} loads {url} from outside the server"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > (10_000 if url.endswith(".js") else 100), url
    assert "cdn.jsdelivr.net" not in response.text and "fonts.googleapis" not in response.text


def test_only_the_documentation_assets_are_served(client: TestClient) -> None:
    assert client.get("/docs/assets/../core.py").status_code == 404
    assert client.get("/docs/assets/core.py").status_code == 404
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


def test_each_route_has_its_own_error_examples(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    examples = {}
    for path, operations in paths.items():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {}).get(PROBLEM_JSON)
                if content is not None:
                    example = content["example"]
                    assert example["instance"] == path and example["status"] == int(status)
                    examples[(path, status)] = example
    details = {e["detail"] for (path, status), e in examples.items() if status == "422"}
    assert len(details) >= 5  # recognize, analyze, impact, forecast, reports: each its own problem
    assert examples[("/v1/meals/recognize", "422")]["type"] == "/problems/not-an-image"


def test_docs_need_no_api_key_when_keys_are_set() -> None:
    key, entry = new_key_entry("docs-test")
    with TestClient(create_app(shipped_settings(api_keys=(entry,)))) as keyed:
        page = keyed.get("/docs")
        assert page.status_code == 200
        for url in references(page.text):
            assert keyed.get(url).status_code == 200, url
        assert keyed.get("/v1/models").status_code == 401
        assert keyed.get("/v1/models", headers={API_KEY_HEADER: key}).status_code == 200
