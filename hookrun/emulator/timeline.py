"""What an emulated container lifecycle did, against the grace period: data, verdict, text.

Pure: `hookrun emulate` records a Timeline; this module derives the step spans from the hooks'
log events and renders it for a terminal (the SVG and HTML renderers live in timeline_svg).
Times are seconds since the app started.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Sequence

from hookrun.config.values import signal_name
from hookrun.engine.report import Event
from hookrun.record import asdict, record

CLOSING = ("ok", "failed", "timeout", "cancelled", "skipped")  # events that end a step


@record
class StepSpan:
    """One step on the timeline."""

    name: str
    start: float
    end: float
    status: str  # ok | failed | timeout | cancelled | skipped | killed (the hook died mid-step)
    attempts: int
    detail: str


@record
class HookRun:
    """One hook process on the timeline."""

    hook: str
    start: float
    end: float
    exit_code: int | None  # None: killed before it could exit
    killed_with_app: bool  # ended by the container's end, as in a real pod
    abandoned_at: float | None  # the grace period ran out while it ran (the kubelet stops waiting)
    steps: tuple[StepSpan, ...]

    @property
    def failed(self) -> bool:
        return self.exit_code not in (0, None)


@record
class Note:
    """One line of the event list."""

    at: float
    source: str  # app | emulate | a hook's name
    text: str


@record
class Timeline:
    """What happened to the container, against the grace period."""

    command: str
    grace_s: int
    stop_signal: int
    pid_namespace: bool
    started_wall: float  # when the app started, seconds since the epoch
    app_pid: int
    app_exit_at: float
    app_status: int  # shell convention: 128+N when killed by signal N
    stop_at: float | None  # the grace timer started (None: the app exited by itself)
    stop_reason: str | None
    term_at: float | None  # the stop signal was sent
    term_reason: str | None
    kill_deadline: float | None  # when SIGKILL was due (term_at + max(grace - hook whole seconds, 2))
    kill_at: float | None  # SIGKILL was sent
    forced: bool  # a second interrupt asked for SIGKILL at once
    hooks: tuple[HookRun, ...]
    notes: tuple[Note, ...]
    told_grace_s: int | None = None  # the grace period the hooks were told, when not grace_s

    def hook(self, name: str) -> HookRun | None:
        return next((h for h in self.hooks if h.hook == name), None)

    @property
    def failed_poststart(self) -> HookRun | None:
        """The poststart whose failure stopped the container (the kubelet kills it), if any."""
        poststart = self.hook("poststart")
        if poststart is not None and poststart.failed and \
                (self.stop_reason or "").startswith("poststart"):
            return poststart
        return None

    @property
    def end(self) -> float:
        """Where a chart ends: the app's end, and at least the whole grace period."""
        grace_end = self.stop_at + self.grace_s if self.stop_at is not None else 0.0
        return max(self.app_exit_at, grace_end, *(h.end for h in self.hooks), 0.001)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["format"] = 1
        data["stop_signal"] = signal_name(self.stop_signal)
        data["verdict"] = verdict(self)
        return data


def step_spans(events: Sequence[tuple[float, Event]], end: float) -> tuple[StepSpan, ...]:
    """Each step's span from one hook's log events; a step still open at `end` was killed."""
    spans: list[StepSpan] = []
    open_: dict[str, tuple[float, int, str]] = {}  # name -> start, attempts, last message
    for at, event in events:
        name = event.step
        if name is None:
            continue
        if event.event == "start":
            open_[name] = (at, 1, event.message)
        elif event.event == "retry" and name in open_:
            began, attempts, _ = open_[name]
            open_[name] = (began, attempts + 1, event.message)
        elif event.event in CLOSING:
            began, attempts, _ = open_.pop(name, (at, 0, ""))
            spans.append(StepSpan(name, began, at, event.event, max(attempts, event.attempt or 0),
                                  event.message))
    for name, (began, attempts, message) in open_.items():
        spans.append(StepSpan(name, began, max(began, end), "killed", attempts, message))
    return tuple(sorted(spans, key=lambda s: s.start))


# --- the verdict ---------------------------------------------------------------------------

def secs(value: float) -> str:
    return f"{value:.1f} s"


def status_text(status: int) -> str:
    if status > 128:
        return f"killed by {signal_name(status - 128)} (exit {status})"
    return f"exit {status}"


