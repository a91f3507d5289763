"""No secret reaches any output: a headless run on RTSP cameras with nasty passwords and a Telegram bot
token, the self-test on the same config, and configs that fail validation; then every file in the data
folder, stdout and stderr (child processes included) are searched for each secret in every spelling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_secrets import NASTY_PASSWORDS, fragments
from tests.test_selftest import check_lines

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
# three cameras, each password holding several nasty characters; unreachable (nothing listens on port 9)
PASSWORDS = ["".join(NASTY_PASSWORDS[0:3]), "".join(NASTY_PASSWORDS[3:5]), "".join(NASTY_PASSWORDS[5:7])]
BOT_TOKEN = "7312345678:AAFakeTokenForLeakTestXyzzyPlugh0123"
CHAT_ID = "-1009876543210"


def app(*argv: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "app.py"), *argv], cwd=str(REPO), env=env,
                          capture_output=True, timeout=timeout, check=False)


def leaks(blob: bytes, where: str) -> list[str]:
    found = []
    for secret in PASSWORDS + [BOT_TOKEN, CHAT_ID]:
        for frag in fragments(secret) | {BOT_TOKEN.split(":")[1]}:
            if frag.encode("utf-8") in blob:
                found.append(f"{frag!r} in {where}")
    return found


def test_no_secret_in_any_file_or_output(tmp_path, test_pack):
    data = tmp_path / "data"
    cameras = [{"id": f"cam{i}", "source": f"rtsp://admin:{pw}@127.0.0.1:9/Streaming/Channels/10{i}"}
               for i, pw in enumerate(PASSWORDS)]
    good = {"engine": {"kind": "insightface", "pack": str(test_pack)},
            "camera": {"open_timeout_s": 2.0, "read_timeout_s": 2.0, "reconnect_initial_s": 0.5},
            "cameras": cameras,
            # the outbox tries a Bot API that is not there: its errors hold the bot URL with the token
            "telegram": {"enabled": True, "api_base": "http://127.0.0.1:9", "daily_summary_time": "00:00"}}
    good_file = tmp_path / "good.yaml"
    good_file.write_text(yaml.safe_dump(good, allow_unicode=True), encoding="utf-8")
    dup = dict(good, cameras=cameras + [dict(cameras[0], source=cameras[1]["source"])])
    dup_file = tmp_path / "dup.yaml"
    dup_file.write_text(yaml.safe_dump(dup, allow_unicode=True), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPG_")}
    env.update(SPG_DATA_DIR=str(data), SPG_TELEGRAM_TOKEN=BOT_TOKEN, SPG_TELEGRAM_CHAT_ID=CHAT_ID,
               QT_QPA_PLATFORM="offscreen", PYTHONIOENCODING="utf-8")

    outputs: dict[str, bytes] = {}
    run = app("--config", str(good_file), "run", "--headless", "--duration", "20", env=env)
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-3000:]
    stderr = run.stderr.decode("utf-8")
    assert "running 3 camera(s)" in stderr and "rtsp://admin:***@127.0.0.1:9" in stderr  # the cameras were tried
    outputs.update({"run stdout": run.stdout, "run stderr": run.stderr})

    selftest = app("--selftest", "--config", str(good_file), "--pack", str(test_pack), env=env)
    assert selftest.returncode == 0, (selftest.stdout + selftest.stderr).decode(errors="replace")
    assert set(check_lines(selftest.stdout.decode("utf-8")).values()) == {"OK"}
    outputs.update({"selftest stdout": selftest.stdout, "selftest stderr": selftest.stderr})

    for name, argv in {"run": ("run", "--headless", "--duration", "5"),
                       "report": ("report", "--from", "2026-01-01", "--to", "2026-01-02", "--out", str(tmp_path / "r.csv")),
                       "gallery": ("gallery", "list"),
                       "console": ()}.items():
        bad = app("--config", str(dup_file), *argv, env=env, timeout=120)
        text = bad.stderr.decode("utf-8")
        assert bad.returncode != 0 and f"{dup_file}: cameras:" in text and "is used twice" in text, (name, text)
        outputs.update({f"failing {name} stdout": bad.stdout, f"failing {name} stderr": bad.stderr})

    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "console.log" for p in files) and any(p.name == "events.db" for p in files)
    found = [hit for p in files for hit in leaks(p.read_bytes(), str(p.relative_to(data)))]
    found += [hit for where, blob in outputs.items() for hit in leaks(blob, where)]
    assert not found, found
