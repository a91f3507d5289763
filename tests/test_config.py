"""Config: typed, validated at load, errors name the file, the key and what is allowed."""

import argparse
from pathlib import Path

import pytest
import yaml

from core.config import ConfigError, load_config, resolve_data_dir


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


# --- one loader, one data folder ----------------------------------------------------------------------------


def test_load_order_app_yaml_then_settings_then_config_file_then_flags(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.yaml").write_text(yaml.safe_dump({
        "outlet": {"name": "Saved outlet"}, "camera": {"process_fps": 7.0},
        "engine": {"pack": "saved_pack", "det_size": 320}, "data_dir": str(tmp_path / "moved")}))
    cfg_file = write(tmp_path, "camera:\n  process_fps: 9\nengine:\n  pack: file_pack\n")
    cfg = load_config(cfg_file, data_dir=data, overrides={"engine": {"pack": "flag_pack"}})
    assert cfg.outlet.name == "Saved outlet"        # settings.yaml over app.yaml
    assert cfg.engine.det_size == 320
    assert cfg.camera.process_fps == 9              # --config over settings.yaml
    assert cfg.engine.pack == "flag_pack"           # flags over everything
    assert cfg.presence.absent_seconds == 300       # app.yaml where nobody else speaks
    assert cfg.resolved_data_dir() == data          # settings.yaml cannot move the data folder


def test_data_folder_resolution_order(tmp_path, monkeypatch):
    cfg_file = write(tmp_path, f"data_dir: {tmp_path / 'from_config'}\n")
    monkeypatch.setenv("SPG_DATA_DIR", str(tmp_path / "from_env"))
    assert resolve_data_dir(tmp_path / "from_flag", cfg_file) == tmp_path / "from_flag"
    assert load_config(cfg_file, data_dir=tmp_path / "from_flag").resolved_data_dir() == tmp_path / "from_flag"
    assert resolve_data_dir(None, cfg_file) == tmp_path / "from_env"
    monkeypatch.delenv("SPG_DATA_DIR")
    assert resolve_data_dir(None, cfg_file, env_file=tmp_path / "no.env") == tmp_path / "from_config"
    assert load_config(cfg_file, env_file=tmp_path / "no.env").resolved_data_dir() == tmp_path / "from_config"


def test_telegram_secrets_from_the_data_folder_env_and_the_process_env_wins(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / ".env").write_text("SPG_TELEGRAM_TOKEN=222:saved\nSPG_TELEGRAM_CHAT_ID=-100777\n")
    cfg = load_config(data_dir=data, env_file=tmp_path / "no.env")
    assert cfg.telegram.token.get_secret_value() == "222:saved"
    assert cfg.telegram.chat_id.get_secret_value() == "-100777"
    monkeypatch.setenv("SPG_TELEGRAM_TOKEN", "333:from-process")
    assert load_config(data_dir=data, env_file=tmp_path / "no.env").telegram.token.get_secret_value() == "333:from-process"


def test_a_settings_yaml_error_is_blamed_on_settings_yaml(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.yaml").write_text("presence:\n  grace_seconds: -3\n")
    with pytest.raises(ConfigError) as e:
        load_config(data_dir=data, overrides={"engine": {"pack": "x"}})
    msg = str(e.value)
    assert msg.startswith(f"{data / 'settings.yaml'}: presence.grace_seconds") and "command line" not in msg
    (data / "settings.yaml").write_text("cameras:\n- {id: a, source: 0}\n- {id: a, source: 1}\n")
    with pytest.raises(ConfigError, match=r"settings\.yaml: cameras: .*'a' is used twice"):
        load_config(data_dir=data)


def _cli_args(argv: list[str]) -> argparse.Namespace:
    import app

    return app.build_parser().parse_args(argv)


def test_global_options_before_the_subcommand_are_honoured(tmp_path):
    from cli.common import config_from_args

    cfg_file = write(tmp_path, "cameras:\n- {id: door, source: 0}\n")
    data, pack = tmp_path / "d", tmp_path / "p"
    for argv in (["--config", str(cfg_file), "--data-dir", str(data), "--pack", str(pack), "run", "--headless"],
                 ["run", "--headless", "--config", str(cfg_file), "--data-dir", str(data), "--pack", str(pack)],
                 ["--data-dir", str(tmp_path / "other"), "run", "--config", str(cfg_file), "--data-dir", str(data),
                  "--pack", str(pack)]):
        cfg = config_from_args(_cli_args(argv))
        assert [c.id for c in cfg.cameras] == ["door"], argv
        assert cfg.resolved_data_dir() == data and cfg.engine.pack == str(pack), argv
    args = _cli_args(["--data-dir", str(data), "gallery", "list"])
    assert config_from_args(args).resolved_data_dir() == data


def test_duration_zero_is_refused_not_forever(capsys):
    import app

    with pytest.raises(SystemExit) as e:
        app.main(["run", "--headless", "--duration", "0"])
    assert e.value.code == 2
    assert "give more than 0 seconds" in capsys.readouterr().err


def test_an_unreadable_env_file_is_named_not_a_traceback(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / ".env").write_bytes(b"SPG_TELEGRAM_TOKEN=\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"\.env: cannot read the \.env file"):
        load_config(data_dir=data, env_file=tmp_path / "no.env")
