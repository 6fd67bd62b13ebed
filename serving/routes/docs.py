"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from assets installed with the serve extra, so the pages
work on a machine without internet (FastAPI's defaults load them from a CDN and render blank offline).

The assets are the static files of the `fastapi-offline` package (Swagger UI and ReDoc bundles, MIT);
only its files are used, not its app class.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ASSET_PREFIX = "/docs/assets"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
# Exactly the files the two pages load; nothing else under the folder is served.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
TITLE = "mealimpact API"
router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{TITLE} (Swagger UI)",
        swagger_js_url=f"{ASSET_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSET_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_PREFIX}/favicon.png",
        # No badge that asks validator.swagger.io about the spec: nothing leaves the server.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title=f"{TITLE} (ReDoc)",
        redoc_js_url=f"{ASSET_PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSET_PREFIX}/favicon.png",
        with_google_fonts=False,
    )


@router.get(ASSET_PREFIX + "/{name}")
async def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, f"{ASSET_PREFIX}/{name} is not one of the documentation assets")
    return FileResponse(
        ASSETS_DIR / name, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"}
    )
