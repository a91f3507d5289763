"""One config loader for every entry point: what the console's Settings saved in a data folder is what
``app.py run --headless`` and ``app.py report`` use on that folder, with no ``--config``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.config import AppConfig, load_config
from tests.fake_telegram import FakeTelegram
from ui.config_store import save_settings

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CHAT = "-1005550001"


def app(*argv: str, env: dict, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "app.py"), *argv], cwd=str(REPO), env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=timeout, check=False)


def test_settings_saved_in_the_console_drive_headless_run_and_report(tmp_path, test_pack, shared_data, faces_dir):
    data = tmp_path / "outlet data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPG_")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    # an SPG enrolled with the options BEFORE the subcommand (they must reach this data folder and pack)
    photos = sorted(str(p) for p in (faces_dir / "Alex_Lacamoire").iterdir())
    proc = app("--data-dir", str(data), "--pack", str(test_pack), "enroll", "--id", "alex", "--name", "Alex L",
               *photos, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (data / "gallery" / "alex" / "person.json").is_file()

    with FakeTelegram() as srv:
        # what the console's Settings dialog does: load through the one loader, edit, save via the store
        current = load_config(data_dir=data)
        edited = current.model_dump(mode="python")
        edited["outlet"]["name"] = "Toko Settings"
        edited["engine"].update(kind="insightface", pack=str(test_pack))
        edited["cameras"] = [{"id": "saved_cam", "name": "Saved", "source": str(shared_data / "video" / "short_hamilton_clip.mp4")}]
        edited["telegram"].update(enabled=True, api_base=srv.api_base, daily_summary_time="00:00")
        edited["telegram"].pop("token", None)
        edited["telegram"].pop("chat_id", None)
        save_settings(AppConfig.model_validate(edited), data, token=srv.token, chat_id=CHAT)

        results = tmp_path / "results.jsonl"
        proc = app("--data-dir", str(data), "run", "--headless", "--duration", "15", "--results", str(results),
                   env=env, timeout=300)
        deadline = time.monotonic() + 10
        while not srv.received and time.monotonic() < deadline:
            time.sleep(0.2)
        received = list(srv.received)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "running 1 camera(s)" in proc.stderr
    frames = [json.loads(x) for x in results.read_text().splitlines() if '"type": "frame"' in x]
    assert frames and {f["camera_id"] for f in frames} == {"saved_cam"}
    assert max(len(f["faces"]) for f in frames) >= 1  # the saved camera's footage was really processed
    # the daily summary went out with the token and chat saved in Settings (none in the environment)
    assert received, proc.stderr[-3000:]
    assert received[0].token == srv.token and received[0].chat_id == CHAT
    assert "Toko Settings" in received[0].text

    # report: the same data folder's events database and gallery, the saved outlet time zone and name
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date().isoformat()
    out = tmp_path / "report.csv"
    proc = app("report", "--from", today, "--to", today, "--out", str(out), env={**env, "SPG_DATA_DIR": str(data)})
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert any("Alex L" in row for row in rows), rows
