"""Where the console keeps what the Settings dialog saves (no YAML editing by hand).

``<data_dir>/settings.yaml`` holds the settings saved from the console; the Telegram token and chat id go
to ``<data_dir>/.env`` (secrets never go into YAML). This module only WRITES them: every entry point (the
console, ``app.py run --headless``, ``app.py report``, the CLI) reads them back through the one loader,
``core.config.load_config``, which applies settings.yaml over ``configs/app.yaml`` and under ``--config``
and the flags.
"""

from __future__ import annotations

from pathlib import Path

from core.config import ENV_TELEGRAM_CHAT_ID, ENV_TELEGRAM_TOKEN, AppConfig, save_config, secrets_file, settings_file


def settings_path(data_dir: Path) -> Path:
    return settings_file(data_dir)


def secrets_path(data_dir: Path) -> Path:
    return secrets_file(data_dir)


def has_settings(data_dir: Path) -> bool:
    return settings_path(data_dir).is_file()


def save_settings(cfg: AppConfig, data_dir: Path, token: str | None = None, chat_id: str | None = None) -> None:
    """Write settings.yaml atomically; token / chat id (when given) into <data_dir>/.env (owner-only)."""
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
        if chat_id is not None:
            set_key(str(env), ENV_TELEGRAM_CHAT_ID, chat_id, quote_mode="never")
