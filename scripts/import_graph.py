"""Print the import graph between the project's top-level packages (issue 17's before/after measure).

For every edge A -> B it counts module-level imports and imports inside functions, so hidden
dependencies show. Usage: `python scripts/import_graph.py [--dot] [--split-mealimpact]`; exit 0 always.
`--split-mealimpact` counts `mealimpact.commands` (the CLI, on top) and `mealimpact.model_repository`
(below every library package) as nodes of their own instead of one `mealimpact`.
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path

PACKAGES = ("mealimpact", "vision", "glucose_model", "serving", "training", "bench")
ROOT = Path(__file__).resolve().parent.parent


SPLIT = ("mealimpact.commands", "mealimpact.model_repository")


def _node(module: str, split: bool) -> str:
    """The graph node of a dotted module name: its top-level package, or a split-out subpackage."""
    if split:
        for sub in SPLIT:
            if module == sub or module.startswith(f"{sub}."):
                return sub
    return module.split(".")[0]


def _imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module]
    return []


def import_edges(split: bool = False) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    """(module-level, inside-function) import counts per (importing package, imported package)."""
    top: Counter[tuple[str, str]] = Counter()
    nested: Counter[tuple[str, str]] = Counter()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = _node(".".join(path.relative_to(ROOT).with_suffix("").parts), split)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            module_level = {id(node) for node in tree.body}
            for node in ast.walk(tree):
                for module in _imported_modules(node):
                    target = _node(module, split)
                    if module.split(".")[0] in PACKAGES and target != source:
                        (top if id(node) in module_level else nested)[(source, target)] += 1
    return top, nested


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dot", action="store_true", help="print Graphviz dot instead of a table")
    parser.add_argument(
        "--split-mealimpact",
        action="store_true",
        help="the CLI and the model repository as nodes of their own",
    )
    args = parser.parse_args()
    top, nested = import_edges(args.split_mealimpact)
    edges = sorted(set(top) | set(nested))
    if args.dot:
        print("digraph imports {")
        for source, target in edges:
            print(f'  "{source}" -> "{target}" [label="{top[(source, target)]}+{nested[(source, target)]}"];')
        print("}")
        return
    width = max(14, *(len(name) for edge in edges for name in edge))
    print(f"{'from':<{width}} {'to':<{width}} {'module-level':>12} {'in functions':>12}")
    for source, target in edges:
        print(
            f"{source:<{width}} {target:<{width}} {top[(source, target)]:>12} {nested[(source, target)]:>12}"
        )
    cycles = sorted({tuple(sorted(edge)) for edge in edges if (edge[1], edge[0]) in set(edges)})
    print("package cycles:", ", ".join(f"{a} <-> {b}" for a, b in cycles) or "none")


if __name__ == "__main__":
    main()
