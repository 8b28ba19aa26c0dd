"""The options every command shares, and the config they select (flag > environment > file)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from hookrun.cli.arguments import FORMATS
from hookrun.config.load import DEFAULT_PATH, Config, Source
from hookrun.config.values import parse_duration
from hookrun.engine.plan import read_config
from hookrun.errors import ConfigError, Problem, UsageError, ValueProblem
from hookrun.record import replace

if TYPE_CHECKING:  # argparse is imported only to build a parser (cli/parser.py)
    import argparse

    from hookrun.cli.arguments import Arguments


def global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--config", default=default, metavar="PATH",
                        help="config file, or a directory holding hookrun.toml (env HOOKRUN_CONFIG, "
                        f"or the whole TOML in HOOKRUN_CONFIG_TOML; default {DEFAULT_PATH})")
    parser.add_argument("--grace-period", default=default, metavar="DUR",
                        help="override settings.grace_period (env HOOKRUN_GRACE_PERIOD)")
    parser.add_argument("--log-format", default=default, choices=FORMATS,
                        help="env HOOKRUN_LOG_FORMAT")
    parser.add_argument("--log-target", default=default, metavar="T",
                        help="auto | stderr | pid1 | a file path (env HOOKRUN_LOG_TARGET)")
    parser.add_argument("-v", "--verbose", action="count", default=default, help="more detail")
    parser.add_argument("-q", "--quiet", action="count", default=default, help="less detail")


def config_options(parser: argparse.ArgumentParser) -> None:
    """--config and --grace-period, for commands that parse their own options (emulate, manifest)."""
    import argparse

    parser.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH",
                        help=f"config file (env HOOKRUN_CONFIG, default {DEFAULT_PATH})")
    parser.add_argument("--grace-period", default=argparse.SUPPRESS, metavar="DUR",
                        help="the pod's grace period, instead of settings.grace_period "
                        "(env HOOKRUN_GRACE_PERIOD)")


def option(args: Arguments, name: str, env_name: str, env: Mapping[str, str]) -> str | None:
    value = getattr(args, name, None)
    if value is not None:
        return str(value)
    return env.get(env_name) or None


def verbosity(args: Arguments) -> int:
    return (getattr(args, "verbose", 0) or 0) - (getattr(args, "quiet", 0) or 0)


def load_config(args: Arguments, env: Mapping[str, str]) -> Config:
    source = config_source(args, env)
    path = source.name
    masker = getattr(args, "masker", None)  # set by main: the config may name more secrets
    try:
        config = read_config(source, env)
    except ConfigError:
        if masker is not None:  # its messages may quote values: mask what the file calls secret
            masker.add(_secret_env(source))
        raise
    grace = option(args, "grace_period", "HOOKRUN_GRACE_PERIOD", env)
    settings = config.settings
    if grace is not None:
        try:
            seconds = parse_duration(grace)
        except ValueProblem as err:
            raise ConfigError(path, [Problem("", "--grace-period / HOOKRUN_GRACE_PERIOD",
                                             str(err))]) from None
        settings = replace(settings, grace_period=seconds)
    log_format = option(args, "log_format", "HOOKRUN_LOG_FORMAT", env)
    if log_format is not None and log_format not in FORMATS:
        raise UsageError(f"HOOKRUN_LOG_FORMAT must be text or json, got {log_format!r}")
    settings = replace(
        settings,
        log_format=log_format or settings.log_format,
        log_target=option(args, "log_target", "HOOKRUN_LOG_TARGET", env) or settings.log_target,
    )
    if masker is not None:
        masker.add(settings.secret_env)
    return replace(config, settings=settings)


def config_source(args: Arguments, env: Mapping[str, str]) -> Source:
    """--config, else HOOKRUN_CONFIG_TOML (inline), else HOOKRUN_CONFIG, else the default."""
    flag = getattr(args, "config", None)
    return Source.choose(str(flag) if flag else None, env)


def _secret_env(source: Source) -> list[str]:
    """settings.secret_env of a config that does not load, as far as it can be read."""
    try:
        settings = source.read().get("settings")
    except ConfigError:
        return []
    names = settings.get("secret_env") if isinstance(settings, dict) else None
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
