"""`gateway/` has no import loop between its folders: data flows one way (docs: style, issue 20).

Counted: every import a module runs, at the top or inside a function. Not counted: imports only a
type checker sees (`if TYPE_CHECKING:`) and entry points (`__main__.py`, `if __name__ == "__main__":`),
which nothing imports.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gateway"


def _is_guard(node: ast.If) -> bool:
    test = ast.unparse(node.test)
    return test in ("TYPE_CHECKING", "typing.TYPE_CHECKING") or test.replace("'", '"') == '__name__ == "__main__"'


def _imports(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_guard(node):
            yield from (n for child in node.orelse for n in _imports(ast.Module(body=[child], type_ignores=[])))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        yield from _imports(node)


def unit(parts: tuple[str, ...]) -> str:
    """The folder (subpackage) a module belongs to, or the top-level module's own name."""
    return parts[0].removesuffix(".py")


def folder_graph() -> dict[str, dict[str, set[str]]]:
    """unit -> imported unit -> the files that import it."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        source = unit(path.relative_to(PACKAGE).parts)
        for module in _imports(ast.parse(path.read_text(), str(path))):
            parts = module.split(".")
            if parts[0] == "gateway" and len(parts) > 1 and parts[1] != source:
                graph[source][parts[1]].add(str(path.relative_to(PACKAGE.parent)))
    return graph


def loops(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected groups of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_folder_of_the_gateway_imports_one_that_imports_it_back():
    graph = folder_graph()
    detail = {tuple(group): {f"{a} -> {b}": sorted(graph[a][b]) for a in group for b in group if b in graph[a]}
              for group in loops(graph)}
    assert not detail, detail


@pytest.mark.parametrize("code, expected", [
    ("import gateway.b\n", {"b"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import gateway.b\n", set()),
    ("if __name__ == '__main__':\n    from gateway.b import main\n", set()),
    ("def f():\n    from gateway.b import x\n", {"b"}),
])
def test_the_check_counts_what_runs_and_skips_types_and_entry_points(code, expected):
    assert {m.split(".")[1] for m in _imports(ast.parse(code)) if m.startswith("gateway.")} == expected


def test_a_loop_is_reported():
    assert loops({"a": {"b": {"x"}}, "b": {"a": {"y"}}, "c": {"a": {"z"}}}) == [["a", "b"]]