def verdict(t: Timeline) -> str:
    """One line a person can act on: was the shutdown graceful, and how much room was left."""
    sig = signal_name(t.stop_signal)
    prestop = t.hook("prestop")
    if t.stop_at is None:
        line = (f"exited: the app ended by itself after {secs(t.app_exit_at)} ({status_text(t.app_status)}); "
                "no stop, so no preStop and no signal (the kubelet runs preStop only when it stops "
                "a container)")
    elif t.forced and t.kill_at is not None:
        line = (f"SIGKILLED: forced by a second interrupt {secs(t.kill_at - t.stop_at)} into the "
                f"{t.grace_s} s grace period")
    elif t.kill_at is not None and t.term_at is not None:
        if prestop is not None and prestop.abandoned_at is not None:
            line = (f"SIGKILLED: prestop used the whole {t.grace_s} s grace period, so the app got "
                    f"only {secs(t.kill_at - t.term_at)} after {sig} (the kubelet's 2 s minimum)")
        else:
            line = (f"SIGKILLED: app still running {secs(t.kill_at - t.term_at)} after {sig}; "
                    f"{sig} came {secs(t.term_at - t.stop_at)} into the {t.grace_s} s grace period")
    elif t.term_at is not None and t.kill_deadline is not None:
        if prestop is not None and prestop.abandoned_at is not None:
            how = f"stopped by {sig} when the grace period ended, prestop abandoned"
        elif prestop is not None and prestop.failed:
            how = f"stopped by {sig} after prestop failed"
        else:
            how = "graceful"
        line = (f"{how}: app exited {secs(t.app_exit_at - t.term_at)} after {sig}, "
                f"{secs(max(0.0, t.kill_deadline - t.app_exit_at))} of grace unused")
        if t.app_status == 128 + t.stop_signal:
            line += f" (it died of {sig}: no handler for it)"
        if t.stop_signal == signal.SIGTERM and "nginx" in os.path.basename(t.command.split(" ")[0]):
            line += ("; nginx takes SIGTERM as a fast shutdown (requests in flight are cut): "
                     "QUIT it in prestop, or set STOPSIGNAL SIGQUIT in the image")
    else:
        line = (f"graceful: app exited during prestop, {secs(t.app_exit_at - t.stop_at)} into the "
                f"grace period ({sig} not needed), "
                f"{secs(max(0.0, t.stop_at + t.grace_s - t.app_exit_at))} of grace unused")
    poststart = t.failed_poststart
    if poststart is not None:
        line = (f"poststart FAILED (exit {poststart.exit_code}): the kubelet kills the container "
                f"and restarts it; {line}")
    if prestop is not None:
        notable = [f"{s.name} {s.status}" for s in prestop.steps
                   if s.status in ("failed", "timeout", "cancelled", "skipped", "killed")]
        if notable:
            line += f"; prestop steps: {', '.join(notable)}"
    if prestop is not None and prestop.failed:
        line += f"; prestop exit {prestop.exit_code} (the kubelet only logs a warning)"
    if t.told_grace_s is not None and t.told_grace_s != t.grace_s:
        line += (f"; the hooks were told a {t.told_grace_s} s grace period, the kubelet's is "
                 f"{t.grace_s} s (HOOKRUN_GRACE_PERIOD must equal terminationGracePeriodSeconds)")
    return line


# --- text ------------------------------------------------------------------------------------

CHART_WIDTH = 60
CHAR = {"app": "=", "hook": "#", "ok": "#", "failed": "x", "timeout": "!", "cancelled": "-",
        "skipped": "|", "killed": "~", "abandoned": "~", "grace": "."}
LEGEND = ("# ok/running  x failed  ! timed out  - cancelled  ~ killed or abandoned  "
          "[ ] grace period  T stop signal  K SIGKILL")


@record
class Row:
    """One bar of a chart: pieces are (start, end, kind), kind a key of CHAR."""

    label: str
    depth: int  # 0: the app, a hook, the grace period; 1: a hook's step
    pieces: tuple[tuple[float, float, str], ...]
    status: str


def rows(t: Timeline) -> list[Row]:
    """The bars of a chart: the app, each hook and its steps, the grace period."""
    out = [Row("app", 0, ((0.0, t.app_exit_at, "app"),), status_text(t.app_status))]
    for h in t.hooks:
        if h.abandoned_at is None:
            pieces: tuple[tuple[float, float, str], ...] = ((h.start, h.end, "hook"),)
        else:
            pieces = ((h.start, h.abandoned_at, "hook"), (h.abandoned_at, h.end, "abandoned"))
        out.append(Row(h.hook, 0, pieces, _hook_status(h)))
        out.extend(Row(s.name, 1, ((s.start, s.end, s.status),), f"{s.status} {secs(s.end - s.start)}")
                   for s in h.steps)
    if t.stop_at is not None:
        out.append(Row("grace", 0, ((t.stop_at, t.stop_at + t.grace_s, "grace"),), _grace_status(t)))
    return out


