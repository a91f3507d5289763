"""Shared by the subcommands: build the config from --config / --data-dir / --pack, print errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.config import AppConfig, ConfigError, load_config


def action_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--config / --data-dir / --pack also after a sub-action (``gallery list --data-dir X``)."""
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="YAML config file")
    parser.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help="data folder")
    parser.add_argument("--pack", metavar="DIR", default=argparse.SUPPRESS, help="face model pack folder to use")
    return parser


def config_from_args(args: argparse.Namespace) -> AppConfig:
    overrides: dict = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = str(Path(args.data_dir).expanduser())
    if getattr(args, "pack", None):
        overrides.setdefault("engine", {})["pack"] = str(Path(args.pack).expanduser())
    cfg = load_config(getattr(args, "config", None), overrides=overrides or None)
    if getattr(args, "data_dir", None):
        # --data-dir beats SPG_DATA_DIR for this command
        import os

        from core.config import ENV_DATA_DIR

        os.environ[ENV_DATA_DIR] = str(Path(args.data_dir).expanduser())
    return cfg


def fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def run_guarded(func, args: argparse.Namespace) -> int:
    """Run a subcommand body; known errors become one clear line on stderr and exit code 2."""
    from core.engine.base import EngineError

    try:
        return int(func(args) or 0)
    except ConfigError as exc:
        return fail(str(exc))
    except EngineError as exc:
        return fail(str(exc))
