"""The kubelet's side of a container's life, for `hookrun emulate`, on real processes.

The rules (what happens when) are the pure state machine of lifecycle.py; this module is its
I/O loop: it starts the real processes, watches them, and tells the machine what happened.
When CMD ends, everything else in the container dies with it. Hooks run as separate hookrun
processes, as the kubelet execs them, logging JSON lines that are read here to know each
step's span. One thread, one selector: process exits (pidfds), hook output, signals to us (a
wakeup fd) and the timers. Nothing here prints: what happens goes to the `say` callback, and
the run ends in a Timeline.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType

from hookrun.config.load import Config
from hookrun.emulator import contain
from hookrun.emulator.lifecycle import (
    Action,
    AppEnded,
    HookEnded,
    Lifecycle,
    Rules,
    Say,
    SignalApp,
    StartHook,
    StopRequested,
    Tick,
)
from hookrun.emulator.lifecycle import Event as LifeEvent
from hookrun.emulator.timeline import HookRun, Note, Timeline, event_row, row, step_spans
from hookrun.engine.log import parse_json, render_text
from hookrun.engine.report import Event
from hookrun.errors import LaunchError
from hookrun.record import record
from hookrun.system import child_base_env, procfs
from hookrun.system.commands import launch_error
from hookrun.system.control import kill_group, open_pidfd, signal_quietly

PIPE_LINGER = 5.0  # seconds to keep reading hook output after everything was killed


@record
class Options:
    """What `hookrun emulate` was asked to do."""

    command: tuple[str, ...]
    grace_s: int
    stop_after: float | None
    stop_signal: int
    pid_namespace: bool
    hooks_grace_s: int | None = None  # the grace period the hooks are told, if not grace_s

    @property
    def told_grace_s(self) -> int:
        return self.grace_s if self.hooks_grace_s is None else self.hooks_grace_s


# --- processes -----------------------------------------------------------------------------------

def hookrun_command() -> list[str]:
    """How to start hookrun again: the one-file binary itself when frozen, else this Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "hookrun"]


@dataclass
class _Child:
    """A process the emulation started, and what it said."""

    name: str  # app | poststart | prestop
    popen: subprocess.Popen[bytes]
    started: float
    pidfd: int | None
    out: int | None = None  # read end of a hook's output pipe
    buffer: bytes = b""
    events: list[tuple[float, Event]] = field(default_factory=list)
    ended: float | None = None
    killed_with_app: bool = False


