"""Serve an mp4 (looping) over RTSP on 127.0.0.1 with GStreamer's RTSP server, for the reconnect tests.

Run with the SYSTEM Python (``/usr/bin/python3``: python3-gi + gir1.2-gst-rtsp-server-1.0):

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --file clip.mp4 [--path /test] [--user u --password p]

Prints ``READY rtsp://127.0.0.1:<port><path>`` on stdout once listening. The stream is the file's H.264
re-encoded at a small size (x264, zerolatency) and looped, so the client sees a live camera.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def do_create_element(self, url):
        launch = (
            f'( multifilesrc location="{self.path}" loop=true ! qtdemux ! decodebin ! videoconvert ! '
            "videorate ! video/x-raw,framerate=15/1 ! "
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96 )"
        )
        return Gst.parse_launch(launch)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--path", default="/test")
    args = ap.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = LoopingFactory(args.file)
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print("FAILED to bind", flush=True)
        return 1
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *a: loop.quit())
    signal.signal(signal.SIGINT, lambda *a: loop.quit())
    GLib.timeout_add(200, lambda: True)  # let Python signal handlers run
    print(f"READY rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
