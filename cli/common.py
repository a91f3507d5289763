"""Shared by the subcommands: build the config from --config / --data-dir / --pack, print errors."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from core.config import AppConfig, ConfigError, flag_overrides, load_config


def action_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--config / --data-dir / --pack also after a sub-action (``gallery list --data-dir X``)."""
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="YAML config file")
    parser.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help="data folder")
    parser.add_argument("--pack", metavar="DIR", default=argparse.SUPPRESS, help="face model pack folder to use")
    return parser


def positive_seconds(text: str) -> float:
    """An argparse type for durations: a number of seconds above 0 (``--duration 0`` would mean "forever")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text} s is not a duration; give more than 0 seconds, or leave the option out to run until Ctrl-C")
    return value


def config_from_args(args: argparse.Namespace) -> AppConfig:
    """The command's config through the one loader (``core.config.load_config``): app.yaml, the data folder's
    settings.yaml and .env, ``--config``, then the flags; the data folder from ``--data-dir`` first."""
    return load_config(getattr(args, "config", None), data_dir=getattr(args, "data_dir", None),
                       overrides=flag_overrides(getattr(args, "pack", None)) or None)


def fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def run_guarded(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand body; known errors become one clear line on stderr and exit code 2."""
    from core.engine.base import EngineError

    try:
        return int(func(args) or 0)
    except ConfigError as exc:
        return fail(str(exc))
    except EngineError as exc:
        return fail(str(exc))
