"""`hookrun manifest`: options in, the pod-spec fragment (emulator/manifest.py) out."""

from __future__ import annotations

import argparse
import copy
from collections.abc import Mapping

from hookrun.cli.options import config_options, load_config
from hookrun.emulator.manifest import DEFAULT_BINARY, DEFAULT_CONTAINER, DEFAULT_STATE_DIR, DNS_LABEL, render
from hookrun.engine.plan import plan_for
from hookrun.errors import EXIT_OK, UsageError

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
    return p


def main(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    try:
        ns = _parser().parse_args(list(args.rest), namespace=copy.copy(args))
    except SystemExit as exit_:  # --help, or a usage error argparse already printed
        return int(exit_.code or 0)
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
    print(render(config, prestop, ns.container, ns.binary, ns.read_only_root), end="")
    return EXIT_OK
