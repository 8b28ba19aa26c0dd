"""The commands that run no hook: plan, validate, version, markers."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence

from hookrun import __version__
from hookrun.cli.arguments import Arguments
from hookrun.cli.options import load_config
from hookrun.engine.plan import Plan, build_plan
from hookrun.engine.render import columns, render_plan
from hookrun.engine.service import dry_run
from hookrun.errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, ConfigError, Problem
from hookrun.state.markers import Marker, Store, instance_keys
from hookrun.state.statedir import StateDir, open_state_dir


def cmd_plan(args: Arguments, hook: str, env: Mapping[str, str]) -> int:
    config = load_config(args, env)
    print_plan(dry_run(config, hook, env), args.format)
    return EXIT_OK


def print_plan(plan: Plan, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(plan.to_json(), indent=2))
    else:
        print(render_plan(plan))


def cmd_validate(args: Arguments, env: Mapping[str, str]) -> int:
    config = load_config(args, env)
    problems: list[Problem] = []
    notes = []
    too_long = []
    for name in config.hooks:
        try:
            plan = build_plan(config, name)
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        notes.append(f"  {name}: {len(plan.steps)} step(s), worst case "
                     f"{plan.worst_case_s:.1f}s of {plan.budget_s:.1f}s budget"
                     + ("" if plan.fits else " (does not fit)"))
        notes.extend(f"    warning: {w}" for w in plan.warnings)
        if not plan.fits:
            too_long.append(name)
    if problems:
        raise ConfigError(config.path, problems)
    if too_long:  # loads, but a hook would be cut even after its reserves: exit 1 (SPEC §6)
        print(f"{config.path}: valid, but {', '.join(too_long)} cannot fit "
              f"{'its' if len(too_long) == 1 else 'their'} budget (see the warnings)")
        print("\n".join(notes))
        return EXIT_FAILED
    print(f"{config.path}: ok")
    print("\n".join(notes))
    return EXIT_OK


def cmd_version(check: bool) -> int:
    try:
        from hookrun import _build  # type: ignore[attr-defined]  # written by build/
        variant = f"{_build.VARIANT}, {_build.COMMIT}" if _build.COMMIT else str(_build.VARIANT)
    except ImportError:
        variant = "python"
    print(f"hookrun {__version__} ({variant}, Python {sys.version.split()[0]})")
    if not check:
        return EXIT_OK
    from hookrun.packaging import selfcheck

    results = selfcheck.run()
    for result in results:
        print(f"  {'ok  ' if result.ok else 'FAIL'} {result.name}: {result.detail}")
    return EXIT_OK if all(result.ok for result in results) else EXIT_INTERNAL


def cmd_install(directory: str, env: Mapping[str, str]) -> int:
    from hookrun.packaging.install import install

    done = install(directory, env)
    what = "already installed (the same file)" if done.unchanged else "installed"
    print(f"{what}: {done.path} ({done.variant} build, {done.size / 1e6:.1f} MB); it runs: {done.version}")
    if done.variant == "one-file":
        print("note: the one-file build needs glibc 2.36 or newer in the app's image; the static "
              "build runs in any image")
    return EXIT_OK


def cmd_markers(args: Arguments, env: Mapping[str, str]) -> int:
    config = load_config(args, env)
    state = open_state_dir(config.settings.state_dir, env, create=False)
    if not isinstance(state, StateDir):
        print(f"hookrun: no markers: {state.message()}")
        return EXIT_OK
    store = Store(state, instance_keys(env))
    removed = store.clear() if args.clear else None
    print(render_markers(state.path, store.markers(), removed))
    return EXIT_OK


def render_markers(path: str, markers: Sequence[Marker], removed: int | None) -> str:
    """`hookrun markers`: this container's and pod's markers; what --clear removed."""
    lines = [] if removed is None else [f"removed {removed} marker(s) from {path}"]
    current = [m for m in markers if m.current]
    if current:
        lines.append(f"markers in {path}:")
        lines += columns([(m.hook, m.step, f"once={m.scope}", f"written {m.written or '?'}")
                           for m in current])
    elif removed is None:
        lines.append(f"no markers of this container instance or pod in {path}")
    others = len(markers) - len(current)
    if others:
        lines.append(f"{others} marker(s) of earlier container instances or other pods (not used here)")
    return "\n".join(lines)




def render_problems(err: ConfigError) -> str:
    head = f"hookrun: invalid config {err.path}" if err.path else "hookrun: invalid config"
    if len(err.problems) == 1 and not err.problems[0].where and not err.problems[0].key:
        return f"{head}: {err.problems[0].message}"
    lines = [head] + [f"  {problem}" for problem in err.problems]
    if len(err.problems) > 1:
        lines.append(f"{len(err.problems)} problems")
    return "\n".join(lines)
