"""Start-up and structure: a bad model stops the server, no torch in serving, the micro-batcher, OpenAPI examples."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mealimpact.model_repository.layout import ModelRepositoryError
from mealimpact.model_repository.loading import load_model
from serving.backends import LocalOnnxBackend, ModelExecutor
from serving.batcher import MicroBatcher
from serving.main import create_app
from serving.metrics import ServingMetrics
from serving.settings import FOOD_RECOGNIZER, REQUIRED_MODELS, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def shipped_models_dir() -> Path:
    models_dir = Settings().models_dir
    missing = [m for m in REQUIRED_MODELS if not (models_dir / m / "config.pbtxt").is_file()]
    if missing:
        pytest.skip(f"models {missing} not exported into {models_dir} yet")
    return models_dir


def linked_copy(models_dir: Path, target: Path) -> Path:
    """The repository with its (large) ONNX files linked and its small files copied, for editing."""
    for folder, _, files in os.walk(models_dir, followlinks=True):
        here = target / Path(folder).relative_to(models_dir)
        here.mkdir(parents=True, exist_ok=True)
        for name in files:
            source = Path(folder) / name
            if source.suffix == ".onnx":
                (here / name).symlink_to(source.resolve())
            else:
                shutil.copy(source, here / name)
    return target


def test_serving_imports_no_torch() -> None:
    script = textwrap.dedent(
        """
        import sys
        import mealimpact.commands.serve
        from serving.main import create_app
        from serving.settings import Settings
        create_app(Settings())
        # What the report routes import inside their handlers, so a serve-only install can run them.
        import glucose_model.agp, glucose_model.fhir, glucose_model.meal_summary, glucose_model.report
        # Packages of the train extra only: the serving install does not have them.
        outside = ("torch", "torchvision", "scipy", "sklearn", "tqdm", "onnx", "onnxscript")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in outside)
        assert not loaded, loaded
        print("no torch")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "no torch" in result.stdout


def _remove_versions(model_dir: Path) -> None:
    for version in [p for p in model_dir.iterdir() if p.name.isdigit()]:
        shutil.rmtree(version)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: (d / "config.pbtxt").write_text(
                (d / "config.pbtxt").read_text().replace("TYPE_FP32", "TYPE_FP16", 1)
            ),
            "TYPE_FP16",
        ),
        (lambda d: (d / "config.pbtxt").unlink(), "not found"),
        # every version folder gone (glucose_response keeps its previous version beside the latest)
        (_remove_versions, "version"),
    ],
)
def test_an_inconsistent_or_missing_model_stops_start_up(tmp_path: Path, edit: object, message: str) -> None:
    repo = linked_copy(shipped_models_dir(), tmp_path / "models")
    edit(repo / "glucose_response")  # type: ignore[operator]
    with (
        pytest.raises(ModelRepositoryError, match=message),
        TestClient(create_app(Settings(models_dir=repo))),
    ):
        pass


def test_micro_batcher_shares_calls_and_returns_each_request_its_rows() -> None:
    model, session = load_model(shipped_models_dir() / FOOD_RECOGNIZER)
    metrics = ServingMetrics()
    executor = ModelExecutor(LocalOnnxBackend({model.name: session}), threads=1, metrics=metrics)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, *model.inputs[0].shape[1:]), dtype=np.uint8)
    alone = executor.backend.infer(model.name, {"image": images})

    async def concurrently() -> list[dict[str, np.ndarray]]:
        batcher = MicroBatcher(executor, model.name, max_batch=4, max_wait_s=0.05, concurrent_batches=1)
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.infer({"image": images[i : i + 1]}) for i in range(6)))
        finally:
            await batcher.stop()

    results = asyncio.run(concurrently())
    for i, outputs in enumerate(results):
        np.testing.assert_allclose(outputs["probabilities"], alone["probabilities"][i : i + 1], atol=1e-5)
    labels = {"model": model.name}
    assert metrics.registry.get_sample_value("mealimpact_model_batch_size_count", labels) == 2  # two calls...
    assert (
        metrics.registry.get_sample_value("mealimpact_model_batch_size_sum", labels) == 6
    )  # ...of 4 + 2 rows
    executor.close()


def test_micro_batcher_never_exceeds_max_batch() -> None:
    model, session = load_model(shipped_models_dir() / FOOD_RECOGNIZER)
    metrics = ServingMetrics()
    executor = ModelExecutor(LocalOnnxBackend({model.name: session}), threads=1, metrics=metrics)
    images = np.zeros((3, *model.inputs[0].shape[1:]), dtype=np.uint8)

    async def concurrently() -> list[dict[str, np.ndarray]]:
        batcher = MicroBatcher(executor, model.name, max_batch=4, max_wait_s=0.05, concurrent_batches=1)
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.infer({"image": images}) for _ in range(3)))
        finally:
            await batcher.stop()

    results = asyncio.run(concurrently())
    assert [r["carbs_g"].shape[0] for r in results] == [3, 3, 3]
    labels = {"model": model.name}
    assert metrics.registry.get_sample_value("mealimpact_model_batch_size_count", labels) == 3  # 3 + 3 > 4
    executor.close()


def test_every_route_documents_examples() -> None:
    schema = create_app(Settings()).openapi()
    components = schema["components"]["schemas"]

    def has_example(node: dict) -> bool:
        if "$ref" in node:
            return has_example(components[node["$ref"].rsplit("/", 1)[-1]])
        return bool(node.get("examples") or node.get("example")) or any(
            has_example(p) for p in node.get("properties", {}).values() if isinstance(p, dict)
        )

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                documented = has_example(content["schema"]) or "example" in content or "examples" in content
                assert documented, f"{method} {path} request ({media}) has no example"
            ok = operation["responses"].get("200", {}).get("content", {}).get("application/json")
            if ok and ok.get("schema", {}).get("$ref"):
                assert has_example(ok["schema"]), f"{method} {path} response has no example"


def test_cors_origins_are_honoured() -> None:
    os.environ.pop("MEALIMPACT_API_KEYS", None)
    with TestClient(
        create_app(Settings(models_dir=shipped_models_dir(), cors_origins=("https://app.example",)))
    ) as client:
        response = client.options(
            "/v1/meals/impact",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert response.headers.get("access-control-allow-origin") == "https://app.example"
        other = client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
