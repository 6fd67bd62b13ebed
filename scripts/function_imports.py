"""Count the imports written inside functions (issue 17's measure of hidden dependencies).

Walks the project's packages and prints every import that is not at module level (inside a function,
a method or a nested block of one), counted per file and per imported top-level module.
Usage: `python scripts/function_imports.py [--list]`; exit 0 always.
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path

PACKAGES = ("mealimpact", "vision", "glucose_model", "serving", "training", "bench")
ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module.split(".")[0] if node.module and node.level == 0 else "."]
    return []


def function_imports() -> list[tuple[Path, int, str]]:
    """(file, line, imported top-level module) for each import statement inside a function."""
    found: list[tuple[Path, int, str]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in _inside_functions(tree):
                found += [(path.relative_to(ROOT), node.lineno, m) for m in _imported_modules(node)[:1]]
    return found


def _inside_functions(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements with a function (or method) anywhere above them, each once."""
    imports: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if in_function and isinstance(node, ast.Import | ast.ImportFrom):
            imports.append(node)
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return imports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every import with its file and line")
    args = parser.parse_args()
    found = function_imports()
    if args.list:
        for path, line, module in found:
            print(f"{path}:{line}: {module}")
    print(f"imports inside functions: {len(found)}")
    print("by file:", ", ".join(f"{p} {n}" for p, n in Counter(str(p) for p, _, _ in found).most_common()))
    print("by module:", ", ".join(f"{m} {n}" for m, n in Counter(m for _, _, m in found).most_common()))


if __name__ == "__main__":
    main()
