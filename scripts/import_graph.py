"""Print the import graph between the project's top-level packages (issue 17's before/after measure).

For every edge A -> B it counts module-level imports and imports inside functions, so hidden
dependencies show. Usage: `python scripts/import_graph.py [--dot]`; exit 0 always.
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path

PACKAGES = ("mealimpact", "vision", "glucose_model", "serving", "training", "bench")
ROOT = Path(__file__).resolve().parent.parent


def _imported_packages(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module.split(".")[0]]
    return []


def import_edges() -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    """(module-level, inside-function) import counts per (importing package, imported package)."""
    top: Counter[tuple[str, str]] = Counter()
    nested: Counter[tuple[str, str]] = Counter()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            module_level = {id(node) for node in tree.body}
            for node in ast.walk(tree):
                for target in _imported_packages(node):
                    if target in PACKAGES and target != package:
                        (top if id(node) in module_level else nested)[(package, target)] += 1
    return top, nested


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dot", action="store_true", help="print Graphviz dot instead of a table")
    args = parser.parse_args()
    top, nested = import_edges()
    edges = sorted(set(top) | set(nested))
    if args.dot:
        print("digraph imports {")
        for source, target in edges:
            print(f'  "{source}" -> "{target}" [label="{top[(source, target)]}+{nested[(source, target)]}"];')
        print("}")
        return
    print(f"{'from':<14} {'to':<14} {'module-level':>12} {'in functions':>12}")
    for source, target in edges:
        print(f"{source:<14} {target:<14} {top[(source, target)]:>12} {nested[(source, target)]:>12}")
    cycles = sorted({tuple(sorted(edge)) for edge in edges if (edge[1], edge[0]) in set(edges)})
    print("package cycles:", ", ".join(f"{a} <-> {b}" for a, b in cycles) or "none")


if __name__ == "__main__":
    main()
