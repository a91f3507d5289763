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
    from core.engine.factory import create_engine
    from core.gallery import Gallery

    base = AppConfig.model_validate({"engine": {"kind": "dlib"}})
    outlet = demo.build_demo(data_dir, base)
    assert outlet.data_dir == data_dir / "demo"
    names = sorted(p.name for p in Gallery(outlet.data_dir / "gallery").people())
    assert names == sorted(p.name for p in demo.PEOPLE if p.spg_id)
    assert [c.id for c in outlet.config.cameras] == list(demo.SCRIPT)
    assert outlet.config.presence.absent_seconds <= 15 and not outlet.config.telegram.enabled
    engine = create_engine(outlet.config.engine, data_dir)
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


@pytest.fixture
def outlet_with_the_opencv_pack(data_dir, opencv_pack):
    """A fresh PC's data dir with the OpenCV pack installed (as 'models import' or 'models download sface' leave
    it) and the default config (engine.kind auto, pack buffalo_l, which is not installed)."""
    from core.engine import packs

    packs.import_pack(opencv_pack, data_dir, name="sface")
    return demo.build_demo(data_dir, AppConfig())


def test_demo_opens_on_the_opencv_engine_when_its_pack_is_present(outlet_with_the_opencv_pack, data_dir):
    from core.engine.factory import create_engine
    from core.gallery import Gallery
    from core.identify import identify_image, matcher_for

    outlet = outlet_with_the_opencv_pack
    engine = create_engine(outlet.config.engine, outlet.data_dir)  # what the demo's inference server builds
    assert engine.info.name == "opencv" and engine.info.pack_path == str((data_dir / "models" / "sface").resolve())
    assert "commercial use allowed" in engine.info.licence
    # the counter camera at 15 s shows Citra and Dewi, both recognised by the OpenCV engine
    cap = cv2.VideoCapture(str(outlet.config.cameras[1].source))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 15 * demo.FPS)
    ok, frame = cap.read()
    cap.release()
    assert ok
    found = identify_image(engine, matcher_for(Gallery(outlet.data_dir / "gallery"), engine), frame)
    assert sorted(f.result.spg_id for f in found if f.result.is_match) == ["demo_citra", "demo_dewi"]
    # an explicit engine.kind is kept
    assert demo.demo_engine(AppConfig.model_validate({"engine": {"kind": "dlib"}}).engine, data_dir).kind == "dlib"


@pytest.mark.slow
def test_the_demo_on_the_opencv_engine_keeps_5_frames_per_second_on_both_cameras(outlet_with_the_opencv_pack):
    import time

    from workers.pipeline import Pipeline

    outlet = outlet_with_the_opencv_pack
    assert outlet.config.camera.process_fps == 5.0
    p = Pipeline(outlet.config, outlet.data_dir)
    p.start()
    try:
        counts = {c.id: 0 for c in outlet.config.cameras}
        named: set[str] = set()
        warm_until = time.monotonic() + 90  # engine load and the first frames, generous on a busy machine
        while time.monotonic() < warm_until and not all(p.metrics().cameras.get(c, None) and
                                                         p.metrics().cameras[c].processed_fps > 0 for c in counts):
            p.poll(0.1)
        start = time.monotonic()
        while time.monotonic() - start < 20.0:
            for r in p.poll(0.1).results:
                counts[r.camera_id] += 1
                named |= {f.spg_id for f in r.faces if f.spg_id}
        elapsed = time.monotonic() - start
        metrics = p.metrics()
    finally:
        p.stop()
    fps = {cid: n / elapsed for cid, n in counts.items()}
    assert all(v >= 4.5 for v in fps.values()), (fps, metrics.engine, metrics.latency_p95_ms)
    assert metrics.engine == "opencv"
    assert named and named <= {"demo_ayu", "demo_budi", "demo_citra", "demo_dewi"}


def test_about_box_names_the_engine_and_its_licence(qtbot, engine_for):
    from ui.about_dialog import AboutDialog

    info = engine_for("opencv").info
    # the dialogs' engine is loaded: its own EngineInfo
    dlg = AboutDialog(AppConfig(), info)
    qtbot.addWidget(dlg)
    text = dlg.text.text()
    assert "YuNet + SFace" in text and "YuNet MIT, SFace Apache-2.0" in text and "commercial use allowed" in text
    # before the dialogs' engine has loaded only the engine's name is known (from the inference server's stats):
    # the licence is still named
    for engine, words in (("opencv", "Apache-2.0"), ("dlib", "public domain"), ("insightface", "non-commercial")):
        dlg = AboutDialog(AppConfig(), None, running_engine=engine)
        qtbot.addWidget(dlg)
        assert words in dlg.text.text()
