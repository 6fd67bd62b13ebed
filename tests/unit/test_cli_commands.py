"""The CLI is one package, mealimpact/commands/, that the library packages never import (issue 17)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIBRARIES = ("vision", "glucose_model", "serving", "training")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
    return names


@pytest.mark.parametrize("package", LIBRARIES)
def test_no_library_package_imports_the_cli(package: str) -> None:
    offenders = sorted(
        str(path.relative_to(REPO))
        for path in (REPO / package).rglob("*.py")
        if any(
            name in ("mealimpact.cli", "mealimpact.commands") or name.startswith("mealimpact.commands.")
            for name in _imported_modules(path)
        )
    )
    assert offenders == []


def test_the_whole_parser_builds_without_the_heavy_extras() -> None:
    code = (
        "import sys; from mealimpact.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'flwr', 'matplotlib', 'uvicorn') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "[]"
