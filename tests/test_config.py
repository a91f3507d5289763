"""Config: typed, validated at load, errors name the file, the key and what is allowed."""

from pathlib import Path

import pytest

from core.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_have_the_seed_keys():
    cfg = load_config()
    assert cfg.camera.process_fps == 5
    assert cfg.inference.frame_skip == 0
    assert cfg.presence.absent_seconds == 300
    assert cfg.presence.grace_seconds < cfg.presence.absent_seconds


def test_override_file_is_merged_over_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "presence:\n  absent_seconds: 20\n  grace_seconds: 5\n"))
    assert cfg.presence.absent_seconds == 20
    assert cfg.camera.process_fps == 5  # untouched default


def test_unknown_key_names_file_and_key(tmp_path):
    p = write(tmp_path, "camera:\n  proces_fps: 5\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(p) in str(e.value) and "camera.proces_fps" in str(e.value) and "unknown key" in str(e.value)


def test_wrong_value_says_what_is_allowed(tmp_path):
    p = write(tmp_path, "engine:\n  kind: tensorflow\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert "engine.kind" in msg and "insightface" in msg and "dlib" in msg


def test_broken_yaml_gives_line(tmp_path):
    p = write(tmp_path, "camera:\n  process_fps: [5\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "broken YAML" in str(e.value) and "line" in str(e.value)


def test_grace_must_be_below_absent(tmp_path):
    with pytest.raises(ConfigError, match="grace_seconds"):
        load_config(write(tmp_path, "presence:\n  grace_seconds: 400\n"))


def test_secrets_refused_in_yaml(tmp_path):
    with pytest.raises(ConfigError, match=".env"):
        load_config(write(tmp_path, "telegram:\n  token: '123:abc'\n"))


def test_secrets_from_env_file(tmp_path, monkeypatch):
    env = tmp_path / ".env"
    env.write_text("SPG_TELEGRAM_TOKEN=111:secret\nSPG_TELEGRAM_CHAT_ID=42\n")
    cfg = load_config(env_file=env)
    assert cfg.telegram.token.get_secret_value() == "111:secret"
    assert "secret" not in repr(cfg.telegram) and "secret" not in str(cfg.to_yaml_dict())


def test_data_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("SPG_DATA_DIR", str(tmp_path / "elsewhere"))
    assert load_config().resolved_data_dir() == tmp_path / "elsewhere"
