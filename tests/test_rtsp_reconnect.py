"""A real RTSP camera (GstRtspServer on 127.0.0.1) that goes away and comes back is reconnected by itself."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from core.messages import CameraState
from tests.pipeline_fakes import green_square_video
from tests.pipeline_helpers import STAND_IN, config, pump, results_of
from workers.pipeline import Pipeline

SYSTEM_PY = "/usr/bin/python3"
SERVER = Path(__file__).with_name("rtsp_server.py")


def _gst_available() -> bool:
    if not Path(SYSTEM_PY).exists():
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PY, "-c", probe], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _gst_available(),
                                reason="GstRtspServer not installed (apt: python3-gi gir1.2-gst-rtsp-server-1.0)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServer:
    def __init__(self, port: int, video: Path):
        self.port, self.video = port, video
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([SYSTEM_PY, str(SERVER), "--port", str(self.port), "--file", str(self.video)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            pytest.fail(f"RTSP server did not start: {line!r}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


def test_rtsp_camera_reconnects_after_the_server_stops_and_restarts(tmp_path):
    video = green_square_video(tmp_path / "rtsp.mp4", (320, 240), frames=30, fps=15, box=(80, 60, 200, 180))
    port = _free_port()
    server = RtspServer(port, video)
    server.start()
    url = f"rtsp://viewer:Top5ecret@127.0.0.1:{port}/test"
    cfg = config([{"id": "rtsp_cam", "source": url}],
                 camera={"open_timeout_s": 3, "read_timeout_s": 3, "reconnect_initial_s": 0.5, "reconnect_max_s": 2})
    p = Pipeline(cfg, tmp_path / "data", engine_spec=STAND_IN)
    p.start()
    try:
        seen = pump(p, lambda b, s: len(results_of(s, "rtsp_cam")) >= 3, timeout=60)
        assert results_of(seen, "rtsp_cam")[-1].faces, "the stand-in engine sees the square in the RTSP stream"

        server.stop()
        seen = pump(p, lambda b, s: any(st.state == CameraState.RECONNECTING for st in b.statuses), timeout=30)
        reasons = " ".join(st.reason for b in seen for st in b.statuses)
        assert "Top5ecret" not in reasons

        time.sleep(1.0)
        server.start()
        t_back = time.monotonic()
        seen = pump(p, lambda b, s: any(r.capture_mono > t_back for r in results_of(s, "rtsp_cam")), timeout=60)
        assert any(st.state == CameraState.LIVE for b in seen for st in b.statuses)
        m = p.metrics().cameras["rtsp_cam"]
        assert m.reconnects >= 1 and m.state == "live"
        assert m.restarts == 0, "the worker reconnected by itself; the supervisor did not have to restart it"
    finally:
        p.stop()
        server.stop()
