"""`hookrun manifest`: the pod-spec fragment that fits a config. Config + Plan -> YAML, pure.

terminationGracePeriodSeconds covers the prestop worst case plus the shutdown reserve (and is
never below settings.grace_period); HOOKRUN_GRACE_PERIOD carries the same value into the
container, where the grace period cannot be read. POD_UID comes from the downward API when a
step is `once = "pod"`. With a read-only root, hookrun gets writable emptyDir volumes for its
state and for the one-file binary's unpacking (TMPDIR).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from hookrun.config.load import Config
from hookrun.config.values import format_duration as fmt
from hookrun.config.values import whole_seconds
from hookrun.engine.plan import Plan, build_plan

DEFAULT_BINARY = "/usr/local/bin/hookrun"
DEFAULT_CONTAINER = "app"
DEFAULT_STATE_DIR = "/run/hookrun"
TMP_DIR = "/run/hookrun-tmp"  # TMPDIR: where the one-file binary unpacks itself at each start
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def grace_period_for(config: Config, prestop: Plan | None) -> tuple[int, str]:
    """terminationGracePeriodSeconds for this config, and how it was reached (for a comment)."""
    settings = config.settings
    floor = whole_seconds(settings.grace_period)
    if prestop is None:
        return floor, f"no prestop hook: grace_period {fmt(settings.grace_period)}"
    need = prestop.worst_case_s + settings.shutdown_reserve
    seconds = max(whole_seconds(need), floor)
    why = (f"prestop worst case {fmt(prestop.worst_case_s)} + shutdown_reserve "
           f"{fmt(settings.shutdown_reserve)} = {fmt(need)}, grace_period {fmt(settings.grace_period)}")
    if seconds > floor:
        why += " is too short for that"
    return seconds, why


def pod_spec(config: Config, prestop: Plan | None, container: str = DEFAULT_CONTAINER,
             binary: str = DEFAULT_BINARY, read_only_root: bool = False) -> dict[str, object]:
    """The fragment as data: a PodSpec holding only what hookrun needs."""
    grace, _ = grace_period_for(config, prestop)
    lifecycle: dict[str, object] = {}
    for hook, key in (("poststart", "postStart"), ("prestop", "preStop")):
        if hook in config.hooks:
            lifecycle[key] = {"exec": {"command": [binary, hook]}}
    env: list[dict[str, object]] = [{"name": "HOOKRUN_GRACE_PERIOD", "value": f"{grace}s"}]
    if any(step.once == "pod" for hook in config.hooks.values() for step in hook.steps):
        env.append({"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}})
    state = config.settings.state_dir or DEFAULT_STATE_DIR
    if read_only_root:
        env += [{"name": "HOOKRUN_STATE_DIR", "value": state}, {"name": "TMPDIR", "value": TMP_DIR}]
    box: dict[str, object] = {"name": container}
    if lifecycle:
        box["lifecycle"] = lifecycle
    box["env"] = env
    spec: dict[str, object] = {"terminationGracePeriodSeconds": grace, "containers": [box]}
    if read_only_root:
        box["volumeMounts"] = [{"name": "hookrun-state", "mountPath": state},
                               {"name": "hookrun-tmp", "mountPath": TMP_DIR}]
        box["securityContext"] = {"readOnlyRootFilesystem": True}
        spec["volumes"] = [
            {"name": "hookrun-state", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            {"name": "hookrun-tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ]
    return spec


def render(config: Config, prestop: Plan | None, container: str = DEFAULT_CONTAINER,
           binary: str = DEFAULT_BINARY, read_only_root: bool = False) -> str:
    grace, why = grace_period_for(config, prestop)
    head = [f"# hookrun manifest for {config.path}",
            "# Merge into your pod template (spec.template.spec); containers merge by name.",
            f"# terminationGracePeriodSeconds {grace}: {why}",
            "# HOOKRUN_GRACE_PERIOD must stay equal to terminationGracePeriodSeconds."]
    if prestop is not None:  # the warnings that still hold at the grace period given here
        settings = replace(config.settings, grace_period=float(grace))
        replanned = build_plan(replace(config, settings=settings), "prestop")
        head.extend(f"# warning: {w}" for w in replanned.warnings)
    if read_only_root:
        head.append(f"# Read-only root: state in an emptyDir, TMPDIR={TMP_DIR} for the one-file binary.")
    spec = pod_spec(config, prestop, container, binary, read_only_root)
    return "\n".join(head) + "\n" + to_yaml(spec)


# --- a small YAML emitter: block mappings and sequences, flow lists of scalars ----------------------

PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")
RESERVED = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"}


def to_yaml(data: Mapping[str, object]) -> str:
    return "\n".join(_mapping(data, 0)) + "\n"


def _mapping(data: Mapping[str, object], indent: int) -> list[str]:
    pad, lines = " " * indent, []
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            lines.append(f"{pad}{_string(key)}:")
            lines.extend(_mapping(value, indent + 2))
        elif isinstance(value, list) and value and not all(_is_scalar(v) for v in value):
            lines.append(f"{pad}{_string(key)}:")
            lines.extend(_sequence(value, indent + 2))
        else:
            lines.append(f"{pad}{_string(key)}: {_inline(value)}")
    return lines


def _sequence(items: Sequence[object], indent: int) -> list[str]:
    lines = []
    for item in items:
        if isinstance(item, Mapping) and item:
            block = _mapping(item, indent + 2)
            lines.append(" " * indent + "- " + block[0][indent + 2:])
            lines.extend(block[1:])
        elif _is_scalar(item):
            lines.append(" " * indent + "- " + _inline(item))
        else:
            raise TypeError(f"cannot write {type(item).__name__} in a sequence")
    return lines


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, bool))


def _inline(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list) and all(_is_scalar(v) for v in value):
        return "[" + ", ".join(_quoted(v) if isinstance(v, str) else _inline(v) for v in value) + "]"
    if isinstance(value, Mapping) and not value:
        return "{}"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _string(text: str) -> str:
    """Plain when nothing in it can be read as another type or as YAML syntax; else quoted."""
    if PLAIN.fullmatch(text) and text.lower() not in RESERVED:
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'
