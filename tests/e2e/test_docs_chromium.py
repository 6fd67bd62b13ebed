"""/docs and /redoc rendered by headless Chromium with every outside host unreachable: the pages draw
(a screenshot with content) and list every route of the served OpenAPI. Skips where Chromium is not
installed (Debian: apt-get install chromium)."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from serving.settings import REQUIRED_MODELS, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)
# Every name resolves to nothing but the server itself: a page that needs the internet shows it here.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    models = Settings().models_dir
    if any(not (models / m / "config.pbtxt").is_file() for m in REQUIRED_MODELS):
        pytest.skip(f"models not exported into {models} yet")
    port = _free_port()
    log = (tmp_path_factory.mktemp("docs") / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mealimpact", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env={**os.environ, "MEALIMPACT_MODELS_DIR": str(models)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def _chromium(*args: str) -> bytes:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        OFFLINE,
    ]
    command += ["--virtual-time-budget=15000", *args]
    return subprocess.run(command, capture_output=True, timeout=120, check=True).stdout


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_render_offline_and_list_every_route(base_url: str, page: str, tmp_path: Path) -> None:
    paths = httpx.get(f"{base_url}/openapi.json").json()["paths"]
    dom = _chromium("--window-size=1280,4000", "--dump-dom", base_url + page).decode("utf-8", "replace")
    missing = [p for p in paths if (f'data-path="{p}"' if page == "/docs" else p) not in dom]
    assert not missing, f"{page} does not show {missing}"
    shot = tmp_path / "page.png"
    _chromium("--window-size=1280,2000", f"--screenshot={shot}", base_url + page)
    image = Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 50  # drawn text and colours, not a blank page
