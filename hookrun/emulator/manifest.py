"""`hookrun manifest`: the pod-spec fragment that fits a config. Config + Plan -> YAML, pure.

terminationGracePeriodSeconds covers the prestop worst case plus the shutdown reserve (and is
never below settings.grace_period); HOOKRUN_GRACE_PERIOD carries the same value into the
container, where the grace period cannot be read. POD_UID comes from the downward API when a
step is `once = "pod"`. With a read-only root, hookrun gets writable emptyDir volumes for its
state and for the one-file binary's unpacking (TMPDIR). An `endpoints` step reads
EndpointSlices as the pod's ServiceAccount: POD_IP, POD_IPS and POD_NAMESPACE from the downward
API, a ServiceAccount of its own, and the Role and RoleBinding that let it get, list and watch
endpointslices in the pod's namespace (nothing cluster-wide).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from hookrun.config.load import Config
from hookrun.config.values import format_duration as fmt
from hookrun.config.values import whole_seconds
from hookrun.engine.plan import Plan, build_plan
from hookrun.record import record, replace

DEFAULT_BINARY = "/usr/local/bin/hookrun"
DEFAULT_CONTAINER = "app"
DEFAULT_STATE_DIR = "/run/hookrun"
TMP_DIR = "/run/hookrun-tmp"  # TMPDIR: where the one-file binary unpacks itself at each start
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def uses_endpoints(config: Config) -> bool:
    return any(step.action == "endpoints" for hook in config.hooks.values() for step in hook.steps)


def service_account_name(container: str) -> str:
    return f"{container}-hookrun"[:63]


# get, list and watch on endpointslices: what the endpoints step needs, and all it gets
ENDPOINTS_RULE = {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                  "verbs": ["get", "list", "watch"]}
DOWNWARD = (("POD_IP", "status.podIP"), ("POD_IPS", "status.podIPs"), ("POD_NAMESPACE", "metadata.namespace"))


def rbac(container: str) -> list[dict[str, object]]:
    """ServiceAccount, Role and RoleBinding for the endpoints step, in the pod's namespace."""
    name = service_account_name(container)
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name},
         "rules": [ENDPOINTS_RULE]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name}]},
    ]


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


@record
class Injection:
    """hookrun put into the app's container at start, from an image of its own."""

    image: str  # holds the static hookrun at /usr/local/bin/hookrun (Dockerfile.example: hookrun)
    config_text: str  # the config, for a ConfigMap or inline
    inline: bool = False  # the config in HOOKRUN_CONFIG_TOML instead of a ConfigMap


INJECT_DIR = "/hookrun-bin"  # the emptyDir the initContainer installs hookrun into
INJECT_TMP = "/hookrun-tmp"  # where the static build unpacks itself in the app's container
CONFIG_DIR = "/etc/hookrun"


