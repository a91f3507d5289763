"""Small stand-ins for the pipeline, attendance service and gallery, for UI plumbing tests.

They implement the declared interfaces (``workers.pipeline_api.PipelineApi``, ``core.attendance_api.AttendanceApi``)
and return the production types (PollBatch, PipelineMetrics, Transition, SpgPresence, Person), so the window
tests exercise the shapes the console really gets; the assignments at the bottom let mypy check that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import cv2
import numpy as np

from core.attendance_api import AttendanceApi, AttendanceStatus, FraudAlert, PipelineHealth, Snapshot, SpgPresence
from core.central.link_state import LinkState
from core.config import AppConfig, CameraConfig
from core.gallery import Negative, Person, Sample
from core.messages import CameraMetrics, CameraState, CameraStatus, FaceResult, FrameResult
from core.presence import State, Transition
from workers.pipeline_api import CameraRuntime, PipelineApi, PipelineMetrics, PollBatch


class FakePipeline:
    """Every 1/fps s: one FrameResult per camera with one face (spg 'a' on the first camera, unknown elsewhere)."""

    def __init__(self, cfg: AppConfig, data_dir: Path, fps: float = 10.0):
        self.cameras = [c.id for c in cfg.cameras if c.enabled]
        self.fps = fps
        self.started = self.stopped = False
        self.frame = np.zeros((360, 640, 3), np.uint8)
        cv2.rectangle(self.frame, (100, 100), (200, 220), (0, 200, 0), -1)
        self.reads = 0
        self._n = 0
        self._last = 0.0
        self.added: list[str] = []
        self.removed: list[str] = []

    def start(self) -> None:
        self.started = True

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped = True

    def add_camera(self, cam: CameraConfig) -> None:
        self.added.append(cam.id)
        self.cameras.append(cam.id)

    def remove_camera(self, camera_id: str) -> None:
        self.removed.append(camera_id)
        if camera_id in self.cameras:
            self.cameras.remove(camera_id)

    def read_frame(self, camera_id: str, slot: int, generation: int,
                   out: np.ndarray | None = None) -> np.ndarray | None:
        self.reads += 1
        if out is None:
            return self.frame.copy()
        out[...] = self.frame
        return out

    def frame_shape(self, camera_id: str) -> tuple[int, int, int] | None:
        h, w = self.frame.shape[:2]
        return (h, w, 3)

    def poll(self, timeout: float = 0.05) -> PollBatch:
        wait = self._last + 1.0 / self.fps - time.monotonic()
        if wait > 0:  # like the real poll: wait up to ``timeout`` for the next results
            time.sleep(min(wait, timeout))
            if wait > timeout:
                return PollBatch()
        now = time.monotonic()
        self._last = now
        self._n += 1
        batch = PollBatch()
        for i, cid in enumerate(self.cameras):
            face = FaceResult((200.0, 200.0, 400.0, 440.0), (), 0.9, "a" if i == 0 else None, 0.71, 1)
            batch.results.append(FrameResult(cid, self._n, time.time(), now, (face,), (720, 1280), slot=0,
                                             generation=self._n, latency_ms=30.0))
            if self._n == 1:
                batch.statuses.append(CameraStatus(cid, CameraState.LIVE, metrics=CameraMetrics(5.0, 5.0, 0, 0)))
        return batch

    def metrics(self) -> PipelineMetrics:
        return PipelineMetrics(cameras={c: CameraRuntime(state=CameraState.LIVE.value) for c in self.cameras},
                               engine="fake", provider="cpu")

    def health(self) -> PipelineHealth:
        cams = frozenset(self.cameras)
        return PipelineHealth(cams, cams if self.started and not self.stopped else frozenset(), self.started)


class FakeAttendance:
    """'a' is present while seen; absent 1 s after the last sighting."""

    def __init__(self, names: Callable[[], dict[str, str]]):
        self.names = names
        self.last_seen: dict[str, float] = {}
        self.state: dict[str, State] = {}
        self.health: tuple[dict[str, bool], bool, set[str]] | None = None
        self.closed = False
        self.link = LinkState()
        """What :meth:`link_state` answers (a test sets it to show a central link in the status bar)."""

    def on_frame_result(self, result: FrameResult, snapshot: Snapshot = None) -> list[Transition]:
        for f in result.faces:
            if f.spg_id:
                self.last_seen[f.spg_id] = time.time()
        return []

    def tick(self) -> list[Transition]:
        out = []
        now = time.time()
        for sid in self.names():
            seen = self.last_seen.get(sid)
            new = State.NOT_SEEN if seen is None else (State.PRESENT if now - seen < 1.0 else State.ABSENT)
            old = self.state.get(sid, State.NOT_SEEN)
            if old != new:
                self.state[sid] = new
                out.append(Transition(sid, old, new, now, camera_id="cam1", last_seen=seen))
        return out

    def snapshot(self) -> list[SpgPresence]:
        now = time.time()
        return [SpgPresence(sid, "", self.state.get(sid, State.NOT_SEEN).value, since=now, last_seen=now,
                            last_camera="cam1", present_today_s=0.0, shift_status="no shift") for sid in self.names()]

    def refresh_people(self) -> bool:
        return True

    def on_pipeline_health(self, camera_live: Mapping[str, bool], inference_ok: bool,
                           ended: Collection[str] = ()) -> None:
        self.health = (dict(camera_live), inference_ok, set(ended))

    def status(self) -> AttendanceStatus:
        return AttendanceStatus(store_ok=True)

    def link_state(self) -> LinkState:
        return self.link

    def take_fraud_alerts(self) -> list[FraudAlert]:
        return []

    def close(self) -> None:
        self.closed = True


class FakeGallery:
    def __init__(self, people: dict[str, str] | None = None):
        self._people = {k: Person(k, v, samples=[Sample("s1")]) for k, v in (people or {}).items()}

    def version(self) -> str:
        return repr(sorted((p.spg_id, p.name, p.active, len(p.samples)) for p in self._people.values()))

    def people(self) -> list[Person]:
        return list(self._people.values())

    def get(self, spg_id: str) -> Person | None:
        return self._people.get(spg_id)

    def negatives(self, spg_id: str) -> list[Negative]:  # core.gallery.Gallery.negatives
        return []

    def negative_crop_path(self, spg_id: str, negative: Negative) -> Path | None:
        return None

    def names(self) -> dict[str, str]:
        return {p.spg_id: p.name for p in self._people.values()}

    def thumbnail_path(self, spg_id: str) -> Path | None:
        return None

    def rename(self, spg_id: str, name: str) -> None:
        self._people[spg_id].name = name

    def set_active(self, spg_id: str, active: bool) -> None:
        self._people[spg_id].active = active

    def remove(self, spg_id: str) -> None:
        self._people.pop(spg_id)

    def add(self, spg_id: str, name: str) -> None:
        self._people[spg_id] = Person(spg_id, name, samples=[Sample("s1")])


def _satisfies_interfaces(cfg: AppConfig, data_dir: Path) -> None:
    """Never called: mypy checks that the fakes have the declared shapes."""
    _pipeline: PipelineApi = FakePipeline(cfg, data_dir)
    _attendance: AttendanceApi = FakeAttendance(dict)
