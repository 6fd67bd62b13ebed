"""Run every command of README.md and serving/README.md as written, and say which passed.

    python scripts/check_readme_commands.py            # everything (training and `make test` take long)
    python scripts/check_readme_commands.py --quick    # what tests/integration/test_readme_commands.py runs
    python scripts/check_readme_commands.py --list     # the commands and their kind, nothing run

Each command runs in a scratch copy of the working tree (tracked files; `.venv` linked, `../shared`
beside it as in the README), with that copy's packages first on PYTHONPATH, so `--out models` or a
report written to the repository root touches nothing here. `curl` lines run against a server started
from the copy on a free port (only the port differs from the README). A command whose tool is not
installed (tritonserver) is reported as not run, never as passed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
READMES = (REPO / "README.md", REPO / "serving" / "README.md")
# Commands that finish in seconds; everything else is long (training, evaluation, simulation, make).
QUICK = (
    re.compile(r"^mealimpact [\w -]+ --help$"),
    re.compile(r"^mealimpact cgm-import "),
    re.compile(r"^mealimpact export fhir "),
    re.compile(r"^mealimpact report "),
    re.compile(r"^curl "),
)
# Starts a server, after any VAR=value settings (MEALIMPACT_MODELS_DIR=... .venv/bin/mealimpact serve).
SERVER_COMMAND = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:make serve|\.venv/bin/mealimpact serve)\b")
TIMEOUT_QUICK_S = 120
TIMEOUT_LONG_S = 4 * 3600


@dataclass(frozen=True)
class Command:
    text: str
    readme: str
    kind: str  # quick, long, server (starts a server: checked by starting it), external (needs a tool)

    @property
    def needs_server(self) -> bool:
        return self.text.startswith("curl ")


def _kind(text: str) -> str:
    if "tritonserver" in text or "MODEL_BACKEND=v2://" in text:
        return "external"  # needs a Triton server (README: "Handing the model tier to Triton")
    if SERVER_COMMAND.match(text):
        return "server"
    if any(p.search(text) for p in QUICK):
        return "quick"
    return "long"


def readme_commands() -> list[Command]:
    """Shell lines of the ```sh blocks and the `mealimpact ...` / `make ...` code spans of the tables."""
    found: list[Command] = []
    for path in READMES:
        in_shell = False
        pending = ""  # a shell line continued with a trailing backslash
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_shell, pending = line.strip() == "```sh", ""
                continue
            if in_shell:
                text = re.sub(r"\s+#\s.*$", "", line).strip()
                if text.endswith("\\"):
                    pending += text[:-1]
                    continue
                text, pending = (pending + text).strip(), ""
                if text and not text.startswith("#"):
                    found.append(Command(text, str(path.relative_to(REPO)), _kind(text)))
            elif line.startswith("|"):
                for span in re.findall(r"`([^`]+)`", line.split("|")[-2] if line.count("|") > 2 else ""):
                    span = span.replace("\\|", "|")
                    if span.startswith(("mealimpact ", "make ", ".venv-federated/bin/mealimpact ")):
                        found.append(Command(span, str(path.relative_to(REPO)), _kind(span)))
    unique: dict[str, Command] = {}
    for command in found:
        unique.setdefault(command.text, command)
    return list(unique.values())


def scratch_copy(root: Path, ref: str | None = None) -> Path:
    """The working tree's tracked files (or commit `ref`'s) under root/<name>, `.venv` linked, `../shared`
    beside it."""
    copy = root / REPO.name
    copy.mkdir(parents=True)
    if ref is not None:
        archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(copy)], input=archive, check=True)
    else:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
        for name in filter(None, files.decode().split("\0")):
            source = REPO / name
            if source.is_file():
                target = copy / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    # The environments are linked, not copied. `make` targets rebuild an environment when pyproject.toml is
    # newer than its install stamp, and `pip install -e .` run in this copy would point the shared
    # editable install at a folder deleted when the check ends: the copy's pyproject.toml is made older
    # than any stamp, and `run` refuses a make command whose dry run would still install.
    os.utime(copy / "pyproject.toml", (0, 0))
    for venv in (".venv", ".venv-federated"):
        if (REPO / venv).is_dir():
            (copy / venv).symlink_to(REPO / venv)
    shared = REPO.parent / "shared"
    if shared.is_dir():
        (root / "shared").symlink_to(shared)
    return copy


