"""Fault injection over a running ``app.py run --headless`` on composed footage (issue 11, Must show).

Two file cameras each show one SPG the whole time. While the console runs:

1. the inference server is frozen (SIGSTOP) for longer than ``absent_seconds``; the supervisor notices the
   missing heartbeat, kills and restarts it;
2. camera ``cam_b`` disappears: its file is renamed away and its worker dies, so every reconnect fails,
   for longer than ``absent_seconds``; then the file comes back;
3. the data folder (a 2 MB mount holding events.db, the gallery and the log) fills up, then space is freed.

Afterwards: nobody was marked ABSENT (the SPGs never left; the console only could not see them), exactly
one "camera offline" alert and one recovery alert for cam_b, every transition stored exactly once,
``PRAGMA integrity_check`` ok, and monitoring resumed by itself (both SPGs identified again on both cameras
after the last fault). Presence timings are short: grace 2 s, absent 6 s.

Linux only (SIGSTOP, /proc) and root (the size-limited mount), as CI runs.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.compose_footage import Appearance, compose_video
from tests.disk_faults import small_disk  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGSTOP and /proc are Linux")]

REPO = Path(__file__).resolve().parent.parent
PRESENCE = {"grace_seconds": 2.0, "absent_seconds": 6.0, "confirm_hits": 2, "confirm_window_s": 2.0,
            "hit_log_interval_s": 1.0}
PEOPLE = {"ana": ("George_W_Bush", "cam_a"), "budi": ("Colin_Powell", "cam_b")}
FAULT_S = 10.0
"""How long each fault lasts: longer than absent_seconds."""
CAMERA_AWAY_S = 14.0
"""The camera stays away longer: its outage only shows once its frames have stopped for 3 s, and it must then
last absent_seconds before the camera alert is due."""


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def _inference_pid(pid: int) -> int | None:
    """The child that has the ONNX runtime loaded."""
    for c in _children(pid):
        try:
            if "onnxruntime" in Path(f"/proc/{c}/maps").read_text():
                return c
        except OSError:
            continue
    return None


def _camera_pid(pid: int, video: Path) -> int | None:
    """The child that has ``video`` open."""
    for c in _children(pid):
        try:
            fds = list(Path(f"/proc/{c}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if str(fd.readlink()) == str(video):
                    return c
            except OSError:
                continue
    return None


@pytest.fixture
def scene(tmp_path, faces_dir, test_pack, small_disk):  # noqa: F811 - the fixture
    if not small_disk.mounted:
        pytest.skip("needs a size-limited mount for the data folder (root on Linux)")
    from core.config import AppConfig
    from core.engine.factory import create_engine
    from core.enrollment import enroll_photos
    from core.gallery import Gallery
    from core.paths import DataLayout

    videos = {}
    for person, cam in PEOPLE.values():
        photo = faces_dir / person / f"{person}_0006.jpg"
        videos[cam] = compose_video(tmp_path / f"{cam}.mp4", [Appearance(photo, 0.0, 12.0, (0.5, 0.5), 0.6)],
                                    fps=10, size=(640, 360))
    cfg_data = {
        "outlet": {"name": "Toko Fault", "timezone": "Asia/Jakarta", "language": "en"},
        "engine": {"kind": "insightface", "pack": str(test_pack)},
        "camera": {"process_fps": 5, "reconnect_initial_s": 0.5, "reconnect_max_s": 1.0},
        "inference": {"hang_timeout_s": 3.0, "restart_backoff_max_s": 1.0},
        "cameras": [{"id": cam, "source": str(path), "loop": True} for cam, path in videos.items()],
        "presence": PRESENCE,
        "telegram": {"enabled": False},
    }
    cfg = AppConfig.model_validate(cfg_data)
    layout = DataLayout(small_disk.path).ensure()
    engine = create_engine(cfg.engine, layout.root)
    gallery = Gallery(layout.gallery)
    for spg, (person, _) in PEOPLE.items():
        enroll_photos(engine, gallery, spg, person.replace("_", " "),
                      [faces_dir / person / f"{person}_{i:04d}.jpg" for i in (1, 2, 3)], cfg=cfg.engine)
    cfg_file = tmp_path / "fault.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg_data), encoding="utf-8")
    return cfg_file, videos, small_disk


def test_frozen_server_vanished_camera_and_full_disk_leave_no_false_absence(scene, tmp_path):
    cfg_file, videos, disk = scene
    results = tmp_path / "results.jsonl"
    log = tmp_path / "stderr.txt"

    def lines() -> list[dict]:
        if not results.exists():
            return []
        return [json.loads(x) for x in results.read_text(encoding="utf-8").splitlines() if x.strip().endswith("}")]

    def seen_after(t0: float) -> set[tuple[str, str]]:
        """(camera, spg) pairs identified in frames captured after ``t0``."""
        return {(x["camera_id"], f["spg_id"]) for x in lines() if x["type"] == "frame" and x["timestamp"] > t0
                for f in x["faces"] if f["spg_id"]}

    everyone = {(cam, spg) for spg, (_, cam) in PEOPLE.items()}
    with open(log, "w", encoding="utf-8") as sink:
        proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "run", "--headless", "--config", str(cfg_file),
                                 "--results", str(results)], cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
                                env={**os.environ, "SPG_DATA_DIR": str(disk.path)})

        def wait(cond, timeout: float, what: str) -> None:
            end = time.monotonic() + timeout
            while time.monotonic() < end and not cond():
                assert proc.poll() is None, f"the run ended while waiting for {what}:\n{log.read_text()[-4000:]}"
                time.sleep(0.3)
            assert cond(), f"no {what} within {timeout:.0f} s:\n{log.read_text()[-4000:]}"

        try:
            wait(lambda: {t["spg_id"] for t in lines() if t["type"] == "transition" and t["to"] == "present"}
                 >= set(PEOPLE), 180, "arrival of both SPGs")

            # 1. the inference server freezes; the supervisor must restart it
            server = _inference_pid(proc.pid)
            assert server is not None
            os.kill(server, signal.SIGSTOP)
            time.sleep(FAULT_S)
            try:
                os.kill(server, signal.SIGCONT)  # normally already killed and replaced by the supervisor
            except ProcessLookupError:
                pass
            assert _inference_pid(proc.pid) not in (None, server), "the frozen server was not replaced"
            t_resume = time.time()
            wait(lambda: seen_after(t_resume) >= everyone, 120, "recognition after the server restart")

            # 2. cam_b disappears (file gone, worker dead: every reconnect fails), then comes back
            away = videos["cam_b"].with_suffix(".away")
            worker = _camera_pid(proc.pid, videos["cam_b"])
            assert worker is not None
            videos["cam_b"].rename(away)
            os.kill(worker, signal.SIGKILL)
            time.sleep(CAMERA_AWAY_S)
            away.rename(videos["cam_b"])
            t_back = time.time()
            wait(lambda: seen_after(t_back) >= everyone, 120, "cam_b back")

            # 3. the data folder's disk fills up, then space is freed
            disk.fill()
            time.sleep(FAULT_S)
            disk.free()
            t_free = time.time()
            wait(lambda: seen_after(t_free + 3.0) >= everyone, 120, "monitoring after the disk was freed")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                rc = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait(10)
    out = log.read_text(encoding="utf-8")
    assert rc == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]

    trans = [x for x in lines() if x["type"] == "transition"]
    assert [t for t in trans if t["to"] == "absent"] == [], trans  # no false ABSENT
    conn = sqlite3.connect(str(disk.path / "events.db"))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT spg_id, from_state, to_state, ts FROM transitions ORDER BY id").fetchall()
        alerts = conn.execute("SELECT kind, text FROM alerts ORDER BY id").fetchall()
    finally:
        conn.close()
    # every transition stored exactly once, the same the run reported
    assert len(set(stored)) == len(stored)
    assert sorted((s, f, t, round(ts, 3)) for s, f, t, ts in stored) == \
        sorted((t["spg_id"], t["from"], t["to"], round(t["timestamp"], 3)) for t in trans)
    assert not any(t == "absent" for _, _, t, _ in stored)
    # one camera-offline alert and its recovery, for cam_b only; no SPG alert
    assert [k for k, _ in alerts] == ["camera_offline", "camera_online"], alerts
    assert all("cam_b" in text for _, text in alerts)