def pod_spec(config: Config, prestop: Plan | None, container: str = DEFAULT_CONTAINER,
             binary: str = DEFAULT_BINARY, read_only_root: bool = False,
             variables: Sequence[tuple[str, str | None]] = (),
             inject: Injection | None = None) -> dict[str, object]:
    """The fragment as data: a PodSpec holding only what hookrun needs. `variables` are the
    config's template variables (name, default or None) for the container's env; `inject`
    installs hookrun from an image of its own with an initContainer."""
    grace, _ = grace_period_for(config, prestop)
    if inject is not None:
        binary = f"{INJECT_DIR}/hookrun"
    lifecycle: dict[str, object] = {}
    for hook, key in (("poststart", "postStart"), ("prestop", "preStop")):
        if hook in config.hooks:
            lifecycle[key] = {"exec": {"command": [binary, hook]}}
    env: list[dict[str, object]] = [{"name": "HOOKRUN_GRACE_PERIOD", "value": f"{grace}s"}]
    if any(step.once == "pod" for hook in config.hooks.values() for step in hook.steps):
        env.append({"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}})
    if uses_endpoints(config):
        env.extend({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in DOWNWARD)
    for name, default in variables:  # what the config's templates read from the env
        env.append({"#": f"the config reads ${{{name}}}: " + (
            f"default {default!r}, change it here if needed" if default is not None
            else "no default: set it"), "name": name, "value": default or ""})
    state = config.settings.state_dir or DEFAULT_STATE_DIR
    mounts: list[dict[str, object]] = []
    volumes: list[dict[str, object]] = []
    tmp = INJECT_TMP if inject is not None else TMP_DIR
    if read_only_root:
        env.append({"name": "HOOKRUN_STATE_DIR", "value": state})
        mounts.append({"name": "hookrun-state", "mountPath": state})
        volumes.append({"name": "hookrun-state", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
    if read_only_root or inject is not None:  # the static build unpacks itself at every start: the
        # app's image may have no writable /tmp (read-only root, scratch)
        env.append({"name": "TMPDIR", "value": tmp})
        mounts.append({"name": "hookrun-tmp", "mountPath": tmp})
        volumes.append({"name": "hookrun-tmp", "emptyDir": {"sizeLimit": "256Mi"}})
    init: list[dict[str, object]] = []
    if inject is not None:
        init.append({"name": "hookrun-install", "image": inject.image,
                     "command": [DEFAULT_BINARY, "install", INJECT_DIR],
                     # it unpacks itself while it runs: there, so no writable root is needed
                     "env": [{"name": "TMPDIR", "value": INJECT_DIR}],
                     "volumeMounts": [{"name": "hookrun-bin", "mountPath": INJECT_DIR}]})
        mounts.append({"name": "hookrun-bin", "mountPath": INJECT_DIR, "readOnly": True})
        volumes.append({"name": "hookrun-bin", "emptyDir": {"sizeLimit": "64Mi"}})
        if inject.inline:
            env.append({"name": "HOOKRUN_CONFIG_TOML", "value": inject.config_text})
        else:
            mounts.append({"name": "hookrun-config", "mountPath": CONFIG_DIR, "readOnly": True})
            volumes.append({"name": "hookrun-config", "configMap": {"name": config_map_name(container)}})
    box: dict[str, object] = {"name": container}
    if lifecycle:
        box["lifecycle"] = lifecycle
    box["env"] = env
    if mounts:
        box["volumeMounts"] = mounts
    if read_only_root:
        box["securityContext"] = {"readOnlyRootFilesystem": True}
    spec: dict[str, object] = {"terminationGracePeriodSeconds": grace}
    if uses_endpoints(config):
        spec["serviceAccountName"] = service_account_name(container)
        spec["automountServiceAccountToken"] = True
    if init:
        spec["initContainers"] = init
    spec["containers"] = [box]
    if volumes:
        spec["volumes"] = volumes
    return spec


def config_map_name(container: str) -> str:
    return f"{container}-hookrun"[:63]


def config_map(container: str, text: str) -> dict[str, object]:
    """The config as a ConfigMap, mounted at /etc/hookrun (hookrun reads DIR/hookrun.toml)."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": config_map_name(container)},
            "data": {"hookrun.toml": text}}


def render(config: Config, prestop: Plan | None, container: str = DEFAULT_CONTAINER,
           binary: str = DEFAULT_BINARY, read_only_root: bool = False,
           variables: Sequence[tuple[str, str | None]] = (), inject: Injection | None = None) -> str:
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
        head.append(f"# Read-only root: state in an emptyDir, TMPDIR={INJECT_TMP if inject else TMP_DIR} "
                    "for the binary to unpack itself.")
        head.append("# The app itself may need writable paths of its own (its pid file, caches, "
                    "temp files): mount emptyDirs there too.")
    if inject is not None:
        head.append(f"# hookrun is not in the app's image: the initContainer copies it from {inject.image} "
                    f"into an emptyDir at {INJECT_DIR}.")
        head.append("# The config " + ("is inline, in HOOKRUN_CONFIG_TOML." if inject.inline else
                                       f"is the ConfigMap below, mounted at {CONFIG_DIR}."))
    if uses_endpoints(config):
        head.append(f"# The endpoints step reads EndpointSlices as the ServiceAccount "
                    f"{service_account_name(container)}: apply the ServiceAccount, Role and "
                    "RoleBinding below in the pod's namespace.")
    spec = pod_spec(config, prestop, container, binary, read_only_root, variables, inject)
    text = "\n".join(head) + "\n" + to_yaml(spec)
    if inject is not None and not inject.inline:
        text += "---\n" + to_yaml(config_map(container, inject.config_text))
    if uses_endpoints(config):
        text += "".join("---\n" + to_yaml(document) for document in rbac(container))
    return text


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
        elif isinstance(value, str) and _block(value):  # a file's text: a literal block
            chomp = "" if value.endswith("\n") and not value.endswith("\n\n") else "-"
            lines.append(f"{pad}{_string(key)}: |{chomp}")
            lines.extend(f"{pad}  {line}" if line else "" for line in value.rstrip("\n").split("\n"))
        else:
            lines.append(f"{pad}{_string(key)}: {_inline(value)}")
    return lines


def _sequence(items: Sequence[object], indent: int) -> list[str]:
    lines = []
    for item in items:
        if isinstance(item, Mapping) and "#" in item:  # a comment above the item
            lines.append(" " * indent + "# " + str(item["#"]))
            item = {key: value for key, value in item.items() if key != "#"}
        if isinstance(item, Mapping) and item:
            block = _mapping(item, indent + 2)
            lines.append(" " * indent + "- " + block[0][indent + 2:])
            lines.extend(block[1:])
        elif _is_scalar(item):
            lines.append(" " * indent + "- " + _inline(item))
        else:
            raise TypeError(f"cannot write {type(item).__name__} in a sequence")
    return lines


def _block(text: str) -> bool:
    """Multi-line text that a literal block holds as it is (printable, no leading space)."""
    lines = text.rstrip("\n").split("\n")
    return len(lines) > 1 and not text.startswith((" ", "\n")) and all(
        line.isprintable() and not line.endswith(" ") for line in lines)


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
