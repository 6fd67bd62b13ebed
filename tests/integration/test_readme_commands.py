"""The README's quick commands run as written (the long ones: `python scripts/check_readme_commands.py`)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_readme_commands", REPO / "scripts" / "check_readme_commands.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


CHECK = _script()
COMMANDS = CHECK.readme_commands()
QUICK = [c.text for c in COMMANDS if c.kind == "quick" and not c.needs_server]


def test_the_readme_commands_are_found_and_sorted() -> None:
    kinds = {c.text: c.kind for c in COMMANDS}
    assert kinds["make serve"] == "server" and kinds["make test"] == "long"
    assert (
        kinds[
            "mealimpact export fhir --cgm ../shared/data/d1namo/001 --patient-reference Patient/example --out bundle.json"
        ]
        == "quick"
    )
    assert not [
        c for c in COMMANDS if any(p in c.text.split() for p in ("FILE", "DIR", "OUT.json", "VERSION"))
    ]


def _curl_lines(readme: Path) -> set[str]:
    lines, in_shell = set(), False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_shell = line.strip() == "```sh"
        elif in_shell and line.startswith("curl "):
            lines.add(line)
    return lines


def test_every_curl_call_of_the_readme_is_one_the_e2e_test_runs() -> None:
    # tests/e2e/test_serving_e2e.py runs serving/README.md's curl lines against a live server.
    top = _curl_lines(REPO / "README.md")
    assert len(top) >= 7
    assert not top - _curl_lines(REPO / "serving" / "README.md")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as links in a scratch folder (outputs land there, never here), ../shared beside it."""
    root = tmp_path_factory.mktemp("readme")
    copy = root / "repo"
    copy.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in (".git", "runs"):
            (copy / entry.name).symlink_to(entry)
    if SHARED.is_dir():
        (root / "shared").symlink_to(SHARED)
    return copy


@pytest.mark.parametrize("command", QUICK)
def test_quick_readme_command_runs_as_written(command: str, scratch: Path) -> None:
    # `--cohort` reads the default data root, ../shared/data, without naming it.
    if ("../shared/" in command or "--cohort " in command) and not SHARED.is_dir():
        pytest.skip(f"needs {SHARED}")
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        ["bash", "-c", command], cwd=scratch, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-800:]}{result.stderr[-800:]}"


def test_make_commands_in_the_scratch_copy_never_reinstall_the_linked_environment(tmp_path: Path) -> None:
    # A `pip install -e .` from the scratch copy would point the shared editable install at a folder that
    # is deleted when the check ends.
    stamps = [REPO / ".venv" / ".serve-installed", REPO / ".venv" / ".all-installed"]
    if not all(s.is_file() for s in stamps):
        pytest.skip("needs .venv built by `make setup`")
    copy = CHECK.scratch_copy(tmp_path)
    assert (copy / ".venv").is_symlink()
    assert (copy / "pyproject.toml").stat().st_mtime < min(s.stat().st_mtime for s in stamps)
    assert not CHECK.installs("make serve", copy)
    assert not CHECK.installs("make soak SOAK_MINUTES=10 SOAK_CONCURRENCY=16", copy)
    os.utime(copy / "pyproject.toml")  # as if pyproject.toml had been edited after `make setup`
    assert CHECK.installs("make serve", copy)
    assert CHECK.run(CHECK.Command("make serve", "README.md", "server"), copy, None)[0] is None
