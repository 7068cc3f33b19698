"""The shape of the code, checked: no import cycle, small modules, one home for the lifecycle's states
and for metric labels. The layer contracts themselves are import-linter's (``make lint``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import grimp

from probe.lifecycle.record import State

PROBE = Path(__file__).resolve().parents[1] / "probe"
MAX_MODULE_LINES = 400


def _modules(*, outside: tuple[str, ...] = ()) -> Iterator[Path]:
    for path in sorted(PROBE.rglob("*.py")):
        relative = path.relative_to(PROBE).as_posix()
        if not relative.startswith(outside):
            yield path


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    work: list[tuple[str, Iterator[str]]] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        work.append((module, iter(sorted(graph.find_modules_directly_imported_by(module)))))

    for root in sorted(graph.modules):
        if root in index:
            continue
        visit(root)
        while work:
            module, imported = work[-1]
            for target in imported:
                if target not in index:
                    visit(target)
                    break
                if target in on_stack:
                    low[module] = min(low[module], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph = grimp.build_graph("probe")
    assert len(graph.modules) > 100
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c", "d"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    graph.add_import(importer="c", imported="d")
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_outside_the_sandbox_exceeds_400_lines() -> None:
    long = {
        path.relative_to(PROBE).as_posix(): lines
        for path in _modules(outside=("sandbox/",))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def _string_constants(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_canary_states_are_spelled_only_in_the_lifecycle() -> None:
    states = {state.value for state in State}
    spelled = [
        f"{path.relative_to(PROBE).as_posix()}:{line}: {value!r}"
        for path in _modules(outside=("lifecycle/",))
        for line, value in _string_constants(path)
        if value in states
    ]
    assert spelled == []


def test_metric_labels_are_set_only_in_the_metrics_package() -> None:
    raw = [
        f"{path.relative_to(PROBE).as_posix()}:{node.lineno}"
        for path in _modules(outside=("metrics/",))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "labels"
    ]
    assert raw == []
