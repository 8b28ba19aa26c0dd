"""The one-way flow stays honest: below the command edges nothing prints, exits, or imports an edge."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "hookrun"
# The command edges: argument parsing, printing, exit codes.
EDGES = {"cli", "emulate", "manifest", "__main__"}
# Pure layers must not reach upwards into the executor or the edges.
PURE = {"config", "plan", "schema", "values", "templates", "retry", "report", "render", "timeline",
        "timeline_svg"}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hookrun"):
            names.add(node.module.removeprefix("hookrun").lstrip("."))
            names.update(alias.name for alias in node.names if node.module == "hookrun")
        elif isinstance(node, ast.Import):
            names.update(a.name.removeprefix("hookrun.") for a in node.names if a.name.startswith("hookrun."))
    return names


def test_there_are_modules_to_check() -> None:
    assert {"cli", "config", "plan", "executor", "steps.exec"} <= set(modules())


def test_nothing_below_the_edges_prints_or_exits() -> None:
    offenders = []
    for name, tree in modules().items():
        if name in EDGES:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                    "print", "exit", "quit"):
                offenders.append(f"{name}:{node.lineno} calls {node.func.id}()")
            if isinstance(node, ast.Attribute) and node.attr == "exit" and \
                    isinstance(node.value, ast.Name) and node.value.id in ("sys", "os"):
                offenders.append(f"{name}:{node.lineno} uses {node.value.id}.exit")
    assert offenders == []


def test_only_edges_import_edges() -> None:
    offenders = [f"{name} imports {', '.join(sorted(imported(tree) & EDGES))}"
                 for name, tree in modules().items()
                 if name not in EDGES and imported(tree) & EDGES]
    assert offenders == []


def test_pure_layers_do_not_reach_the_executor_or_processes() -> None:
    forbidden = EDGES | {"executor", "procs", "kubelet", "contain", "lock", "guard"}
    offenders = [f"{name} imports {', '.join(sorted(imported(tree) & forbidden))}"
                 for name, tree in modules().items() if name in PURE and imported(tree) & forbidden]
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
