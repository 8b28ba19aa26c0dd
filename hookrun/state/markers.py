"""The `once` markers kept in the state directory (SPEC §4). Never prints.

A marker says "this step succeeded in this container instance (or pod)". Its name carries
the hook, the step, the scope, the instance key and a hash of the step's definition, so a
restarted container (new PID 1 start time) or an edited step does not find it. Markers are
written atomically after success, are private (0600) and are never read or written through
a symlink.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Iterable, Mapping

from hookrun.config.load import Step
from hookrun.config.values import format_time
from hookrun.record import record
from hookrun.state.statedir import NoStateDir, State, StateDir
from hookrun.system.files import atomic_write_at, sweep_temp
from hookrun.system.procfs import start_ticks

PREFIX = "once."
SCOPE_WORDS = {"container": "this container", "pod": "this pod"}
MAX_MARKER = 4096


# --- instance keys ------------------------------------------------------------------------

@record
class Keys:
    """What identifies this instance per scope ("BOOT_ID/PID1_START", POD_UID), or why a
    scope cannot be identified here. Marker names carry a hash of it."""

    container: str | None
    pod: str | None
    container_problem: str = ""
    pod_problem: str = ""

    def key(self, scope: str) -> str | None:
        return self.container if scope == "container" else self.pod

    def problem(self, scope: str) -> str:
        return self.container_problem if scope == "container" else self.pod_problem


def _digest(text: str, length: int) -> str:
    import hashlib  # only when a `once` step is looked at: it costs start-up time

    return hashlib.sha256(text.encode()).hexdigest()[:length]


def instance_keys(env: Mapping[str, str]) -> Keys:
    """container: boot id + start time of PID 1; pod: POD_UID (SPEC §4, KUBELET.md)."""
    try:
        # utf-8, not ascii: the codec module ascii needs is not loaded at start
        with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as handle:
            boot_id: str | None = handle.read().strip()
    except OSError:
        boot_id = None
    pid1_start = start_ticks(1)
    container = container_problem = None
    if boot_id is None or pid1_start is None:
        unreadable = "the boot id" if boot_id is None else "the start time of PID 1 (/proc/1/stat)"
        container_problem = (f'once = "container" cannot tell this container instance apart: '
                             f"cannot read {unreadable}")
    else:
        container = f"{boot_id}/{pid1_start}"
    pod_uid = env.get("POD_UID", "").strip()
    pod_problem = None if pod_uid else (
        'once = "pod" needs the POD_UID environment variable: set it from the downward API '
        "(env POD_UID, valueFrom.fieldRef.fieldPath: metadata.uid; `hookrun manifest` adds it)")
    return Keys(container, pod_uid or None, container_problem or "", pod_problem or "")


def definition_hash(hook: str, step: Step) -> str:
    """Changes whenever the step's table changes, so an edited step runs again."""
    definition = [hook, step.name, step.action, step.raw, step.timeout, step.attempt_timeout,
                  step.retries, step.retry_delay, step.backoff, step.max_retry_delay,
                  step.on_failure, step.once, step.always]
    import json  # markers exist only for `once` steps: other hooks do not pay for json

    return _digest(json.dumps(definition, sort_keys=True, default=str), 12)


def instance_hash(scope: str, identity: str) -> str:
    return _digest(f"{scope}\0{identity}", 16)


def marker_name(hook: str, step: Step, identity: str) -> str:
    assert step.once is not None
    return (f"{PREFIX}{hook}.{step.name}.{step.once}.{instance_hash(step.once, identity)}."
            f"{definition_hash(hook, step)}")


# --- the store ------------------------------------------------------------------------------

@record
class Marker:
    """A `once` marker found in the state directory."""

    name: str
    hook: str
    step: str
    scope: str
    current: bool  # belongs to this container instance / this pod
    written: str  # RFC 3339 time from the marker's content, "" if unreadable


class Store:
    """Markers of one state directory for the current container instance and pod."""

    def __init__(self, state: State, keys: Keys) -> None:
        self.state, self.keys = state, keys

    def refusal(self, step: Step) -> str | None:
        """Why this `once` step cannot run here (it then fails), or None."""
        if step.once is None:
            return None
        if isinstance(self.state, NoStateDir):
            return f"once: nowhere to keep the marker: {self.state.message()}"
        if self.keys.key(step.once) is None:
            return self.keys.problem(step.once)
        return None

    def _name(self, hook: str, step: Step) -> str | None:
        key = self.keys.key(step.once) if step.once else None
        return marker_name(hook, step, key) if key else None

    def done(self, hook: str, steps: Iterable[Step]) -> dict[str, str]:
        """Skip reasons for the hook's `once` steps that already succeeded."""
        reasons: dict[str, str] = {}
        for step in steps:
            name = self._name(hook, step)
            record = self._read(name) if name else None
            if record is not None and step.once:
                when = record.get("time") or "earlier"
                reasons[step.name] = (f"already done once in {SCOPE_WORDS[step.once]} "
                                      f"(marker written {when})")
        return reasons

    def record(self, hook: str, step: Step) -> str | None:
        """Write the step's marker after success; a problem to report, or None."""
        name = self._name(hook, step)
        if name is None or not isinstance(self.state, StateDir) or self.state.fd is None:
            return None
        if self._read(name) is not None:
            return None  # written already (ahead of a signal to PID 1): never rewritten
        import json

        body = {"hook": hook, "step": step.name, "scope": step.once, "pid": os.getpid(),
                "time": format_time(time.time())}
        try:
            sweep_temp(self.state.fd)  # what writers killed mid-write left (named temp files)
            atomic_write_at(self.state.fd, name, (json.dumps(body) + "\n").encode(), 0o600)
        except OSError as err:
            return (f"its once marker could not be written in {self.state.path} "
                    f"({err.strerror}): it may run again")
        return None

    def _read(self, name: str) -> dict[str, object] | None:
        """The marker's content if it is a private regular file of ours; None otherwise."""
        if not isinstance(self.state, StateDir) or self.state.fd is None:
            return None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                         dir_fd=self.state.fd)
        except OSError:
            return None  # missing, or a symlink: not a marker
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() \
                    or info.st_mode & 0o077:
                return None
            data = os.read(fd, MAX_MARKER)
        finally:
            os.close(fd)
        import json

        try:
            record = json.loads(data)
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def markers(self) -> list[Marker]:
        """Every marker in the state directory, this instance's and others'."""
        if not isinstance(self.state, StateDir) or self.state.fd is None:
            return []
        found = []
        for entry in sorted(os.scandir(self.state.fd), key=lambda e: e.name):
            parts = entry.name.split(".")
            if not entry.name.startswith(PREFIX) or len(parts) != 6:
                continue
            _, hook, step, scope, key, _ = parts
            record = self._read(entry.name)
            if record is None:
                continue
            written = record.get("time")
            identity = self.keys.key(scope)
            current = identity is not None and key == instance_hash(scope, identity)
            found.append(Marker(entry.name, hook, step, scope, current,
                                written if isinstance(written, str) else ""))
        return found

    def clear(self) -> int:
        """Remove the markers of this container instance and pod; how many were removed."""
        assert isinstance(self.state, StateDir)
        removed = 0
        for marker in self.markers():
            if marker.current and self.state.fd is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(marker.name, dir_fd=self.state.fd)
                    removed += 1
        return removed
