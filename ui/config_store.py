"""Where the console keeps what the Settings dialog saves (no YAML editing by hand).

``<data_dir>/settings.yaml`` holds the settings saved from the console; it is applied over
``configs/app.yaml`` (+ ``app.dev.yaml``) and under the command-line flags. Telegram token and chat id
go to ``<data_dir>/.env`` (secrets never go into YAML, see core.config).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

from core.config import (
    ENV_DATA_DIR,
    ENV_TELEGRAM_CHAT_ID,
    ENV_TELEGRAM_TOKEN,
    AppConfig,
    ConfigError,
    load_config,
    load_dotenv_file,
    save_config,
)
from core.paths import default_data_dir

SETTINGS_FILE = "settings.yaml"
SECRETS_FILE = ".env"


def settings_path(data_dir: Path) -> Path:
    return Path(data_dir) / SETTINGS_FILE


def secrets_path(data_dir: Path) -> Path:
    return Path(data_dir) / SECRETS_FILE


def resolve_data_dir(args: argparse.Namespace | None) -> Path:
    """--data-dir, else SPG_DATA_DIR, else data_dir of the committed config, else the OS folder."""
    if args is not None and getattr(args, "data_dir", None):
        return Path(args.data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    try:
        base = load_config(getattr(args, "config", None) if args else None)
        if base.data_dir:
            return Path(base.data_dir).expanduser()
    except ConfigError:
        pass
    return default_data_dir()


def has_settings(data_dir: Path) -> bool:
    return settings_path(data_dir).is_file()


def load_console_config(args: argparse.Namespace | None, data_dir: Path, extra: dict[str, Any] | None = None) -> AppConfig:
    """The config the console runs with: files, then saved settings, then ``extra``, then CLI flags."""
    overrides: dict[str, Any] = {}
    sp = settings_path(data_dir)
    if sp.is_file():
        try:
            saved = yaml.safe_load(sp.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{sp}: the saved settings cannot be read ({exc.__class__.__name__}). "
                              f"Delete or fix the file; the console then starts from the defaults.") from None
        if isinstance(saved, dict):
            saved.pop("data_dir", None)
            overrides = saved
    if extra:
        overrides = _merge(overrides, extra)
    if args is not None and getattr(args, "pack", None):
        overrides = _merge(overrides, {"engine": {"pack": str(Path(args.pack).expanduser())}})
    load_dotenv_file(secrets_path(data_dir))
    cfg = load_config(getattr(args, "config", None) if args else None, overrides=overrides or None)
    return cfg


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def save_settings(cfg: AppConfig, data_dir: Path, token: str | None = None, chat_id: str | None = None) -> None:
    """Write settings.yaml atomically; token / chat id (when given) into <data_dir>/.env."""
    save_config(cfg, settings_path(data_dir))
    if token is not None or chat_id is not None:
        from dotenv import set_key

        env = secrets_path(data_dir)
        env.touch(exist_ok=True)
        try:
            env.chmod(0o600)
        except OSError:
            pass
        if token is not None:
            set_key(str(env), ENV_TELEGRAM_TOKEN, token, quote_mode="never")
            os.environ[ENV_TELEGRAM_TOKEN] = token
        if chat_id is not None:
            set_key(str(env), ENV_TELEGRAM_CHAT_ID, chat_id, quote_mode="never")
            os.environ[ENV_TELEGRAM_CHAT_ID] = chat_id
