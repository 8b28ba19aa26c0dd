"""`hookrun emulate`: run CMD as a container's main process with the config's hooks around it,
the way the kubelet does (hookrun.kubelet), and show what happened against the grace period:
the timeline on stdout, optionally as SVG, HTML or JSON; CMD's exit status as ours.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from hookrun.cli.arguments import Arguments
from hookrun.cli.options import config_options, load_config
from hookrun.config.values import format_duration, parse_duration, parse_signal, whole_seconds
from hookrun.emulator import contain
from hookrun.emulator.kubelet import Emulation, Options
from hookrun.emulator.timeline import Timeline
from hookrun.emulator.timeline import render_text as render_timeline
from hookrun.engine.plan import plan_for
from hookrun.errors import LaunchError, UsageError, ValueProblem
from hookrun.record import replace

TIMELINE_KINDS = (".svg", ".html", ".htm", ".json")


# --- options -------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hookrun emulate", usage="hookrun emulate [OPTIONS] -- CMD [ARGS...]",
        description="Run CMD as the container's main process with the config's poststart and "
        "prestop hooks around it, the way the kubelet does, then print a timeline and exit with "
        "CMD's exit status. Stop it with Ctrl-C, SIGTERM or --stop-after.")
    config_options(p)
    p.add_argument("--pod-grace-period", metavar="DUR",
                   help="the grace period the emulated kubelet uses, when it differs from the one "
                   "the hooks are told (settings.grace_period, --grace-period or "
                   "HOOKRUN_GRACE_PERIOD): shows what a stale HOOKRUN_GRACE_PERIOD does")
    p.add_argument("--stop-after", metavar="DUR", help="stop the container this long after CMD started")
    p.add_argument("--stop-signal", metavar="SIG", default="TERM",
                   help="the image's STOPSIGNAL (default TERM)")
    p.add_argument("--pid-namespace", action="store_true",
                   help="run CMD as PID 1 of a new PID namespace, hooks inside it (root only)")
    p.add_argument("--timeline", metavar="FILE",
                   help="also write the timeline to FILE: .svg, .html or .json")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    return p


def parse_options(rest: Sequence[str], args: Arguments) -> tuple[Arguments, Options]:
    """Our options and the global ones given after `emulate`, merged over `args`; the grace
    period is left for the config to settle."""
    ns = _parser().parse_args(list(rest), namespace=copy.copy(args))
    command = list(ns.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UsageError("emulate needs a command: hookrun emulate [OPTIONS] -- CMD [ARGS...]")
    try:
        stop_after = None if ns.stop_after is None else parse_duration(ns.stop_after)
        if ns.pod_grace_period is not None:
            ns.pod_grace_s = grace_seconds(parse_duration(ns.pod_grace_period))
        stop_signal = parse_signal(ns.stop_signal)
    except ValueProblem as err:
        raise UsageError(f"emulate: {err}") from None
    if ns.timeline is not None:
        _check_timeline_path(ns.timeline)
    if ns.pid_namespace and (problem := contain.pid_namespace_unavailable()):
        raise UsageError(problem)
    return ns, Options(tuple(command), 0, stop_after, stop_signal, ns.pid_namespace)


def _check_timeline_path(path: str) -> None:
    if not path.lower().endswith(TIMELINE_KINDS):
        raise UsageError(f"--timeline {path}: name a .svg, .html or .json file")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--timeline {path}: folder {folder} does not exist")


def grace_seconds(grace: float) -> int:
    """terminationGracePeriodSeconds is whole seconds; a fraction is rounded up."""
    return max(1, whole_seconds(grace))


# --- the edge ------------------------------------------------------------------------------------

def main(args: Arguments, env: Mapping[str, str]) -> int:
    try:
        ns, opts = parse_options(args.rest, args)
    except SystemExit as exit_:  # --help, or argparse's own usage error (already printed)
        return int(exit_.code or 0)
    config = load_config(ns, env)
    for hook in ("poststart", "prestop"):  # config errors surface before anything runs
        if hook in config.hooks:
            plan_for(config, hook)
    grace = grace_seconds(config.settings.grace_period)
    if grace != config.settings.grace_period:
        _say(f"hookrun emulate: grace period {format_duration(config.settings.grace_period)} "
             f"rounded up to {grace}s (the kubelet counts whole seconds)")
    # the kubelet's grace period: --pod-grace-period, else the one the hooks are told
    told, pod = grace, getattr(ns, "pod_grace_s", None)
    if pod is not None and pod != told:
        _say(f"hookrun emulate: the kubelet's grace period is {pod}s; the hooks are told {told}s "
             "(HOOKRUN_GRACE_PERIOD)")
    opts = replace(opts, grace_s=told if pod is None else pod, hooks_grace_s=told)
    try:
        timeline = Emulation(opts, config, env, _say).run()
    except LaunchError as err:
        _say(f"hookrun emulate: {err}")
        return err.code
    print(render_timeline(timeline), flush=True)
    if ns.timeline is not None:
        _write_timeline(ns.timeline, timeline, getattr(ns, "masker", str))
    return exit_status(timeline)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _write_timeline(path: str, timeline: Timeline, mask: Callable[[str], str]) -> None:
    from hookrun.emulator import svg as timeline_svg

    lower = path.lower()
    if lower.endswith(".json"):
        text = json.dumps(timeline.to_json(), indent=2) + "\n"
    elif lower.endswith(".svg"):
        text = timeline_svg.render_svg(timeline)
    else:
        text = timeline_svg.render_html(timeline)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(mask(text))
    except OSError as err:
        _say(f"hookrun emulate: cannot write the timeline to {path}: {err.strerror}")
    else:
        _say(f"hookrun emulate: timeline written to {path}")


def exit_status(timeline: Timeline) -> int:
    """CMD's exit status; after a failed poststart never 0 (the container did not survive)."""
    poststart = timeline.failed_poststart
    if timeline.app_status == 0 and poststart is not None:
        return poststart.exit_code or 1
    return timeline.app_status


