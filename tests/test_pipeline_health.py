"""PipelineHealth: what the router tells the attendance service about cameras and the inference server."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.messages import CameraMetrics, CameraState, CameraStatus, FrameResult
from core.pipeline_health import PipelineHealth


@dataclass
class Batch:
    results: list = field(default_factory=list)
    statuses: list = field(default_factory=list)
    stats: list = field(default_factory=list)


class Mono:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def status(cam, state):
    return CameraStatus(cam, state, "", CameraMetrics(5.0, 5.0, 0, 0))


def result(cam):
    return FrameResult(cam, 1, 0.0, 0.0, (), (360, 640))


def test_server_silent_means_inference_down_and_cameras_are_not_blamed():
    mono = Mono()
    h = PipelineHealth(silent_s=3.0, monotonic=mono)
    assert not h.inference_ok()  # nothing heard yet (engine still loading)
    h.update(Batch([result("a"), result("b")], [status("a", CameraState.LIVE), status("b", CameraState.LIVE)]))
    assert h.inference_ok() and h.camera_live() == {"a": True, "b": True}
    mono.t += 5.0  # the server froze: no result, no statistics
    h.update(Batch())
    assert not h.inference_ok() and h.camera_live() == {"a": True, "b": True}


def test_a_dead_camera_worker_is_not_live_although_its_last_status_said_so():
    mono = Mono()
    h = PipelineHealth(silent_s=3.0, monotonic=mono)
    h.update(Batch([result("a"), result("b")], [status("a", CameraState.LIVE), status("b", CameraState.LIVE)]))
    for _ in range(4):  # the server answers for cam a only
        mono.t += 1.0
        h.update(Batch([result("a")]))
    assert h.camera_live() == {"a": True, "b": False}
    h.update(Batch([], [status("b", CameraState.RECONNECTING)]))
    assert h.camera_live() == {"a": True, "b": False}
    h.update(Batch([result("b")], [status("b", CameraState.LIVE)]))
    assert h.camera_live() == {"a": True, "b": True}
    h.update(Batch([result("a")], [status("b", CameraState.STOPPED)]))  # its video file ended
    assert h.camera_live() == {"a": True, "b": False} and h.ended() == {"b"}
    h.forget("b")
    assert h.camera_live() == {"a": True} and h.ended() == set()
