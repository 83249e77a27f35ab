"""The import graph between vidqa's modules: circles (strongly connected components) and the
longest files.

    python3 pipelines/imports.py            # circles among module-level imports, then all imports
    python3 pipelines/imports.py --root /tmp/other-checkout

A circle is a set of modules that import one another, directly or through others. Imports inside
functions (lazy ones) count in the second list: they hide a circle from Python, not from a reader.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def modules(package: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The known module `name` refers to (a name imported from a package is its submodule if one
    exists, else the package itself)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str, path: Path, known: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(module-level imports, every import) of vidqa modules in one file. `if TYPE_CHECKING:`
    blocks count as neither: they never run."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top: set[str] = set()
    every: set[str] = set()

    def visit(node: ast.AST, at_top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other, at_top)
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                names = [f"{base}.{alias.name}" for alias in child.names] or [base]
            for name in names:
                target = _resolve(name, known)
                if target and target != module and not module.startswith(target + "."):
                    every.add(target)
                    if at_top:
                        top.add(target)
            nested = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, at_top and not nested)

    visit(tree, True)
    return top, every


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--longest", type=int, default=8, help="how many of the longest files")
    args = parser.parse_args(argv)
    known = modules(args.root / "vidqa")
    top = {}
    every = {}
    for module, path in known.items():
        top[module], every[module] = imports(module, path, known)
    for title, graph in (("module-level imports", top), ("all imports, lazy ones too", every)):
        found = circles(graph)
        print(f"circles among {title}: {len(found)}")
        for component in found:
            print("  " + " <-> ".join(component))
    print(f"longest files (of {len(known)}):")
    lengths = sorted(((len(p.read_text().splitlines()), m) for m, p in known.items()), reverse=True)
    for lines, module in lengths[: args.longest]:
        print(f"  {lines:5d}  {known[module].relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
