"""Small stand-ins for the pipeline, attendance service and gallery, for UI plumbing tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from core.messages import CameraMetrics, CameraState, CameraStatus, FaceResult, FrameResult


@dataclass
class Batch:
    results: list = field(default_factory=list)
    statuses: list = field(default_factory=list)
    stats: Any = None


class FakePipeline:
    """Every poll: one FrameResult per camera with one face (spg 'a' on cam1, unknown elsewhere)."""

    def __init__(self, cfg, data_dir, fps: float = 10.0):
        self.cameras = [c.id for c in cfg.cameras if c.enabled]
        self.fps = fps
        self.started = self.stopped = False
        self.frame = np.zeros((360, 640, 3), np.uint8)
        cv2.rectangle(self.frame, (100, 100), (200, 220), (0, 200, 0), -1)
        self.reads = 0
        self._n = 0
        self._last = 0.0
        self.added: list = []
        self.removed: list = []

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True

    def add_camera(self, cam):
        self.added.append(cam.id)
        self.cameras.append(cam.id)

    def remove_camera(self, cid):
        self.removed.append(cid)
        if cid in self.cameras:
            self.cameras.remove(cid)

    def read_frame(self, camera_id, slot, generation):
        self.reads += 1
        return self.frame.copy()

    def poll(self):
        now = time.monotonic()
        if now - self._last < 1.0 / self.fps:
            return Batch()
        self._last = now
        self._n += 1
        results, statuses = [], []
        for i, cid in enumerate(self.cameras):
            face = FaceResult((200.0, 200.0, 400.0, 440.0), (), 0.9, "a" if i == 0 else None, 0.71, 1)
            results.append(FrameResult(cid, self._n, time.time(), now, (face,), (720, 1280), slot=0, generation=self._n,
                                       latency_ms=30.0))
            if self._n == 1:
                statuses.append(CameraStatus(cid, CameraState.LIVE, metrics=CameraMetrics(5.0, 5.0, 0, 0)))
        return Batch(results, statuses)

    def metrics(self):
        return {"engine": "fake", "provider": "cpu"}


class FakeAttendance:
    """'a' is present while seen; absent 1 s after the last sighting."""

    def __init__(self, names):
        self.names = names
        self.last_seen: dict[str, float] = {}
        self.state: dict[str, str] = {}

    def on_frame_result(self, r, snapshot=None):
        for f in r.faces:
            if f.spg_id:
                self.last_seen[f.spg_id] = time.time()

    def on_pipeline_health(self, camera_live, inference_ok, ended=()):
        self.health = (dict(camera_live), inference_ok, set(ended))

    def tick(self):
        out = []
        for sid in self.names():
            seen = self.last_seen.get(sid)
            new = "not_seen" if seen is None else ("present" if time.time() - seen < 1.0 else "absent")
            if self.state.get(sid) != new:
                self.state[sid] = new
                out.append({"spg_id": sid, "state": new})
        return [type("T", (), {"spg_id": t["spg_id"], "new_state": t["state"], "timestamp": time.time()})() for t in out]

    def snapshot(self):
        from core.attendance import SpgPresence

        now = time.time()
        return [SpgPresence(sid, "", self.state.get(sid, "not_seen"), since=now, last_seen=now, last_camera="cam1",
                            present_today_s=0.0, shift_status="no shift") for sid in self.names()]


class FakeGallery:
    def __init__(self, people: dict[str, str] | None = None):
        self._people = {k: {"spg_id": k, "name": v, "samples": 1, "active": True} for k, v in (people or {}).items()}

    def version(self) -> str:
        return repr(sorted((k, tuple(sorted(v.items()))) for k, v in self._people.items()))

    def people(self):
        return [dict(p) for p in self._people.values()]

    def names(self) -> dict[str, str]:  # core.gallery.Gallery.names
        return {k: p["name"] for k, p in self._people.items()}

    def get(self, spg_id):
        from core.gallery import Person

        p = self._people.get(spg_id)
        return Person(spg_id=p["spg_id"], name=p["name"], active=p["active"]) if p else None

    def thumbnail_path(self, spg_id):
        return None

    def negatives(self, spg_id):  # core.gallery.Gallery.negatives
        return []

    def negative_crop_path(self, spg_id, negative):
        return None

    def rename(self, spg_id, name):
        self._people[spg_id]["name"] = name

    def set_active(self, spg_id, active):
        self._people[spg_id]["active"] = active

    def remove(self, spg_id):
        self._people.pop(spg_id)

    def add(self, spg_id, name):
        self._people[spg_id] = {"spg_id": spg_id, "name": name, "samples": 1, "active": True}