def environment(copy: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{copy / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(copy),
        "MEALIMPACT_MODELS_DIR": str(copy / "models"),
        # The README's forecast example carries fixed times; freshness is tested elsewhere.
        "MEALIMPACT_MAX_CGM_AGE_MIN": "0",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout_s: float = 120) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def start_server(copy: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [str(copy / ".venv" / "bin" / "python"), "-m", "mealimpact", "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=copy, env=environment(copy), stdout=out, stderr=subprocess.STDOUT
        )
    if not wait_ready(port, process):
        process.terminate()
        raise RuntimeError(f"the server did not become ready:\n{log.read_text(errors='replace')[-2000:]}")
    return process, port


def installs(text: str, copy: Path) -> bool:
    """Whether a `make` command would create or reinstall an environment (its dry run names pip or venv)."""
    if not text.startswith("make"):
        return False
    dry = subprocess.run(
        ["bash", "-c", "make -n" + text[len("make") :]],
        cwd=copy,
        env=environment(copy),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return dry.returncode != 0 or "pip install" in dry.stdout or " -m venv " in dry.stdout


def run(command: Command, copy: Path, port: int | None) -> tuple[bool | None, str]:
    """(passed, why) for one command; passed is None when it could not be run here."""
    if command.kind == "external" and shutil.which("tritonserver") is None:
        return None, "tritonserver is not installed"
    if installs(command.text, copy):
        return (
            None,
            "would create or reinstall an environment from this scratch copy (run it in the repository)",
        )
    text = command.text
    if command.needs_server:
        if port is None:
            return None, "no server"
        text = text.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("curl -s", "curl -s --fail", 1)
    if command.kind == "server":
        return run_server_command(text, copy)
    timeout = TIMEOUT_QUICK_S if command.kind == "quick" else TIMEOUT_LONG_S
    try:
        result = subprocess.run(
            ["bash", "-c", text],
            cwd=copy,
            env=environment(copy),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout} s"
    tail = (result.stdout + result.stderr).strip().splitlines()[-1:] or [""]
    if result.returncode != 0:
        return False, f"exit {result.returncode}: {tail[0][:200]}"
    if command.needs_server and (not result.stdout.strip() or result.stdout.startswith("5")):
        return False, f"answered {result.stdout[:80]!r}"
    return True, tail[0][:120]


def run_server_command(text: str, copy: Path) -> tuple[bool, str]:
    """A command that starts the server: passes when it answers /readyz on its port; then it is stopped."""
    port = int(m.group(1)) if (m := re.search(r"(?:--port|PORT=)\s*(\d+)", text)) else 8000
    process = subprocess.Popen(
        ["bash", "-c", text], cwd=copy, env=environment(copy), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        ready = wait_ready(port, process, timeout_s=600)
        return ready, f"ready on port {port}" if ready else "never answered /readyz"
    finally:
        if process.poll() is None:  # a server that failed to start has already exited
            os.killpg(process.pid, 15)
        process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="only the commands that take seconds")
    parser.add_argument("--list", action="store_true", help="list the commands and their kind; run nothing")
    parser.add_argument("--skip", nargs="*", default=[], help="skip commands starting with these words")
    parser.add_argument("--ref", help="check this commit (git archive) instead of the working tree")
    args = parser.parse_args()
    commands = [c for c in readme_commands() if not any(c.text.startswith(s) for s in args.skip)]
    if args.quick:
        commands = [c for c in commands if c.kind == "quick"]
    if args.list:
        for c in commands:
            print(f"{c.kind:8s} {c.readme:17s} {c.text}")
        return 0
    failed = not_run = 0
    with tempfile.TemporaryDirectory(prefix="readme-check-") as scratch:
        copy = scratch_copy(Path(scratch), args.ref)
        server, port = None, None
        if any(c.needs_server for c in commands):
            server, port = start_server(copy, Path(scratch) / "server.log")
        try:
            for command in commands:
                started = time.monotonic()
                passed, why = run(command, copy, port)
                failed += passed is False
                not_run += passed is None
                mark = {True: "PASS", False: "FAIL", None: "NOT RUN"}[passed]
                print(
                    f"{mark} {time.monotonic() - started:7.1f}s {command.readme}: {command.text}\n       {why}",
                    flush=True,
                )
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    print(
        f"{len(commands) - failed - not_run} of {len(commands)} commands passed, {failed} failed, {not_run} not run"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
