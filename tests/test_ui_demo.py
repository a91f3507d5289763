"""The demo outlet: built offline from pictures inside installed packages, recognised by the offline
dlib engine (what a fresh PC without an InsightFace pack gets), and the screenshot command works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from core import demo
from core.config import AppConfig

REPO = Path(__file__).resolve().parent.parent


def test_demo_script_has_an_spg_who_leaves_and_a_visitor():
    leaves = [(cam, k) for cam, items in demo.SCRIPT.items() for k, _e, leave, _x in items if leave < demo.LOOP_S / 2]
    assert leaves, "someone must walk away so an absent alert fires within a minute"
    enrolled = {p.key for p in demo.PEOPLE if p.spg_id}
    visitors = {p.key for p in demo.PEOPLE if p.spg_id is None}
    assert visitors and all(k in enrolled for _c, k in leaves)
    assert demo.position(0.0, -1, 10, 0.5) is not None and demo.position(20.0, -1, 10, 0.5) is None


def test_demo_outlet_is_built_and_recognised_by_the_offline_dlib_engine(data_dir):
    factory = pytest.importorskip("core.engine.factory")
    pytest.importorskip("core.enrollment")
    from core.gallery import Gallery
    from core.matcher import Matcher  # noqa: F401 - the engine's own matching is used below via identify

    base = AppConfig.model_validate({"engine": {"kind": "dlib"}})
    outlet = demo.build_demo(data_dir, base)
    assert outlet.data_dir == data_dir / "demo"
    names = sorted(getattr(p, "name", None) or p["name"] for p in Gallery(outlet.data_dir / "gallery").people())
    assert names == sorted(p.name for p in demo.PEOPLE if p.spg_id)
    assert [c.id for c in outlet.config.cameras] == list(demo.SCRIPT)
    assert outlet.config.presence.absent_seconds <= 15 and not outlet.config.telegram.enabled
    engine = factory.create_engine(outlet.config.engine, data_dir)
    assert engine.info.name == "dlib"
    # a frame of the counter camera at 15 s shows Citra and Dewi; both are found by the dlib detector
    cap = cv2.VideoCapture(str(outlet.config.cameras[1].source))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 15 * demo.FPS)
    ok, frame = cap.read()
    cap.release()
    assert ok
    faces = engine.detect(frame)
    assert len(faces) == 2
    # reused on the next start (no rebuild)
    marker = (outlet.data_dir / "demo.json").stat().st_mtime
    demo.build_demo(data_dir, base)
    assert (outlet.data_dir / "demo.json").stat().st_mtime == marker


@pytest.mark.slow
def test_first_run_opens_the_demo_and_screenshot_command_writes_a_png(tmp_path, test_pack):
    pytest.importorskip("workers.pipeline")
    pytest.importorskip("core.attendance")
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SPG_DATA_DIR": str(tmp_path / "data")}
    # no --demo: a first run (nothing configured) opens the demo outlet by itself
    proc = subprocess.run([sys.executable, str(REPO / "app.py"), "--pack", str(test_pack), "--screenshot", str(shot),
                           "--after", "30"], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "data" / "demo" / "demo.json").is_file() and "camera demo_counter live" in proc.stderr
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[0] > 400 and img.shape[1] > 800
    assert not list(Path("/dev/shm").glob("sfb_demo_*"))  # the demo cameras' SharedMemory is gone
