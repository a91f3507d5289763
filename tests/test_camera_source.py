"""Camera sources: files behave like cameras (paced, looping), bad sources fail clearly with masked URLs."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from core.config import CameraDefaults
from tests.pipeline_fakes import green_square_video
from workers.camera_source import CameraSource, EndOfFile, SourceError, source_kind
from workers.camera_worker import downscale


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return green_square_video(tmp_path_factory.mktemp("v") / "clip.mp4", (320, 240), frames=10, fps=20)


def test_source_kinds():
    assert source_kind(0) == "webcam" and source_kind("1") == "webcam"
    assert source_kind("rtsp://u:p@10.0.0.5/s") == "rtsp"
    assert source_kind("http://cam/mjpeg") == "mjpeg"
    assert source_kind("C:/videos/shop.mp4") == "file"


def test_file_is_paced_at_its_own_fps_like_a_camera(clip):
    src = CameraSource(str(clip), loop=True)
    src.open()
    t0 = time.monotonic()
    for _ in range(10):
        src.read()
    elapsed = time.monotonic() - t0
    src.close()
    assert elapsed >= 0.4, "10 frames of a 20 fps file must take about half a second, not be read at disk speed"


def test_looping_file_keeps_delivering_and_non_looping_file_ends(clip):
    src = CameraSource(str(clip), loop=True, pace=False)
    src.open()
    frames = [src.read() for _ in range(25)]  # 2.5 times the file length
    assert all(f.shape == (240, 320, 3) for f in frames)
    src.close()
    once = CameraSource(str(clip), loop=False, pace=False)
    once.open()
    with pytest.raises(EndOfFile):
        for _ in range(11):
            once.read()
    once.close()


def test_missing_file_names_the_path(tmp_path):
    src = CameraSource(str(tmp_path / "nope.mp4"))
    with pytest.raises(SourceError, match="nope.mp4"):
        src.open()


def test_unreachable_rtsp_camera_fails_without_leaking_the_password():
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = CameraDefaults(open_timeout_s=2, read_timeout_s=2)
    src = CameraSource(f"rtsp://admin:s3cretPW@127.0.0.1:{port}/stream", d)
    with pytest.raises(SourceError) as exc:
        src.open()
    assert "s3cretPW" not in str(exc.value) and "***" in str(exc.value)
    assert "s3cretPW" not in src.label


def test_oversized_frame_is_downscaled_to_fit_and_the_scale_maps_back():
    frame = np.zeros((1440, 2560, 3), np.uint8)
    small, scale = downscale(frame, 720, 1280)
    assert small.shape == (720, 1280, 3) and scale == pytest.approx(2.0)
    same, s1 = downscale(np.zeros((360, 640, 3), np.uint8), 720, 1280)
    assert same.shape == (360, 640, 3) and s1 == 1.0
    tall, s2 = downscale(np.zeros((2000, 1000, 3), np.uint8), 720, 1280)
    assert tall.shape[0] <= 720 and tall.shape[1] * s2 == pytest.approx(1000, abs=1)


def _mjpeg_server(frames: int):
    """An HTTP MJPEG camera on 127.0.0.1 (multipart/x-mixed-replace) sending ``frames`` frames, then closing."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import cv2

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            try:
                for _i in range(frames):
                    img = np.full((240, 320, 3), 90, np.uint8)
                    img[60:180, 80:200] = (0, 255, 0)
                    jpg = cv2.imencode(".jpg", img)[1].tobytes()
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(jpg)).encode() + b"\r\n\r\n" + jpg + b"\r\n")
                    time.sleep(0.02)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_http_mjpeg_camera_delivers_frames_and_a_dropped_stream_is_reported():
    srv = _mjpeg_server(frames=10)
    try:
        url = f"http://cam:Hidden99@127.0.0.1:{srv.server_address[1]}/video.mjpg"
        src = CameraSource(url, CameraDefaults(open_timeout_s=5, read_timeout_s=2))
        src.open()
        assert src.kind == "mjpeg" and "Hidden99" not in src.label
        assert src.read().shape == (240, 320, 3)
        with pytest.raises(SourceError) as exc:
            for _ in range(20):  # the server stops after 10 frames: the source must say so, not hang
                src.read()
        assert "Hidden99" not in str(exc.value)
        src.close()
    finally:
        srv.shutdown()
