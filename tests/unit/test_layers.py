"""The layers stay honest: imports between packages follow an allow-list, nothing imports in
a circle, nothing below the edge prints or exits, and step kinds never sleep.

The allow-list is the architecture (README, "Architecture"): a new edge between packages is a
decision made here, not an accident.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "hookrun"
# package -> the packages it may import (besides itself). `errors`, `record` and the package
# root (__version__, the generated _build) are open to all.
ALLOWED: Mapping[str, frozenset[str]] = {
    "errors": frozenset(),
    "record": frozenset(),
    "system": frozenset(),
    "config": frozenset({"system"}),
    "steps": frozenset({"config", "system"}),
    "state": frozenset({"config", "system"}),
    "engine": frozenset({"config", "steps", "state", "system"}),
    "packaging": frozenset({"config", "steps", "system"}),
    "emulator": frozenset({"config", "engine", "system"}),
    "cli": frozenset({"config", "steps", "state", "engine", "system", "packaging", "emulator"}),
    "__main__": frozenset({"cli"}),
}
OPEN_TO_ALL = frozenset({"errors", "record", "__init__", "_build"})
TOP_LEVEL_LIMIT = 8  # modules directly in hookrun/


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        found[".".join(parts)] = ast.parse(path.read_text(), str(path))
    return found


def imported(name: str, tree: ast.Module) -> set[str]:
    """The hookrun modules `name` imports (relative to the package), wherever the import is."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hookrun"):
            base = node.module.removeprefix("hookrun").lstrip(".")
            for alias in node.names:  # `from hookrun.steps import targets` imports a module
                names.add(f"{base}.{alias.name}" if base else alias.name)
            if base:
                names.add(base)
        elif isinstance(node, ast.Import):
            names.update(a.name.removeprefix("hookrun.") for a in node.names if a.name.startswith("hookrun."))
    return names


def package(module: str) -> str:
    return module.split(".")[0]


def edges() -> dict[str, set[str]]:
    """module -> the hookrun modules it imports, kept to those that exist."""
    found = modules()
    graph: dict[str, set[str]] = {}
    for name, tree in found.items():
        targets = set()
        for target in imported(name, tree):
            while target and target not in found:  # `pkg.module.Name` -> `pkg.module`
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def test_the_packages_are_there() -> None:
    names = set(modules())
    assert {"cli", "config.load", "engine.plan", "engine.executor", "engine.service", "steps.exec",
            "steps.shell", "state.markers", "system.procfs", "emulator.lifecycle", "errors"} <= names
    top = [p.name for p in PACKAGE.glob("*.py") if p.name != "_build.py"]
    assert len(top) <= TOP_LEVEL_LIMIT, top


def test_imports_between_packages_follow_the_allow_list() -> None:
    offenders = []
    for name, targets in edges().items():
        source = package(name)
        assert source in ALLOWED or source in OPEN_TO_ALL, f"{name}: a package missing from ALLOWED"
        for target in sorted(targets):
            dest = package(target)
            if dest != source and dest not in OPEN_TO_ALL and dest not in ALLOWED[source]:
                offenders.append(f"{name} imports {target}")
    assert offenders == []


def cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One import cycle of `graph` (as a path that ends where it starts), or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_no_import_cycle_anywhere() -> None:
    # a package imports its own __init__ implicitly; the edge from a module to its package's
    # __init__ (steps.exec -> steps) is how kinds reach their interface, not a cycle of layers
    graph = {name: {t for t in targets if not name.startswith(t + ".")}
             for name, targets in edges().items()}
    assert cycle(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a"}}) == []


def test_the_allow_list_catches_a_new_edge() -> None:
    """The check itself: an edge from a lower layer upwards would be reported."""
    tree = ast.parse("from hookrun.engine.plan import build_plan\n")
    assert "engine.plan" in imported("system.procfs", tree)
    assert "engine" not in ALLOWED["system"] and "engine" not in OPEN_TO_ALL


def test_nothing_below_the_edge_prints_or_exits() -> None:
    offenders = []
    for name, tree in modules().items():
        if package(name) in ("cli", "__main__"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                    "print", "exit", "quit", "input"):
                offenders.append(f"{name}:{node.lineno} calls {node.func.id}()")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
                    (node.attr == "exit" and node.value.id in ("sys", "os"))
                    or (node.attr in ("stdout", "stderr") and node.value.id == "sys")):
                offenders.append(f"{name}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert offenders == []


def test_exceptions_live_in_errors() -> None:
    offenders = []
    for name, tree in modules().items():
        if name == "errors":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(base, ast.Name) and (base.id.endswith(("Error", "Exception")))
                    for base in node.bases):
                offenders.append(f"{name}:{node.lineno} defines {node.name}")
    assert offenders == []


def test_step_kinds_never_sleep() -> None:
    """Steps make one attempt; the executor owns every pause (sleep is the one action that waits)."""
    offenders = []
    for name, tree in modules().items():
        if not name.startswith("steps.") or name == "steps.sleep":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "sleep":
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_every_action_has_its_step_kind() -> None:
    from hookrun.steps import ACTIONS, registry

    assert sorted(ACTIONS) == sorted(registry())
    assert [registry()[action].name for action in ACTIONS] == list(ACTIONS)