def render_text(t: Timeline) -> str:
    lines = [f"hookrun emulate: {t.command}", setting(t), "", "      time     grace  event"]
    lines.extend(event_row(t.stop_at, n) for n in t.notes)
    lines.append("")
    lines.extend(chart(t))
    lines.extend(["", verdict(t)])
    return "\n".join(lines)


def setting(t: Timeline) -> str:
    """The line under a chart's title: the grace period and the stop signal."""
    return (f"grace period {t.grace_s} s, stop signal {signal_name(t.stop_signal)}"
            + (", app is PID 1 of its own PID namespace" if t.pid_namespace else ""))


def event_row(stop_at: float | None, note: Note) -> str:
    who = "" if note.source in ("app", "emulate") else f"{note.source}: "
    return row(stop_at, note.at, who + note.text)


def row(stop_at: float | None, at: float, text: str) -> str:
    """A line of the event list: the time since the app started, since the stop, and what."""
    grace = f"{at - stop_at:8.3f}s" if stop_at is not None and at >= stop_at else " " * 9
    return f"  {at:8.3f}s {grace}  {text}"


def chart(t: Timeline) -> list[str]:
    end = t.end
    bars = rows(t)
    width = max(len(r.label) + 2 * r.depth for r in bars)
    axis, ticks = _axis(end)
    pad = " " * (width + 2)
    out = [pad + axis, pad + ticks]
    for r in bars:
        cells = _bar(r.pieces, end)
        if r.label == "grace":
            _mark_grace(cells, t, end)
        out.append(f"{('  ' * r.depth + r.label).ljust(width)}  {''.join(cells)}  {r.status}")
    out.append(pad + LEGEND)
    return out


def _col(at: float, end: float) -> int:
    return min(CHART_WIDTH - 1, max(0, round(at / end * (CHART_WIDTH - 1))))


def _bar(pieces: Sequence[tuple[float, float, str]], end: float) -> list[str]:
    cells = [" "] * CHART_WIDTH
    for start, stop, kind in pieces:
        for col in range(_col(start, end), _col(max(start, stop), end) + 1):
            cells[col] = CHAR.get(kind, "#")
    return cells


def _mark_grace(cells: list[str], t: Timeline, end: float) -> None:
    assert t.stop_at is not None
    cells[_col(t.stop_at, end)] = "["
    cells[_col(t.stop_at + t.grace_s, end)] = "]"
    if t.term_at is not None:
        cells[_col(t.term_at, end)] = "T"
    if t.kill_at is not None:
        cells[_col(t.kill_at, end)] = "K"


def _hook_status(h: HookRun) -> str:
    if h.killed_with_app:
        text = "killed with the app"
    elif h.exit_code is None:
        text = "killed"
    else:
        text = f"exit {h.exit_code}"
    if h.abandoned_at is not None:
        text = "abandoned at the end of the grace period, " + text
    return f"{text} after {secs(h.end - h.start)}"


def _grace_status(t: Timeline) -> str:
    if t.term_at is None:
        return f"{t.grace_s} s"
    if t.kill_deadline is None:
        return f"{signal_name(t.stop_signal)} at +{secs(t.term_at - (t.stop_at or 0.0))}"
    return (f"{signal_name(t.stop_signal)} at +{secs(t.term_at - (t.stop_at or 0.0))}, "
            f"SIGKILL due {secs(t.kill_deadline - t.term_at)} later")


def _axis(end: float) -> tuple[str, str]:
    """A line of tick labels and a line of tick marks for the time range [0, end]."""
    labels = [" "] * (CHART_WIDTH + 8)
    marks = ["-"] * CHART_WIDTH
    for at in ticks(end):
        col = _col(at, end)
        marks[col] = "|"
        text = f"{at:g}s"
        if all(c == " " for c in labels[max(0, col - 1):col + len(text) + 1]):
            labels[col:col + len(text)] = list(text)
    return "".join(labels).rstrip(), "".join(marks)


def ticks(end: float) -> list[float]:
    """Where the time axis of [0, end] gets a tick: about 8 round steps (at most 100 ticks)."""
    step = _tick_step(end)
    return [n * step for n in range(100) if n * step <= end + 1e-9]


def _tick_step(end: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if end / step <= 8:
            return float(step)
    return float(math.ceil(end / 8))
