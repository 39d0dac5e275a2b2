"""List import circles among the modules of a package: ``python scripts/import_cycles.py [core]``.

Every import counts, at module level or inside a function (a deferred import hides a circle, it does
not remove it). Prints each circle and exits 1 when there is one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, package: str, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (``from package import x`` counts as ``package.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != package:
                found.add(name)
    return found


def cycles(package: str) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    paths = {module_name(p): p for p in sorted((REPO / package).rglob("*.py"))}
    graph = {m: imports(p, package, set(paths)) - {m} for m, p in paths.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    return sorted(found)


def main(argv: list[str]) -> int:
    found = cycles(argv[0] if argv else "core")
    for component in found:
        print("import circle: " + " <-> ".join(component))
    if not found:
        print("no import circles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
