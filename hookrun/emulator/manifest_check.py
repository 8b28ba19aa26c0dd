"""`hookrun manifest --check`: existing Kubernetes manifests against the config. Pure.

For every container whose lifecycle hooks call hookrun, in every workload of every document:
HOOKRUN_GRACE_PERIOD equals terminationGracePeriodSeconds (30 when absent); that grace period
covers the prestop worst case plus shutdown_reserve; the hooks it calls exist in the config;
POD_UID comes from the downward API when a step is `once = "pod"`; the variables the config's
templates need (without a default) are set; and for an `endpoints` step, the pod's IP comes
from the downward API, its ServiceAccount token is mounted, and a Role bound to that
ServiceAccount (in the files checked) grants get, list and watch on endpointslices. Each
problem is located: file, document, workload, container, field.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence

from hookrun.config.load import Config, Step
from hookrun.config.templates import references
from hookrun.config.values import format_duration as fmt
from hookrun.config.values import parse_duration
from hookrun.emulator.manifest import ENDPOINTS_RULE
from hookrun.engine.plan import build_plan
from hookrun.errors import ConfigError, ValueProblem
from hookrun.record import record, replace

DEFAULT_GRACE = 30  # the pod's terminationGracePeriodSeconds when it is not set
HOOK_KEYS = {"postStart": "poststart", "preStop": "prestop"}
# where each kind keeps its pod spec
POD_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# Stand-ins for values known only in the cluster (valueFrom, or missing and reported): the
# first under which the config loads is used, so a URL, a port or a name can each be checked.
PLACEHOLDERS = ("value-from-the-cluster", "http://127.0.0.1:1", "1")

Loader = Callable[[Mapping[str, str]], Config]  # the config, loaded with a container's env


@record
class Finding:
    """One problem of a manifest, located."""

    where: str  # file: document N (Kind name), container NAME
    field: str  # e.g. spec.template.spec.containers[0].env
    message: str

    def __str__(self) -> str:
        return f"{self.where}, {self.field}: {self.message}"


@record
class Workload:
    """A pod spec found in a manifest document."""

    where: str
    path: str  # the pod spec's path in the document, e.g. "spec.template.spec"
    pod: Mapping[str, object]


@record
class Grants:
    """The ServiceAccounts that the RBAC objects of the files checked let get, list and watch
    endpointslices (by name: a manifest's objects share the namespace it is applied to)."""

    service_accounts: frozenset[str] = frozenset()
    seen: bool = False  # the files hold a Role or RoleBinding at all


def objects(documents: Sequence[object]) -> Iterator[tuple[int, object]]:
    """Every object of a file's documents with its document number (from 1), List items included."""
    for number, doc in enumerate(documents, start=1):
        items = doc.get("items") if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
        for item in items if isinstance(items, list) else []:
            yield number, item


def endpoint_grants(documents: Sequence[object]) -> Grants:
    """Grants from the Roles, ClusterRoles and their bindings among `documents` (Lists included)."""
    items = [item for _, item in objects(documents) if isinstance(item, dict)]
    granting = set()
    for item in items:
        if item.get("kind") in ("Role", "ClusterRole"):
            meta = item.get("metadata")
            rules = item.get("rules")
            if isinstance(meta, dict) and isinstance(rules, list) and any(_grants(rule) for rule in rules):
                granting.add((item["kind"], str(meta.get("name"))))
    accounts = set()
    seen = False
    for item in items:
        if item.get("kind") not in ("RoleBinding", "ClusterRoleBinding", "Role", "ClusterRole"):
            continue
        seen = True
        ref, subjects = item.get("roleRef"), item.get("subjects")
        if not isinstance(ref, dict) or (ref.get("kind"), str(ref.get("name"))) not in granting:
            continue
        for subject in subjects if isinstance(subjects, list) else []:
            if isinstance(subject, dict) and subject.get("kind") == "ServiceAccount":
                accounts.add(str(subject.get("name")))
    return Grants(frozenset(accounts), seen)


def _grants(rule: object) -> bool:
    if not isinstance(rule, dict):
        return False
    have = {key: set(rule.get(key) or ()) for key in ENDPOINTS_RULE}  # apiGroups, resources, verbs
    return (bool(have["apiGroups"] & {*ENDPOINTS_RULE["apiGroups"], "*"})
            and bool(have["resources"] & {*ENDPOINTS_RULE["resources"], "*"})
            and ("*" in have["verbs"] or have["verbs"] >= set(ENDPOINTS_RULE["verbs"])))


def workloads(documents: Sequence[object], file: str) -> Iterator[Workload | Finding]:
    """The pod specs in a file's documents (List items included); a Finding for what is not one."""
    for number, item in objects(documents):
        if item is None:
            continue
        if not isinstance(item, dict):
            yield Finding(f"{file}: document {number}", "(top)", "not a Kubernetes object")
            continue
        kind = str(item.get("kind", "?"))
        meta = item.get("metadata")
        name = meta.get("name", "?") if isinstance(meta, dict) else "?"
        where = f"{file}: document {number} ({kind} {name})"
        path = POD_PATHS.get(kind)
        if path is None:
            continue  # a Service, a ConfigMap...: nothing to check
        pod: object = item
        for key in path:
            pod = pod.get(key) if isinstance(pod, dict) else None
        if not isinstance(pod, dict):
            yield Finding(where, ".".join(path), "missing: no pod spec to check")
            continue
        yield Workload(where, ".".join(path), pod)


def hookrun_calls(container: Mapping[str, object]) -> dict[str, str]:
    """lifecycle key -> the hook it runs through hookrun (postStart -> poststart...)."""
    calls = {}
    lifecycle = container.get("lifecycle")
    for key in HOOK_KEYS:
        handler = lifecycle.get(key) if isinstance(lifecycle, dict) else None
        command = handler.get("exec", {}).get("command") if isinstance(handler, dict) else None
        if not isinstance(command, list):
            continue
        words = [str(word) for word in command]
        for index, word in enumerate(words):
            if os.path.basename(word).startswith("hookrun"):
                rest = [w for w in words[index + 1:] if not w.startswith("-")]
                hook = rest[1] if rest[:1] == ["run"] and len(rest) > 1 else (rest[0] if rest else "")
                calls[key] = hook
                break
    return calls


def check(documents: Sequence[object], file: str, raw_config: Mapping[str, object],
          load: Loader, grants: Grants | None = None) -> list[Finding]:
    """`grants`: from every file checked together (default: these documents')."""
    grants = endpoint_grants(documents) if grants is None else grants
    found: list[Finding] = []
    for workload in workloads(documents, file):
        if isinstance(workload, Finding):
            found.append(workload)
            continue
        containers = workload.pod.get("containers")
        for index, box in enumerate(containers if isinstance(containers, list) else []):
            if isinstance(box, dict) and (calls := hookrun_calls(box)):
                name = box.get("name", f"#{index}")
                where = f"{workload.where}, container {name}"
                field = f"{workload.path}.containers[{index}]"
                found += _container(where, field, workload, box, calls, raw_config, load, grants)
    return found


def _env(box: Mapping[str, object]) -> tuple[dict[str, object], bool]:
    """name -> the env entry; and whether envFrom may set more."""
    entries = box.get("env")
    env: dict[str, object] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and "name" in entry:
            env[str(entry["name"])] = entry
    return env, bool(box.get("envFrom"))


def _container(where: str, field: str, workload: Workload, box: Mapping[str, object],
               calls: Mapping[str, str], raw_config: Mapping[str, object],
               load: Loader, grants: Grants) -> list[Finding]:
    pod = workload.pod
    found: list[Finding] = []
    env, env_from = _env(box)
    literal = {name: str(entry["value"]) for name, entry in env.items()
               if isinstance(entry, dict) and "value" in entry}
    unknown = [name for name in env if name not in literal]
    # the variables the config's templates need and have no default for
    needed = sorted({name for name, has_default in references(raw_config)
                     if not has_default and not name.startswith("HOOKRUN_")})
    missing = [name for name in needed if name not in env]
    if missing and not env_from:
        found.append(Finding(where, f"{field}.env", "not set, and the config needs "
                             f"{'it' if len(missing) == 1 else 'them'} (no default): "
                             + ", ".join(missing)))
    config: Config | None = None
    for stand_in in PLACEHOLDERS:
        try:
            config = load({**{name: stand_in for name in [*missing, *unknown]}, **literal})
            break
        except ConfigError as err:
            error = err
    if config is None:
        return [*found, *(Finding(where, "config", f"{problem}") for problem in error.problems)]
    for key, hook in calls.items():
        if hook not in config.hooks:
            defined = ", ".join(sorted(config.hooks)) or "none"
            found.append(Finding(where, f"{field}.lifecycle.{key}.exec.command",
                                 f'runs hook "{hook}", which the config does not define '
                                 f"(hooks: {defined})"))
    grace_raw = pod.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    grace = grace_raw if isinstance(grace_raw, int) and not isinstance(grace_raw, bool) else None
    told = _told_grace(env.get("HOOKRUN_GRACE_PERIOD"))
    grace_field = "terminationGracePeriodSeconds" + ("" if "terminationGracePeriodSeconds" in pod
                                                     else f" (not set: {DEFAULT_GRACE})")
    if grace is None:
        found.append(Finding(where, grace_field, f"not a whole number of seconds: {grace_raw!r}"))
    elif told is None:
        found.append(Finding(where, f"{field}.env", f"HOOKRUN_GRACE_PERIOD is not set: hookrun "
                             f"would assume {fmt(config.settings.grace_period)} "
                             f"(settings.grace_period); set it to \"{grace}s\""))
    elif isinstance(told, str):
        found.append(Finding(where, f"{field}.env.HOOKRUN_GRACE_PERIOD", told))
    elif abs(told - grace) > 1e-9:
        found.append(Finding(where, f"{field}.env.HOOKRUN_GRACE_PERIOD",
                             f"{fmt(told)} but {grace_field} is {grace}s: they must be equal "
                             "(the grace period cannot be read inside a pod)"))
    if grace is not None and "prestop" in config.hooks and "preStop" in calls:
        plan = build_plan(replace(config, settings=replace(config.settings, grace_period=float(grace))),
                          "prestop")
        need = plan.worst_case_s + config.settings.shutdown_reserve
        if not plan.fits or need > grace + 1e-9:
            found.append(Finding(where, grace_field, f"{grace}s does not cover prestop: worst case "
                                 f"{fmt(plan.worst_case_s)} + shutdown_reserve "
                                 f"{fmt(config.settings.shutdown_reserve)} = {fmt(need)}"
                                 + ("" if plan.fits else "; " + "; ".join(plan.warnings))))
    uses_pod_once = any(step.once == "pod" for hook in config.hooks.values() for step in hook.steps)
    if uses_pod_once and not _downward_uid(env.get("POD_UID")):
        found.append(Finding(where, f"{field}.env", 'a step is once = "pod": POD_UID must come '
                             "from the downward API (valueFrom.fieldRef.fieldPath: metadata.uid)"))
    endpoints = [step for name, hook in config.hooks.items() if name in calls.values()
                 for step in hook.steps if step.action == "endpoints"]  # in the hooks it calls
    if endpoints:
        found += _endpoints(where, field, workload, env, endpoints, grants)
    return found


def _endpoints(where: str, field: str, workload: Workload, env: Mapping[str, object],
               steps: Sequence[Step], grants: Grants) -> list[Finding]:
    """What an endpoints step needs from the pod: its IP, a token, RBAC for its ServiceAccount."""
    found = []
    pod = workload.pod
    names = ", ".join(step.name for step in steps)
    # a step that names its pod_ips needs no IP from the downward API
    if not all(getattr(step.spec, "pod_ips", ()) for step in steps) and not (
            _downward(env.get("POD_IP"), "status.podIP") or _downward(env.get("POD_IPS"), "status.podIPs")):
        found.append(Finding(where, f"{field}.env", f"the endpoints step ({names}) needs the pod's IP: "
                             "POD_IP from the downward API (valueFrom.fieldRef.fieldPath: status.podIP)"))
    if pod.get("automountServiceAccountToken") is False:
        found.append(Finding(where, f"{workload.path}.automountServiceAccountToken",
                             f"false: the endpoints step ({names}) reads the API with the pod's "
                             "ServiceAccount token"))
    account = str(pod.get("serviceAccountName") or "default")
    account_field = f"{workload.path}.serviceAccountName" + ("" if pod.get("serviceAccountName")
                                                             else " (not set: default)")
    if account not in grants.service_accounts:
        found.append(Finding(where, account_field, (
            f"ServiceAccount {account} is not granted get, list and watch on endpointslices "
            "(discovery.k8s.io) by a Role and RoleBinding in the files checked"
            if grants.seen else
            "no Role and RoleBinding in the files checked grant get, list and watch on "
            f"endpointslices to ServiceAccount {account}: check the file that holds them too, or "
            "apply the ones `hookrun manifest` prints")
            + f" (the endpoints step {names} needs them)"))
    return found


def _told_grace(entry: object) -> float | str | None:
    """HOOKRUN_GRACE_PERIOD's value in seconds, a problem, or None when it is not set."""
    if not isinstance(entry, dict):
        return None
    if "value" not in entry:
        return "set through valueFrom: it cannot be checked here; use a plain value"
    try:
        return parse_duration(str(entry["value"]))
    except ValueProblem as err:
        return f"not a duration: {err}"


def _downward_uid(entry: object) -> bool:
    return _downward(entry, "metadata.uid")


def _downward(entry: object, path: str) -> bool:
    """The env entry takes its value from the downward API field `path`."""
    if not isinstance(entry, dict):
        return False
    source = entry.get("valueFrom")
    ref = source.get("fieldRef") if isinstance(source, dict) else None
    return isinstance(ref, dict) and ref.get("fieldPath") == path
