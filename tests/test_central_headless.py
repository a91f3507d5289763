"""Real outlets: ``app.py run --headless`` on footage, with ``central`` configured through the data folder's
``.env`` (SPG_CENTRAL_URL), replicating into one real PostgreSQL; ``app.py hq outlets|events`` read it back.
A third outlet with a wrong password keeps recording locally and says why nothing goes up."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.config import AppConfig
from tests.test_central_replication import central_transitions, hq, register
from tests.test_router import NAMES, PEOPLE, _footage

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def _outlet_folder(tmp_path: Path, outlet_id: str, url: str, gallery: Path, cfg_data: dict) -> tuple[Path, Path]:
    data = tmp_path / outlet_id
    shutil.copytree(gallery, data / "gallery")
    (data / ".env").write_text(f"SPG_CENTRAL_URL={url}\n", encoding="utf-8")
    cfg_file = tmp_path / f"{outlet_id}.yaml"
    outlet = {"id": outlet_id, "name": f"Toko {outlet_id}", "timezone": "Asia/Jakarta"}
    cfg_file.write_text(yaml.safe_dump({**cfg_data, "outlet": outlet}), encoding="utf-8")
    return data, cfg_file


def _start(data: Path, cfg_file: Path, seconds: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPG_")}
    env["SPG_DATA_DIR"] = str(data)
    return subprocess.Popen([sys.executable, str(REPO / "app.py"), "run", "--headless", "--config", str(cfg_file),
                             "--duration", str(seconds)], cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _local_transitions(data: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(data / "events.db") as conn:
        return [tuple(r) for r in conn.execute("SELECT spg_id, from_state, to_state FROM transitions ORDER BY id")]


def test_headless_outlets_replicate_into_one_hq(pg_server, fresh_central_db, tmp_path, faces_dir, test_pack):
    from core.engine.factory import create_engine
    from core.enrollment import enroll_photos
    from core.gallery import Gallery

    cfg_data = {"engine": {"kind": "insightface", "pack": str(test_pack)}, "camera": {"process_fps": 5.0},
                "cameras": [{"id": "counter", "source": str(_footage(faces_dir, tmp_path / "shop.mp4"))}],
                "central": {"enabled": True}}
    cfg = AppConfig.model_validate(cfg_data)
    person, _, enroll, _, _ = PEOPLE["gwb"]
    gallery = tmp_path / "enrolled" / "gallery"
    enroll_photos(create_engine(cfg.engine, tmp_path / "enrolled"), Gallery(gallery), "gwb", NAMES["gwb"],
                  [faces_dir / person / f"{person}_{i:04d}.jpg" for i in enroll], cfg=cfg.engine)

    urls = {oid: register(fresh_central_db, oid, f"Toko {oid}") for oid in ("jkt01", "bdg02")}
    password = urls["jkt01"].split(":")[2].split("@")[0]
    outlets = {oid: _outlet_folder(tmp_path, oid, url, gallery, cfg_data) for oid, url in urls.items()}
    wrong_url = urls["jkt01"].replace(password, "wrong-password")
    wrong = _outlet_folder(tmp_path, "sby03", wrong_url, gallery, cfg_data)

    procs = {oid: _start(data, cfg_file, 20) for oid, (data, cfg_file) in outlets.items()}
    results = {oid: p.communicate(timeout=300) for oid, p in procs.items()}
    for oid, p in procs.items():
        assert p.returncode == 0, results[oid][1][-3000:]
        stderr = results[oid][1]
        assert "connected to the central database postgresql://" in stderr and password not in stderr
        assert "not yet sent" not in stderr  # flushed when --duration ended

    # what the outlets recorded locally is at HQ, right after they stopped (nothing waits for a next start)
    for oid, (data, _) in outlets.items():
        local = _local_transitions(data)
        assert ("gwb", "not_seen", "present") in local, results[oid][1][-2000:]
        assert [c[:3] for c in central_transitions(fresh_central_db, oid)] == local
    rows = {r["outlet_id"]: r for r in hq("outlets", "--db", fresh_central_db)}
    assert set(rows) == {"jkt01", "bdg02"}
    for oid in ("jkt01", "bdg02"):
        assert rows[oid]["online"] is True and rows[oid]["spgs"] == 1 and rows[oid]["present"] == 1, rows[oid]
    events = hq("events", "--db", fresh_central_db)
    assert {(e["outlet_id"], e["spg_id"], e["to"]) for e in events} >= {("jkt01", "gwb", "present"),
                                                                        ("bdg02", "gwb", "present")}

    # wrong password: one clear sentence (password masked), the run goes on and records locally
    data, cfg_file = wrong
    proc = _start(data, cfg_file, 12)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    assert "refused this outlet's login (wrong user or password)" in stderr, stderr[-3000:]
    assert "wrong-password" not in stderr and password not in stderr
    assert ("gwb", "not_seen", "present") in _local_transitions(data)
    assert "not yet sent to the central database; they go up at the next start" in stderr
    assert central_transitions(fresh_central_db, "sby03") == []
    # neither password is in any file the outlets wrote (logs, databases, settings), only in their .env
    for folder in (outlets["jkt01"][0], outlets["bdg02"][0], data):
        for f in folder.rglob("*"):
            if f.is_file() and f.name != ".env":
                blob = f.read_bytes()
                assert password.encode() not in blob and b"wrong-password" not in blob, f
    assert (data / "logs" / "console.log").read_text(encoding="utf-8").count("refused this outlet's login") >= 1