class Emulation:
    """The I/O loop: real processes, their output and exits, signals, and the timers of a
    Lifecycle, whose actions it carries out."""

    def __init__(self, opts: Options, config: Config, env: Mapping[str, str],
                 say: Callable[[str], None]) -> None:
        self.opts, self.config, self.say_line = opts, config, say
        self.state_dir = tempfile.mkdtemp(prefix="hookrun-emulate-")  # a new container's empty /run
        self.env = self._child_env(env)
        self.sel = selectors.DefaultSelector()
        self.children: list[_Child] = []
        self.notes: list[Note] = []
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.life = Lifecycle(Rules(opts.grace_s, opts.stop_after, opts.stop_signal,
                                    frozenset(config.hooks)))
        self.wake_r, self.wake_w = os.pipe()

    def _child_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """The container's environment: the same for the app and the hooks, as in a pod."""
        child = child_base_env(env)
        child["HOOKRUN_GRACE_PERIOD"] = f"{self.opts.told_grace_s}s"
        child.setdefault("HOOKRUN_STATE_DIR", self.state_dir)
        uses_pod_once = any(s.once == "pod" for h in self.config.hooks.values() for s in h.steps)
        if uses_pod_once:
            child.setdefault("POD_UID", str(uuid.uuid4()))  # a new pod, as the downward API would say
        return child

    # --- bookkeeping ---------------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, at: float, source: str, text: str) -> None:
        note = Note(at, source, text)
        self.notes.append(note)
        self.say_line(event_row(self.life.stop_at, note))

    @property
    def app(self) -> _Child:
        return self.children[0]

    def hooks(self) -> list[_Child]:
        return self.children[1:]

    # --- the run -------------------------------------------------------------------------------
    def run(self) -> Timeline:
        old = None
        try:
            old = self._catch_signals()
            if self.opts.pid_namespace:
                try:
                    contain.new_pid_namespace()
                except OSError as err:
                    raise LaunchError(126, f"--pid-namespace: cannot create a PID namespace: {err}") from None
            self._start_app()
            self._do(self.life.start(self.now()))
            while not self._finished():
                self._turn()
        finally:
            self._teardown()
            if old is not None:
                self._restore_signals(old)
        return self._timeline()

    def _on(self, event: LifeEvent, at: float | None = None) -> None:
        self._do(self.life.on(event, self.now() if at is None else at))

    def _do(self, actions: list[Action]) -> None:
        """Carry out what the lifecycle decided."""
        for action in actions:
            at = self.now()
            if isinstance(action, Say):
                self.note(at, action.source, action.text)
            elif isinstance(action, StartHook):
                self._start_hook(action.hook)
            elif isinstance(action, SignalApp):
                signal_quietly(self.app.popen.pid, action.signum)
                if action.signum == signal.SIGKILL:
                    kill_group(self.app.popen.pid)
            else:  # KillContainer: its processes die with it
                for hook in self.hooks():
                    if hook.ended is None:
                        hook.killed_with_app = True
                        _kill_tree(hook.popen.pid)
                if not self.opts.pid_namespace:
                    kill_group(self.app.popen.pid)

    def _child_setup(self) -> None:
        contain.child_setup(fresh_proc=self.opts.pid_namespace)

    def _start_app(self) -> None:
        argv = list(self.opts.command)
        self.t0, self.wall0 = time.monotonic(), time.time()
        try:
            popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, env=self.env, start_new_session=True,
                preexec_fn=self._child_setup)
        except OSError as err:
            raise launch_error(argv[0], err) from None
        except subprocess.SubprocessError as err:  # the preparation in the child failed
            raise LaunchError(126, f"cannot start {argv[0]}: {err}") from None
        self.children.append(self._watch("app", popen, 0.0))
        where = ", PID 1 of a new PID namespace" if self.opts.pid_namespace else ""
        self.note(0.0, "app", f"app started: {' '.join(argv)} (pid {popen.pid}{where})")

    def _start_hook(self, hook: str) -> None:
        at = self.now()
        read, write = os.pipe()
        # an inline config reaches the hooks through the environment they inherit
        where = ["--config", os.path.abspath(self.config.file)] if self.config.file else []
        argv = [*hookrun_command(), *where, "--log-format", "json", "--log-target", "stderr", hook]
        try:
            popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=write, stderr=write, env=self.env,
                start_new_session=True,
                preexec_fn=self._child_setup)
        except (OSError, subprocess.SubprocessError) as err:
            os.close(read)
            os.close(write)
            self.note(at, hook, f"could not start: {err}")
            self._on(HookEnded(hook, 127), at)
            return
        os.close(write)
        os.set_blocking(read, False)
        self.children.append(self._watch(hook, popen, at, read))
        self.note(at, hook, f"hook started (pid {popen.pid})")

    def _watch(self, name: str, popen: subprocess.Popen[bytes], started: float,
               out: int | None = None) -> _Child:
        pidfd = open_pidfd(popen.pid)
        child = _Child(name, popen, started, pidfd, out)
        if pidfd is not None:
            self.sel.register(pidfd, selectors.EVENT_READ, None)
        if out is not None:
            self.sel.register(out, selectors.EVENT_READ, child)
        return child

    def _finished(self) -> bool:
        if any(c.ended is None for c in self.children):
            return False
        exit_at = self.life.app_exit_at
        if exit_at is not None and self.now() > exit_at + PIPE_LINGER:
            return True
        return all(c.out is None for c in self.children)

    def _turn(self) -> None:
        """One pass: handle what happened, then wait for the next thing (bounded)."""
        self._check_exits()
        self._on(Tick())
        if self._finished():
            return
        due = self.life.due()
        wait = max(0.0, min((self.now() + 1.0) if due is None else due, self.now() + 1.0) - self.now())
        if any(c.pidfd is None and c.ended is None for c in self.children):
            wait = min(wait, 0.05)
        for key, _ in self.sel.select(wait):
            if key.fd == self.wake_r:
                self._on_signals()
            elif isinstance(key.data, _Child):
                self._read(key.data)

    # --- signals to the emulator -------------------------------------------------------------
    def _catch_signals(self) -> tuple[object, object, int]:
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

        def note_signal(signum: int, frame: FrameType | None) -> None:
            pass  # the number arrives through the wakeup fd

        old = (signal.signal(signal.SIGINT, note_signal), signal.signal(signal.SIGTERM, note_signal),
               signal.set_wakeup_fd(self.wake_w))
        return old

    def _restore_signals(self, old: tuple[object, object, int]) -> None:
        signal.set_wakeup_fd(old[2])
        signal.signal(signal.SIGINT, old[0])  # type: ignore[arg-type]
        signal.signal(signal.SIGTERM, old[1])  # type: ignore[arg-type]
        os.close(self.wake_r)
        os.close(self.wake_w)

    def _on_signals(self) -> None:
        try:
            data = os.read(self.wake_r, 64)
        except BlockingIOError:
            return
        for signum in data:
            if signum in (signal.SIGINT, signal.SIGTERM):
                self._on(StopRequested(signum))

    # --- process exits -------------------------------------------------------------------------
    def _check_exits(self) -> None:
        for child in self.children:
            if child.ended is not None:
                continue
            code = child.popen.poll()
            if code is None:
                continue
            at = self.now()
            child.ended = at
            if child.pidfd is not None:
                self.sel.unregister(child.pidfd)
                os.close(child.pidfd)
                child.pidfd = None
            if child.name == "app":
                self._on(AppEnded(_status(code)), at)
            else:
                self._on(HookEnded(child.name, _status(code), self._app_exiting()), at)
                child.killed_with_app |= child.name in self.life.hooks_killed_with_app

    def _app_exiting(self) -> bool:
        """The app has begun to exit but cannot be reaped yet."""
        exiting = procfs.exiting(self.app.popen.pid)
        return self.app.popen.poll() is not None if exiting is None else exiting

    # --- hook output ----------------------------------------------------------------------------
    def _read(self, child: _Child) -> None:
        assert child.out is not None
        try:
            chunk = os.read(child.out, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.sel.unregister(child.out)
            os.close(child.out)
            child.out = None
            if child.buffer:
                self._line(child, child.buffer)
            return
        child.buffer += chunk
        *lines, child.buffer = child.buffer.split(b"\n")
        for line in lines:
            self._line(child, line)

    def _line(self, child: _Child, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        event = parse_json(text)
        if event is None:
            if text.strip():
                self.note(self.now(), child.name, f"| {text}")
            return
        at = event.time - self.wall0
        child.events.append((at, event))
        if event.event != "output":
            step = f"{event.step} " if event.step else ""
            self.notes.append(Note(at, child.name, f"{step}{event.event}: {event.message}"))
        self.say_line(row(self.life.stop_at, at, render_text(event)))

    # --- the end --------------------------------------------------------------------------------
    def _teardown(self) -> None:
        """Nothing the emulation started outlives it, whatever happened."""
        for child in self.children:
            if child.ended is None:
                _kill_tree(child.popen.pid)
        deadline = time.monotonic() + 5.0
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(max(0.1, deadline - time.monotonic()))
            for fd in (child.pidfd, child.out):
                if fd is not None:
                    self.sel.unregister(fd)
                    os.close(fd)
            child.pidfd = child.out = None
        if self.children and not self.opts.pid_namespace:
            kill_group(self.app.popen.pid)
        self.sel.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _timeline(self) -> Timeline:
        hooks = []
        for child in self.hooks():
            end = child.ended if child.ended is not None else self.now()
            code = child.popen.returncode
            exit_code = None if code is None or code < 0 else code
            hooks.append(HookRun(child.name, child.started, end, exit_code, child.killed_with_app,
                                 self.life.prestop_abandoned_at if child.name == "prestop" else None,
                                 step_spans(child.events, end)))
        life = self.life
        app_end = life.app_exit_at if life.app_exit_at is not None else self.now()
        return Timeline(
            command=" ".join(self.opts.command), grace_s=self.opts.grace_s,
            stop_signal=self.opts.stop_signal, pid_namespace=self.opts.pid_namespace,
            started_wall=self.wall0, app_pid=self.app.popen.pid, app_exit_at=app_end,
            app_status=_status(self.app.popen.returncode if self.app.popen.returncode is not None else -9),
            stop_at=life.stop_at, stop_reason=life.stop_reason, term_at=life.term_at,
            term_reason=life.term_reason, kill_deadline=life.kill_deadline, kill_at=life.kill_at,
            forced=life.forced, told_grace_s=self.opts.told_grace_s, hooks=tuple(hooks),
            notes=tuple(sorted(self.notes, key=lambda n: n.at)))


def _status(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode


def _kill_tree(pid: int) -> None:
    """SIGKILL a process, its group and every descendant (they may sit in sessions of their own)."""
    import psutil  # the emulator is not on a hook's hot path: the well-kept tool for trees

    try:
        family = [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:  # gone already (its descendants were re-parented: not ours to find)
        family = [pid]
    kill_group(pid)
    for member in family:
        signal_quietly(member, signal.SIGKILL)
