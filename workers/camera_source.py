"""One camera source read through OpenCV: video file, USB webcam index, RTSP URL or HTTP MJPEG URL.

* File: optionally looping; paced at the file's own fps so a file behaves like a live camera.
* Webcam: an int index (or a string of digits).
* RTSP: FFmpeg backend; transport (tcp/udp) through ``OPENCV_FFMPEG_CAPTURE_OPTIONS``; open and read
  timeouts through ``CAP_PROP_OPEN_TIMEOUT_MSEC`` / ``CAP_PROP_READ_TIMEOUT_MSEC``.
* HTTP(S) MJPEG: FFmpeg backend with the same timeouts.

A failure raises :class:`SourceError` whose message never contains a password (``core.secrets.mask_url``);
reconnecting (with backoff, forever) is the camera worker's job.

This is the one place a camera is opened: the camera workers, the Settings dialog's "Test connection"
(:func:`probe`) and the webcam enrollment preview (through ``ui.controller``) all open sources here, so
they all get the configured RTSP transport and timeouts.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.config import CameraDefaults
from core.secrets import mask_url

log = logging.getLogger(__name__)


class SourceError(Exception):
    """The source cannot be opened or stopped delivering frames. The message is safe to show."""


class EndOfFile(SourceError):
    """A non-looping video file reached its end."""


def parse_source(text: str | int) -> str | int:
    """A source as typed by a user: digits are a webcam index, anything else a path or URL."""
    if isinstance(text, int):
        return text
    t = str(text).strip()
    return int(t) if t.isdigit() else t


def source_kind(source: str | int) -> str:
    if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit()):
        return "webcam"
    s = str(source).strip().lower()
    if s.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if s.startswith(("http://", "https://")):
        return "mjpeg"
    return "file"


class CameraSource:
    """Open/read/close one source. ``read()`` returns a BGR frame or raises :class:`SourceError`."""

    def __init__(self, source: str | int, defaults: CameraDefaults | None = None, *, loop: bool = True,
                 pace: bool = True):
        self.source = source
        self.defaults = defaults or CameraDefaults()
        self.loop = loop
        self.pace = pace
        self.kind = source_kind(source)
        self.label = mask_url(source)
        self.cap: cv2.VideoCapture | None = None
        self.fps = 0.0
        self._t0 = 0.0
        self._n = 0

    def open(self) -> None:
        self.close()
        d = self.defaults
        if self.kind == "webcam":
            if int(self.source) < 0:  # OpenCV crashes the process on a negative index
                raise SourceError(f"webcam index {self.source} is not valid; use 0 or more")
            cap = cv2.VideoCapture(int(self.source))
        elif self.kind == "file":
            path = Path(str(self.source)).expanduser()
            if not path.is_file():
                raise SourceError(f"video file not found: {path}")
            cap = cv2.VideoCapture(str(path))
        else:
            if self.kind == "rtsp":
                os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = f"rtsp_transport;{d.rtsp_transport}"
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(d.open_timeout_s * 1000),
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(d.read_timeout_s * 1000)]
            cap = cv2.VideoCapture(str(self.source), cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {self.kind} source {self.label}")
        self.cap = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.5 <= fps <= 240 else 25.0
        self._t0 = time.monotonic()
        self._n = 0

    def read(self, decode: bool = True, out: np.ndarray | None = None) -> np.ndarray | None:
        """The next frame (BGR). With ``decode=False`` the frame is only grabbed (the stream is drained and
        paced, but not converted to BGR) and None is returned: cheaper for frames that will not be sent.
        With ``out`` (an (h, w, 3) uint8 array, e.g. a SharedMemory slot) OpenCV decodes into it when the
        size matches; check ``np.shares_memory(result, out)`` to know whether it did."""
        if self.cap is None:
            raise SourceError(f"{self.label} is not open")
        if self.kind == "file" and self.pace:  # wait for the frame's time, then decode: a file behaves like a camera
            delay = self._t0 + self._n / self.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:  # fell far behind (slow machine): re-anchor instead of bursting
                self._t0 = time.monotonic() - self._n / self.fps
            self._n += 1
        frame: np.ndarray | None
        if decode:
            ok, frame = self.cap.read(out) if out is not None else self.cap.read()
        else:
            ok = self.cap.grab()
            frame = np.empty(0, np.uint8) if ok else None
        if not ok or frame is None:
            if self.kind == "file":
                if not self.loop:
                    raise EndOfFile(f"end of video file {self.label}")
                self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self.cap.read(out) if out is not None else self.cap.read()
                if not ok or frame is None:  # some containers cannot seek: reopen
                    self.open()
                    ok, frame = self.cap.read()
                if not ok or frame is None:
                    raise SourceError(f"cannot read video file {self.label}")
            else:
                raise SourceError(f"{self.kind} source {self.label} stopped delivering frames "
                                  "(read failed or timed out)")
        if not decode:
            frame = None
        elif frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        return frame

    def close(self) -> None:
        if self.cap is not None:
            try:
                self.cap.release()
            finally:
                self.cap = None


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    message: str
    """'<width>x<height>' when ok, else why (secrets masked)."""
    frame: np.ndarray | None = None


def probe(source: str | int, defaults: CameraDefaults | None = None) -> ProbeResult:
    """Open the source as a camera worker would (transport, open/read timeouts), read one frame, close."""
    src = CameraSource(parse_source(source), defaults, loop=True, pace=False)
    try:
        src.open()
        frame = src.read()
    except SourceError as exc:
        return ProbeResult(False, str(exc))
    finally:
        src.close()
    if frame is None:
        return ProbeResult(False, f"no picture from {src.label}")
    h, w = frame.shape[:2]
    return ProbeResult(True, f"{w}x{h}", frame)
