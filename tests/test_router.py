"""The one router (workers/router.py) that the headless run and the console both drive, and the supervisor.

Fast tests on the interface fakes (tests/ui_fakes.py) for what the router decides (which frames are copied,
what attendance is told), the supervisor on stand-in processes, and one headless run on real footage: a
face that nobody enrolled is kept in ``<data dir>/unknown/`` there too, as in the console.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from core.config import AppConfig, StorageConfig
from core.engine.base import DetectedFace
from core.presence import State
from core.unknown_faces import UnknownFaceKeeper
from tests.pipeline_fakes import GreenSquareEngine, green_square_video
from tests.test_attendance_real import NAMES, PEOPLE
from tests.ui_fakes import FakeAttendance, FakePipeline
from workers.router import Router
from workers.supervisor import SupervisedChild, Supervisor

REPO = Path(__file__).resolve().parent.parent


def _cfg(n: int) -> AppConfig:
    return AppConfig.model_validate({"cameras": [{"id": f"cam{i + 1}", "source": f"v{i}.mp4"} for i in range(n)]})


def _steps(router: Router, n: int) -> list:
    return [router.step(0.2) for _ in range(n)]


def test_router_copies_frames_only_for_visible_cameras_and_unknown_faces(tmp_path, data_dir):
    pipe = FakePipeline(_cfg(3), data_dir, fps=50)
    att = FakeAttendance(lambda: {"a": "Ayu"})
    keeper = UnknownFaceKeeper(tmp_path / "unknown", StorageConfig(), min_face_px=10, min_results=3)
    router = Router(pipe, att, keeper)
    router.set_visible(frozenset({"cam2"}))
    router.start()
    batches = _steps(router, 12)
    results = [r for b in batches for r in b.results]
    assert len(results) >= 3 * 10
    shown = [r.camera_id for b in batches for r in b.display]
    assert set(shown) == {"cam2"} and len(shown) == len([r for r in results if r.camera_id == "cam2"])
    # one read per kept unknown face (cam2 and cam3 show one unknown track each); display copies are the
    # caller's, and nothing is read for the SPG on cam1 (the fake attendance takes no crops)
    saved = [p for b in batches for p in b.unknown_saved]
    assert sorted(p.name.split("__")[0] for p in saved) == ["cam2", "cam3"]
    assert pipe.reads == len(saved)
    assert any(t.spg_id == "a" and t.to_state is State.PRESENT for b in batches for t in b.transitions)
    assert att.health == ({"cam1": True, "cam2": True, "cam3": True}, True, set())
    router.close()
    assert pipe.stopped and att.closed


def test_router_passes_camera_changes_and_presence_when_due(data_dir):
    pipe = FakePipeline(_cfg(2), data_dir, fps=50)
    att = FakeAttendance(lambda: {"a": "Ayu", "b": "Budi"})
    router = Router(pipe, att, None, presence_every_s=0.0)
    router.start()
    first = next(b for b in _steps(router, 5) if b.statuses)
    assert [s.camera_id for s in first.state_changes] == ["cam1", "cam2"]
    assert first.presence is not None and [p.spg_id for p in first.presence] == ["a", "b"]
    cam1 = next(c for c in _cfg(2).cameras if c.id == "cam1")
    router.sync_cameras(_cfg(2).cameras, [cam1])
    assert pipe.removed == ["cam2"] and pipe.added == []
    router.close()


class _Proc:
    """A stand-in child process: alive until told otherwise."""

    def __init__(self, alive: bool = True, exitcode: int | None = None):
        self._alive, self.exitcode = alive, exitcode

    def is_alive(self) -> bool:
        return self._alive

    def kill(self) -> None:
        self._alive, self.exitcode = False, -9

    def join(self, timeout: float | None = None) -> None:
        pass


class _Beat:
    def __init__(self, value: float):
        self.value = value


def test_supervisor_restarts_with_backoff_and_a_reason_then_gives_up_past_its_budget(caplog):
    sup = Supervisor(backoff_max_s=2.0, budget=3, budget_window_s=600.0, wall=lambda: 1000.0)
    child = SupervisedChild("camera door")
    starts: list[float] = []
    now = 0.0

    def start() -> None:
        starts.append(now)
        child.started_now(_Proc(), _Beat(1000.0), now)

    child.started_now(_Proc(alive=False, exitcode=3), _Beat(1000.0), now)
    messages = []
    for _ in range(200):
        now += 0.25
        msg = sup.check(child, hang_after_s=20.0, now=now, start=start)
        if msg:
            messages.append(msg)
            if child.process is None and child.restart_at is None:
                break
        elif child.process is not None and child.alive():
            child.process._alive, child.process.exitcode = False, 1  # it crashes again right away
    assert messages[0] == "camera door exited with code 3; restarting in 0.5 s (restart #1)"
    assert [m.split("restarting in ")[1].split(" s")[0] for m in messages[1:3]] == ["1.0", "2.0"]
    assert child.gave_up and "not restarted again" in messages[-1] and len(starts) == 3
    assert sup.check(child, 20.0, now + 100, start) is None and len(starts) == 3  # stays down
    assert "restart #1" in caplog.text


def test_supervisor_notices_a_hung_child():
    sup = Supervisor(backoff_max_s=2.0, wall=lambda: 1100.0)
    child = SupervisedChild("inference")
    child.started_now(_Proc(), _Beat(1000.0), 0.0)
    msg = sup.check(child, hang_after_s=20.0, now=5.0, start=lambda: None)
    assert msg == "inference sent no heartbeat for 100 s (hung); restarting in 0.5 s (restart #1)"
    assert child.process is None and child.restart_at == 5.5


def _footage(faces_dir: Path, out: Path, seconds: float = 15.0, fps: int = 10) -> Path:
    """Both people of tests/test_attendance_real.py side by side the whole time (looped by the camera)."""
    w, h = 640, 360
    vw = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    frame = np.full((h, w, 3), (90, 110, 100), np.uint8)
    for _, (person, shown, _, _, x) in PEOPLE.items():
        ph = cv2.imread(str(faces_dir / person / f"{person}_{shown:04d}.jpg"))
        assert ph is not None, f"test photo of {person} missing"
        frame[55:55 + ph.shape[0], x:x + ph.shape[1]] = np.asarray(ph, np.uint8)
    for _ in range(int(seconds * fps)):
        vw.write(frame)
    vw.release()
    return out


@pytest.mark.slow
def test_headless_run_keeps_unknown_faces_like_the_console(tmp_path, faces_dir, test_pack):
    from core.engine.factory import create_engine
    from core.enrollment import enroll_photos
    from core.gallery import Gallery
    from core.paths import DataLayout

    data = tmp_path / "data"
    cfg_data = {"engine": {"kind": "insightface", "pack": str(test_pack)}, "camera": {"process_fps": 5.0},
                "cameras": [{"id": "counter", "source": str(_footage(faces_dir, tmp_path / "shop.mp4"))}]}
    cfg = AppConfig.model_validate(cfg_data)
    layout = DataLayout(data).ensure()
    person, _, enroll, _, _ = PEOPLE["gwb"]  # George is enrolled, Colin Powell is not
    enroll_photos(create_engine(cfg.engine, data), Gallery(layout.gallery), "gwb", NAMES["gwb"],
                  [faces_dir / person / f"{person}_{i:04d}.jpg" for i in enroll], cfg=cfg.engine)
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg_data))
    results = tmp_path / "results.jsonl"
    proc = subprocess.run([sys.executable, str(REPO / "app.py"), "run", "--headless", "--config", str(cfg_file),
                           "--duration", "25", "--results", str(results)],
                          capture_output=True, text=True, timeout=240, cwd=str(REPO),
                          env={**os.environ, "SPG_DATA_DIR": str(data)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(x) for x in results.read_text().splitlines() if x.strip()]
    faces = [f for x in lines if x["type"] == "frame" for f in x["faces"]]
    unknown_tracks = {f["track_id"] for f in faces if f["spg_id"] is None and f["matchable"]}
    assert any(f["spg_id"] == "gwb" for f in faces) and unknown_tracks, "George seen and Colin not recognised"
    crops = sorted(layout.unknown_faces.glob("*.jpg"))
    assert crops, f"no unknown face kept in {layout.unknown_faces}; stderr: {proc.stderr[-2000:]}"
    assert all(c.name.startswith("counter__") for c in crops) and len(crops) <= len(unknown_tracks)
    crop = cv2.imread(str(crops[0]))
    assert crop is not None and crop.shape[0] >= 40  # a face crop, not a sliver
    assert f"{len(crops)} unknown face(s) kept" in proc.stderr


class _BrokenEngine(GreenSquareEngine):
    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        raise RuntimeError("CUDA error: out of memory")


def test_inline_pipeline_reports_a_failed_inference_thread_like_the_server(tmp_path, data_dir):
    from tests.pipeline_helpers import config, pump
    from workers.inline_pipeline import InlinePipeline

    video = green_square_video(tmp_path / "sq.mp4", (320, 240))
    p = InlinePipeline(config([{"id": "solo", "source": str(video)}]), data_dir, engine=_BrokenEngine())
    p.start()
    try:
        seen = pump(p, lambda b, s: bool(b.errors), timeout=60)
        assert seen[-1].errors == ["inference: inference stopped: CUDA error: out of memory"]
        assert not p.health().inference_up
    finally:
        p.stop()
