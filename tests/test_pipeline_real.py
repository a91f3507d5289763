"""The real pipeline with the real test pack (SCRFD-500M + MobileFaceNet) on real faces.

One pipeline (3 file cameras) is shared by the tests of this module: the Hamilton clip, footage composed from
faces/ photos at 1280x720, and the same kind of footage at 2560x1440 (oversized: downscaled before
SharedMemory, boxes scaled back). Enrolled from faces/ photos that are NOT the ones in the footage.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.config import AppConfig
from core.tracker import iou_matrix
from tests.compose_footage import Appearance, compose_video
from tests.pipeline_helpers import pump, results_of, shm_segments

REPO = Path(__file__).resolve().parent.parent
FACES = REPO.parent / "shared" / "data" / "faces"
PACK = REPO.parent / "shared" / "data" / "models" / "test_pack"
HAMILTON = REPO.parent / "shared" / "data" / "video" / "short_hamilton_clip.mp4"
ENROLLED = {
    "lin": ("Lin Manuel Miranda", sorted((FACES / "Lin_Manuel_Miranda").iterdir())),
    "alex": ("Alex Lacamoire", sorted((FACES / "Alex_Lacamoire").iterdir())),
    "blair": ("Tony Blair", [FACES / "Tony_Blair" / f"Tony_Blair_000{i}.jpg" for i in range(1, 6)]),
    "laura": ("Laura Bush", [FACES / "Laura_Bush" / f"Laura_Bush_000{i}.jpg" for i in range(1, 6)]),
}
SHOP = [Appearance(FACES / "Tony_Blair" / "Tony_Blair_0006.jpg", 0, 6, (0.25, 0.5), 0.5, (0.01, 0.0)),
        Appearance(FACES / "Laura_Bush" / "Laura_Bush_0006.jpg", 0, 6, (0.55, 0.5), 0.5, (0.0, 0.005)),
        Appearance(FACES / "Colin_Powell" / "Colin_Powell_0006.jpg", 0, 6, (0.82, 0.5), 0.45)]


def _cfg(data_dir: Path, cameras: list[dict], **extra) -> AppConfig:
    return AppConfig.model_validate({"data_dir": str(data_dir), "cameras": cameras,
                                     "engine": {"kind": "insightface", "pack": str(PACK)},
                                     **extra})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from core.engine.factory import create_engine
    from core.enrollment import enroll_photos
    from core.gallery import Gallery
    from core.paths import DataLayout

    root = tmp_path_factory.mktemp("real")
    data = root / "data"
    cfg = _cfg(data, [])
    engine = create_engine(cfg.engine, data)
    gallery = Gallery(DataLayout(data).gallery)
    for spg_id, (name, photos) in ENROLLED.items():
        enroll_photos(engine, gallery, spg_id, name, photos, cfg=cfg.engine)
    shop = compose_video(root / "shop.mp4", SHOP, fps=10, size=(1280, 720))
    still = Appearance(FACES / "Tony_Blair" / "Tony_Blair_0006.jpg", 0, 6, (0.4, 0.5), 0.5)
    big = compose_video(root / "big.mp4", [still], fps=10, size=(2560, 1440))
    return {"root": root, "data": data, "engine": engine, "gallery": gallery, "shop": shop, "big": big}


@pytest.fixture(scope="module")
def running(world):
    from workers.pipeline import Pipeline

    cams = [{"id": "hamilton", "source": str(HAMILTON)}, {"id": "shop", "source": str(world["shop"])},
            {"id": "big", "source": str(world["big"])}]
    p = Pipeline(_cfg(world["data"], cams, camera={"process_fps": 3}), world["data"])
    p.start()
    yield p
    names = p.buffer_names()
    p.stop()
    assert not (shm_segments() & set(names))


def _who(results) -> Counter:
    return Counter(f.spg_id for r in results for f in r.faces if f.spg_id)


def test_enrolled_people_are_recognised_in_the_hamilton_clip(running):
    seen = pump(running, lambda b, s: _who(results_of(s, "hamilton"))["lin"] >= 3, timeout=150)
    who = _who(results_of(seen, "hamilton"))
    assert set(who) <= {"lin", "alex"}, f"only enrolled people who are in the clip may be reported: {who}"


def test_enrolled_people_are_recognised_in_composed_footage_and_strangers_are_not(running):
    def enough(b, s):
        who = _who(results_of(s, "shop"))
        return who["blair"] >= 3 and who["laura"] >= 1

    seen = pump(running, enough, timeout=150)
    rs = results_of(seen, "shop")
    assert set(_who(rs)) <= {"blair", "laura"}, "Colin Powell is not enrolled and must never be reported"
    assert max(len(r.faces) for r in rs) == 3
    tracks = Counter(f.track_id for r in rs for f in r.faces if f.spg_id == "blair")
    assert max(tracks.values()) >= 2, "a moving face keeps its track id across frames"


def test_oversized_frame_is_identified_with_boxes_in_original_coordinates(running, world):
    seen = pump(running, lambda b, s: _who(results_of(s, "big"))["blair"] >= 1, timeout=150)
    r = [r for r in results_of(seen, "big") if r.faces][-1]
    assert r.frame_shape == (1440, 2560)
    ok, first = cv2.VideoCapture(str(world["big"])).read()
    direct = world["engine"].detect(first)  # detection on the full-resolution original
    assert direct
    iou = iou_matrix(np.array([r.faces[0].bbox]), np.array([direct[0].bbox]))[0, 0]
    assert iou > 0.6, f"pipeline box {r.faces[0].bbox} vs original-resolution detection {direct[0].bbox}"


def test_enrollment_while_running_reaches_matching_without_restart(running, world):
    from core.enrollment import enroll_photos

    pump(running, lambda b, s: len(results_of(s, "shop")) >= 2, timeout=60)
    pid = running.child_pids()["inference"]
    photos = [FACES / "Colin_Powell" / f"Colin_Powell_000{i}.jpg" for i in range(1, 6)]
    enroll_photos(world["engine"], world["gallery"], "powell", "Colin Powell", photos)
    t0 = time.monotonic()
    pump(running, lambda b, s: any(r.capture_mono > t0 and any(f.spg_id == "powell" for f in r.faces)
                                    for r in b.results), timeout=60)
    assert running.child_pids()["inference"] == pid, "hot reload, not a restart"
    world["gallery"].remove("powell")


def test_inline_dev_mode_runs_the_same_stages_in_one_process(world):
    from workers.inline_pipeline import InlinePipeline

    p = InlinePipeline(_cfg(world["data"], [{"id": "solo", "source": str(world["shop"])}]), world["data"],
                       engine=world["engine"])
    p.start()
    try:
        seen = pump(p, lambda b, s: "blair" in _who(results_of(s, "solo")), timeout=90)
        r = results_of(seen, "solo")[-1]
        assert r.slot >= 0 and not p.metrics().shm_fallback, "dev mode uses the same SharedMemory frame path"
        assert p.metrics().cameras["solo"].state == "live"
    finally:
        p.stop()


def test_headless_run_writes_results_and_presence_and_ctrl_c_leaves_no_shared_memory(world, tmp_path):
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(json.dumps({
        "engine": {"kind": "insightface", "pack": str(REPO.parent / "shared/data/models/test_pack")},
        "cameras": [{"id": "cli_cam", "source": str(world["shop"])}]}))
    out = tmp_path / "results.jsonl"
    env = {**os.environ, "SPG_DATA_DIR": str(world["data"])}
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "run", "--headless", "--config", str(cfg_file),
                             "--results", str(out)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and proc.poll() is None:
            if out.exists() and '"type": "transition", "spg_id": "blair"' in out.read_text():
                break
            time.sleep(0.5)
        assert any(n.startswith("sfb_cli_cam_") for n in shm_segments())
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    frames = [x for x in lines if x["type"] == "frame"]
    assert frames and any(f["spg_id"] == "blair" for x in frames for f in x["faces"])
    became = {(x["spg_id"], x["to"]) for x in lines if x["type"] == "transition"}
    assert ("blair", "present") in became, f"presence events are written in headless mode: {became}"
    assert "powell" not in {s for s, _ in became}
    assert not any(n.startswith("sfb_cli_cam_") for n in shm_segments()), "Ctrl-C must unlink SharedMemory"


def test_killed_inference_server_comes_back_and_recognises_again(running):
    pid = running.child_pids()["inference"]
    os.kill(pid, signal.SIGKILL)
    pump(running, lambda b, s: any("inference" in e and "killed" in e for e in b.errors), timeout=30)
    t0 = time.monotonic()
    pump(running, lambda b, s: any(r.capture_mono > t0 and any(f.spg_id == "blair" for f in r.faces)
                                    for r in b.results), timeout=150)
    assert running.child_pids()["inference"] != pid
    assert shm_segments() >= set(running.buffer_names())
