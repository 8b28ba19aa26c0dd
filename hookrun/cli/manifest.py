"""`hookrun manifest`: options in, the pod-spec fragment (emulator/manifest.py) out."""

from __future__ import annotations

import argparse
import copy
from collections.abc import Mapping, Sequence

from hookrun.cli.arguments import Arguments
from hookrun.cli.options import config_options, config_source, load_config
from hookrun.config.load import Source
from hookrun.config.templates import references_with_defaults
from hookrun.emulator.manifest import (
    DEFAULT_BINARY,
    DEFAULT_CONTAINER,
    DEFAULT_STATE_DIR,
    DNS_LABEL,
    Injection,
    render,
)
from hookrun.engine.plan import plan_for
from hookrun.errors import EXIT_FAILED, EXIT_OK, UsageError

# --- the edge ---------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hookrun manifest", description="Print the pod-spec fragment (lifecycle, env, volumes, "
        "terminationGracePeriodSeconds) that fits this config, as YAML to paste into a pod template.")
    config_options(p)
    p.add_argument("--container", default=DEFAULT_CONTAINER, metavar="NAME",
                   help=f"the container's name (default {DEFAULT_CONTAINER})")
    p.add_argument("--binary", default=DEFAULT_BINARY, metavar="PATH",
                   help=f"where hookrun is in the image (default {DEFAULT_BINARY})")
    p.add_argument("--read-only-root", action="store_true",
                   help="add the writable volumes hookrun needs on a read-only root filesystem")
    p.add_argument("--inject", metavar="IMAGE",
                   help="hookrun is not in the app's image: an initContainer from IMAGE (the hookrun "
                   "image) installs it into an emptyDir; the config goes into a ConfigMap")
    p.add_argument("--inline-config", action="store_true",
                   help="with --inject: the config inline in HOOKRUN_CONFIG_TOML, not a ConfigMap")
    p.add_argument("--check", nargs="+", metavar="FILE",
                   help="instead: check these Kubernetes YAML files (Pod, Deployment, StatefulSet, "
                   "DaemonSet, Job, CronJob; several documents each) against the config; exit 0 or 1")
    return p


def check_files(files: Sequence[str], source: Source, env: Mapping[str, str]) -> int:
    """Every container that calls hookrun, in every file, against the config: one line a problem."""
    import yaml

    from hookrun.emulator.manifest_check import check, endpoint_grants
    from hookrun.engine.plan import read_config

    raw = source.read()
    config_path = source.name
    problems: list[str] = []
    read: list[tuple[str, list[object]]] = []
    for file in files:
        try:
            with open(file, encoding="utf-8") as handle:
                read.append((file, list(yaml.safe_load_all(handle))))
        except OSError as err:
            problems.append(f"{file}: cannot read: {err.strerror}")
        except UnicodeDecodeError as err:
            problems.append(f"{file}: not UTF-8 text (byte {err.start})")
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            problems.append(f"{file}: not valid YAML: {at}{getattr(err, 'problem', None) or err}")
    # RBAC objects may sit in another file than the workload: taken from all of them
    grants = endpoint_grants([document for _, documents in read for document in documents])
    for file, documents in read:
        found = check(documents, file, raw, lambda values: read_config(source, values), grants)
        problems += [str(finding) for finding in found]
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s) in {', '.join(files)} against {config_path}")
        return EXIT_FAILED
    print(f"{', '.join(files)}: ok against {config_path}")
    return EXIT_OK


def main(args: Arguments, env: Mapping[str, str]) -> int:
    try:
        ns = _parser().parse_args(list(args.rest), namespace=copy.copy(args))
    except SystemExit as exit_:  # --help, or a usage error argparse already printed
        return int(exit_.code or 0)
    if ns.check:
        return check_files(ns.check, config_source(ns, env), env)
    if not DNS_LABEL.fullmatch(ns.container):
        raise UsageError(f"--container {ns.container!r}: a container name is a DNS label "
                         "(lowercase letters, digits and '-', at most 63, e.g. \"web\")")
    if not ns.binary.isprintable() or not ns.binary.strip():
        raise UsageError(f"--binary {ns.binary!r}: give the path of hookrun in the image")
    config = load_config(ns, env)
    if ns.read_only_root and not (config.settings.state_dir or DEFAULT_STATE_DIR).startswith("/"):
        raise UsageError(f"settings.state_dir {config.settings.state_dir!r} must be an absolute path "
                         "to be mounted with --read-only-root")
    prestop = plan_for(config, "prestop") if "prestop" in config.hooks else None
    source = config_source(ns, env)
    raw = source.read()
    inject = None
    if ns.inline_config and not ns.inject:
        raise UsageError("--inline-config goes with --inject IMAGE")
    if ns.inject:
        if not ns.inject.strip() or any(c.isspace() for c in ns.inject):
            raise UsageError(f"--inject {ns.inject!r}: give an image reference, e.g. registry/hookrun:0.1.0")
        text = source.text if source.file is None else _text(source.file)
        inject = Injection(ns.inject, text or "", ns.inline_config)
    print(render(config, prestop, ns.container, ns.binary, ns.read_only_root,
                 template_variables(raw), inject), end="")
    return EXIT_OK


def template_variables(raw: Mapping[str, object]) -> list[tuple[str, str | None]]:
    """The variables the config's templates read (not hookrun's own), each with its default."""
    found: dict[str, str | None] = {}
    for name, default in references_with_defaults(raw):
        if not name.startswith("HOOKRUN_") and (name not in found or found[name] is None):
            found[name] = default
    return sorted(found.items())


def _text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()
