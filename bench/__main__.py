"""Runs every `bench/bench_*.py` module's `main()` in turn: `python -m bench [name ...]`."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    chosen = [n for n in names if not argv or n in argv or n.removeprefix("bench_") in argv]
    if not chosen:
        print(f"no benchmark matches {argv}; available: {names}")
        return 2
    for name in chosen:
        print(f"== {name}")
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
