"""UI responsiveness with N cameras (default 4, up to 16) at 5 fps: GUI-process CPU use and the longest
UI-thread stall.

A QTimer heartbeat fires every 10 ms on the UI thread; its lateness is how long the UI thread was
busy (a stall). Goal: longest stall < 50 ms. CPU is the GUI process's own CPU time (main + controller
threads; camera workers and the inference server are separate processes and not counted).

Two runs side by side:
  synthetic  - a stand-in pipeline producing 1280x720 frames with 2 faces each, N x 5 fps (the cost
               of the console itself: SharedMemory-like copy into QImage, painting, table updates)
  real       - workers.pipeline.Pipeline with N looping video cameras and the real test pack
               (skipped with a note if the pipeline or the test data is not available)

The window is shown at 1600x900 (a common outlet monitor), so 16 cameras are 4x4 tiles of about 300x170.

    .venv/bin/python benchmarks/ui_responsiveness.py --seconds 20 [--cameras 16] [--only synthetic|real]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collections.abc import Collection, Mapping  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

from core.attendance_api import AttendanceStatus, FraudAlert, PipelineHealth, Snapshot, SpgPresence  # noqa: E402
from core.central.link_state import LinkState  # noqa: E402
from core.config import AppConfig, CameraConfig  # noqa: E402
from core.messages import CameraMetrics, CameraState, CameraStatus, FaceResult, FrameResult  # noqa: E402
from core.presence import Transition  # noqa: E402
from workers.pipeline_api import PipelineMetrics, PollBatch  # noqa: E402


class SyntheticPipeline:
    """A ``workers.pipeline_api.PipelineApi`` that makes frames up (no processes, no model)."""

    def __init__(self, cfg: AppConfig, data_dir: Path):
        self.cams = [c.id for c in cfg.cameras]
        self.period = 1.0 / cfg.camera.process_fps
        self.next = {c: time.monotonic() + i * self.period / len(self.cams) for i, c in enumerate(self.cams)}
        rng = np.random.default_rng(0)
        self.frames = {c: rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8) for c in self.cams}
        self.n = 0

    def start(self) -> None:
        pass

    def stop(self, timeout: float = 5.0) -> None:
        pass

    def add_camera(self, cam: CameraConfig) -> None:
        pass

    def remove_camera(self, camera_id: str) -> None:
        pass

    def read_frame(self, camera_id: str, slot: int, generation: int, out: np.ndarray | None = None) -> np.ndarray | None:
        if out is None:
            return self.frames[camera_id].copy()
        out[...] = self.frames[camera_id]  # the SharedMemory read copies once, like the real one
        return out

    def frame_shape(self, camera_id: str) -> tuple[int, int, int] | None:
        return (720, 1280, 3)

    def poll(self, timeout: float = 0.05) -> PollBatch:
        end = time.monotonic() + timeout
        batch = PollBatch()
        while True:
            now = time.monotonic()
            for c in self.cams:
                if now >= self.next[c]:
                    self.next[c] += self.period
                    self.n += 1
                    faces = (FaceResult((300, 200, 420, 350), (), 0.9, "a", 0.7, 1),
                             FaceResult((800, 220, 900, 350), (), 0.9, None, 0.2, 2))
                    batch.results.append(FrameResult(c, self.n, time.time(), now, faces, (720, 1280), slot=0,
                                                     generation=self.n, latency_ms=40))
                    if self.n <= len(self.cams):
                        batch.statuses.append(CameraStatus(c, CameraState.LIVE, metrics=CameraMetrics(5, 5, 0, 0)))
            if batch.results or now >= end:
                return batch
            time.sleep(0.005)

    def metrics(self) -> PipelineMetrics:
        return PipelineMetrics(engine="synthetic", provider="cpu")

    def health(self) -> PipelineHealth:
        cams = frozenset(self.cams)
        return PipelineHealth(cams, cams, True)


class SimpleAttendance:
    """A ``core.attendance_api.AttendanceApi``: everyone present, no transitions."""

    def __init__(self, names: Callable[[], dict[str, str]]):
        self.names = names

    def on_frame_result(self, result: FrameResult, snapshot: Snapshot = None) -> list[Transition]:
        return []

    def tick(self) -> list[Transition]:
        return []

    def snapshot(self) -> list[SpgPresence]:
        now = time.time()
        return [SpgPresence(s, "", "present", since=now, last_seen=now, last_camera="", present_today_s=0.0,
                            shift_status="no shift") for s in self.names()]

    def refresh_people(self) -> bool:
        return True

    def on_pipeline_health(self, camera_live: Mapping[str, bool], inference_ok: bool,
                           ended: Collection[str] = ()) -> None:
        pass

    def status(self) -> AttendanceStatus:
        return AttendanceStatus(store_ok=True)

    def link_state(self) -> LinkState:
        return LinkState()

    def take_fraud_alerts(self) -> list[FraudAlert]:
        return []

    def close(self) -> None:
        pass


def measure(window_factory, seconds: float) -> dict:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    win = window_factory()
    win.resize(1600, 900)
    win.show()
    # warm-up: let cameras start (model load happens in the pipeline, not here) until every tile has painted a
    # frame (16 camera processes take a while to spawn on a loaded 2-core machine), at least half the run
    t_min = time.monotonic() + min(15.0, seconds / 2)
    t_max = time.monotonic() + 180.0
    while time.monotonic() < t_max:
        app.processEvents()
        time.sleep(0.005)
        if time.monotonic() >= t_min and all(t.frames_shown for t in win.grid.tiles.values()):
            break
    else:
        print("warning: not every camera showed a frame within 180 s; measuring anyway", flush=True)
    stalls: list[float] = []
    busy: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]
    last_cpu = [time.thread_time()]

    def beat():
        now, cpu = clock.elapsed(), time.thread_time()
        stalls.append(max(0, now - last[0] - 10))
        # the UI thread's own CPU time between two beats: the work it did, without the time it waited for a
        # core on a loaded machine (which the wall-clock stall includes)
        busy.append((cpu - last_cpu[0]) * 1000)
        last[0], last_cpu[0] = now, cpu

    import gc

    gc_pauses: list[float] = []
    gc_t0 = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            gc_t0[0] = time.perf_counter()
        else:
            gc_pauses.append((time.perf_counter() - gc_t0[0]) * 1000)

    gc.callbacks.append(on_gc)
    hb = QTimer(interval=10, timeout=beat)
    hb.start()
    shown0 = sum(t.frames_shown for t in win.grid.tiles.values())
    cpu0, wall0 = time.process_time(), time.monotonic()
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    hb.stop()
    gc.callbacks.remove(on_gc)
    shown = sum(t.frames_shown for t in win.grid.tiles.values()) - shown0
    win.close()
    s = np.array(stalls[1:] or [0.0])
    b = np.array(busy[1:] or [0.0])
    return {"cpu_pct": 100 * cpu / wall, "max_stall_ms": float(s.max()), "p99_stall_ms": float(np.percentile(s, 99)),
            "max_busy_ms": float(b.max()),
            "painted_fps": shown / wall, "beats": len(s),
            "max_gc_ms": max(gc_pauses, default=0.0), "load": os.getloadavg()[0]}


def synthetic_window(data_dir: Path, cameras: int):
    from tests.ui_fakes import FakeGallery
    from ui.main_window import MainWindow

    cfg = AppConfig.model_validate({"cameras": [{"id": f"cam{i}", "source": "x.mp4"} for i in range(1, cameras + 1)],
                                    "camera": {"process_fps": 5}})
    return lambda: MainWindow(cfg, data_dir, gallery=FakeGallery({"a": "Ayu"}), controller_kwargs={
        "pipeline_factory": lambda c, d: SyntheticPipeline(c, d), "attendance_factory": lambda c, d, n: SimpleAttendance(n)})


def real_window(data_dir: Path, cameras: int, children_below_normal: bool = True):
    import workers.pipeline  # noqa: F401 - raises if the pipeline is not in this build
    from core.paths import shared_data_dir
    from ui.main_window import MainWindow

    video = shared_data_dir() / "video" / "short_hamilton_clip.mp4"
    pack = shared_data_dir() / "models" / "test_pack"
    if not video.is_file() or not pack.is_dir():
        raise FileNotFoundError("test data not found beside the repo")
    cfg = AppConfig.model_validate({
        "cameras": [{"id": f"cam{i}", "source": str(video), "loop": True} for i in range(1, cameras + 1)],
        "camera": {"process_fps": 5}, "engine": {"kind": "insightface", "pack": str(pack)},
        "inference": {"children_below_normal": children_below_normal},
    })
    return lambda: MainWindow(cfg, data_dir, demo=False)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--only", choices=["synthetic", "real", "real-normal"],
                    help="one run; default all: synthetic frames, the real pipeline (children below normal "
                         "priority, the default), the real pipeline with children at normal priority")
    ap.add_argument("--cameras", type=int, default=4, help="cameras shown (1-16, default 4)")
    a = ap.parse_args()
    if not 1 <= a.cameras <= 16:
        print(f"--cameras: the grid shows 1 to 16 cameras; got {a.cameras}", file=sys.stderr)
        return 2
    rows = []
    def real_normal(data_dir: Path, cameras: int):
        return real_window(data_dir, cameras, children_below_normal=False)

    for name, factory in (("synthetic", synthetic_window), ("real", real_window), ("real-normal", real_normal)):
        if a.only and a.only != name:
            continue
        with tempfile.TemporaryDirectory() as d:
            os.environ["SPG_DATA_DIR"] = d
            try:
                make = factory(Path(d), a.cameras)
            except Exception as exc:  # noqa: BLE001
                print(f"{name}: skipped ({exc})")
                continue
            rows.append((name, measure(make, a.seconds)))
    print(f"\n{a.cameras} cameras x 5 fps, {a.seconds:.0f} s measured, window 1600x900, "
          "goal: longest UI stall < 50 ms")
    print(f"{'run':<10} {'GUI CPU %':>9} {'max stall ms':>13} {'p99 stall ms':>13} {'max UI CPU ms':>14} "
          f"{'painted fps':>12} {'max GC ms':>10} {'load avg':>9}")
    for name, r in rows:
        print(f"{name:<10} {r['cpu_pct']:>9.1f} {r['max_stall_ms']:>13.1f} {r['p99_stall_ms']:>13.1f} "
              f"{r['max_busy_ms']:>14.1f} {r['painted_fps']:>12.1f} {r['max_gc_ms']:>10.1f} {r['load']:>9.1f}")
    print("(stall: wall-clock lateness of a 10 ms UI-thread timer; max UI CPU: the most CPU time the UI thread spent "
          "between two beats, i.e. its own work without waiting for a core; load avg: the machine's 1-minute load "
          "at the end, above the core count stalls include waiting for a CPU)")
    if len(rows) == 2:
        print(f"real / synthetic: CPU x{rows[1][1]['cpu_pct'] / max(rows[0][1]['cpu_pct'], 1e-9):.2f}, "
              f"max stall x{rows[1][1]['max_stall_ms'] / max(rows[0][1]['max_stall_ms'], 1e-9):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
