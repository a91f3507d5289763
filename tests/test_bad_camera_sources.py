"""Issue 11 item 10: camera sources that crash-looped are refused by validation, and a source that keeps
failing is backed off and shown as failed with the reason (real processes for the CLI part)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from core.config import CameraConfig, CameraDefaults
from core.messages import CameraState
from workers.camera_source import CameraSource, SourceError
from workers.camera_worker import FAILED_AFTER, CameraLoop

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("source, words", [
    (-1, "webcam index must be 0 or more"),
    ("rtsp://a:Top5ecret@127.0.0.1:99999/x", "port must be a number from 1 to 65535"),
    ("rtsp://a:Top5ecret@/x", "no camera address"),
])
def test_a_source_that_crashed_the_worker_is_refused_naming_the_key(tmp_path, source, words):
    # the failure: OpenCV itself dies on a negative webcam index (the worker segfaulted, was restarted, ...)
    if source == -1:
        crash = subprocess.run([sys.executable, "-c", "import cv2; cv2.VideoCapture(-1)"], capture_output=True,
                               timeout=60)
        assert crash.returncode != 0
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"cameras": [{"id": "ok", "source": 0}, {"id": "bad", "source": source}]}))
    cp = subprocess.run([sys.executable, str(REPO / "app.py"), "run", "--headless", "--config", str(cfg),
                         "--duration", "5", "--data-dir", str(tmp_path / "data")],
                        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 2, cp.stderr
    assert "cameras.1.source" in cp.stderr and words in cp.stderr
    assert "Traceback" not in cp.stderr and "running" not in cp.stderr and "Top5ecret" not in cp.stderr


def test_a_webcam_index_below_zero_never_reaches_opencv():
    src = CameraSource(-1)
    with pytest.raises(SourceError, match="0 or more"):
        src.open()


class _DiesOnRead(CameraSource):
    """Opens, then fails every read: a stream that connects and drops at once."""

    def __init__(self) -> None:
        super().__init__("rtsp://viewer:Top5ecret@10.0.0.9:554/s")
        self.opens: list[float] = []

    def open(self) -> None:
        self.opens.append(time.monotonic())

    def read(self, decode: bool = True, out=None):
        raise SourceError(f"rtsp source {self.label} stopped delivering frames (read failed or timed out)")

    def close(self) -> None:
        pass


def test_a_source_that_keeps_failing_is_backed_off_and_shown_failed_with_the_reason():
    cam = CameraConfig(id="door", source="rtsp://viewer:Top5ecret@10.0.0.9:554/s")
    defaults = CameraDefaults(reconnect_initial_s=0.05, reconnect_max_s=0.2)
    statuses = []
    stop = threading.Event()
    loop = CameraLoop(cam, defaults, lambda meta: True, statuses.append, None, stop)
    loop.source = src = _DiesOnRead()
    t = threading.Thread(target=loop.run)
    t.start()
    time.sleep(2.0)
    stop.set()
    t.join(10)
    states = [s.state for s in statuses if s.state is not CameraState.STOPPED]
    first_failed = states.index(CameraState.FAILED)
    assert CameraState.RECONNECTING in states[:first_failed]
    assert set(states[first_failed:]) == {CameraState.FAILED}  # stays failed while retrying: no flicker
    failed = [s for s in statuses if s.state is CameraState.FAILED]
    assert "stopped delivering frames" in failed[-1].reason and "retrying in" in failed[-1].reason
    assert "Top5ecret" not in " ".join(s.reason for s in statuses)
    assert loop.fails >= FAILED_AFTER + 3  # still retrying
    gaps = [b - a for a, b in zip(src.opens, src.opens[1:])]
    assert gaps[0] < 0.15 and max(gaps) < 0.2 + 0.25  # exponential from 0.05 s, capped at 0.2 s (+ scheduling)
    assert statuses[-1].metrics.reconnects >= len(src.opens) - 1  # the last wait was cut short by stop


# --- issue 9: one camera-open path (Test connection and the enrollment preview use the camera settings) --
def test_test_connection_uses_the_configured_open_timeout(qtbot):
    import socket

    from ui.settings_dialog import CameraEditDialog

    with socket.socket() as server:  # accepts the connection, then never answers (a hung camera)
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        dlg = CameraEditDialog(None, defaults=CameraDefaults(open_timeout_s=1.5, read_timeout_s=1.5))
        qtbot.addWidget(dlg)
        dlg.source_edit.setText(f"rtsp://admin:s3cretPW@127.0.0.1:{port}/stream")
        t0 = time.monotonic()
        dlg.test_connection()
        # OpenCV's own default waits 30 s; the configured 1.5 s open timeout must end the test much sooner
        qtbot.waitUntil(lambda: dlg.test_result is not None, timeout=15000)
        assert time.monotonic() - t0 < 12
    ok, msg = dlg.test_result
    assert ok is False and "s3cretPW" not in msg + dlg.preview.text() and "***" in msg


def test_the_enrollment_preview_opens_the_camera_like_a_worker(tmp_path):
    from tests.pipeline_fakes import green_square_video
    from ui.controller import CameraPreview, probe_camera

    clip = green_square_video(tmp_path / "clip.mp4", (320, 240), frames=5, fps=20)
    preview = CameraPreview(str(clip), CameraDefaults())
    assert preview.open()
    frames = [preview.read() for _ in range(12)]  # past the end: a file standing in for a webcam loops
    preview.close()
    assert all(f is not None and f.shape == (240, 320, 3) for f in frames)
    assert probe_camera(str(clip)).message == "320x240"
    gone = CameraPreview(str(tmp_path / "nope.mp4"))
    assert not gone.open() and "nope.mp4" in (gone.error or "")
