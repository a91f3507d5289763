"""Camera worker: one process per camera (``run_camera_worker``), or a thread in dev mode (``CameraLoop``).

The loop keeps draining the source (so a live stream never lags behind real time), and every
``1 / camera.process_fps`` seconds publishes the newest frame: downscaled to fit the SharedMemory buffer
(the scale travels in :class:`FrameMeta`), written into the next slot, then the light :class:`FrameMeta`
goes onto the bounded input queue with ``put_nowait`` (full = the frame is dropped and counted).

Disconnects and read timeouts reconnect with exponential backoff (capped at ``camera.reconnect_max_s``),
forever; after ``FAILED_AFTER`` attempts in a row without a frame the camera shows as failed, with the
reason, until a frame comes again. The state (connecting, live,
reconnecting, failed: reason, stopped) and metrics (capture fps, sent fps, dropped, reconnects) go to the
main process as :class:`CameraStatus` on every change and about once a second. URLs are masked everywhere.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np

from core.config import CameraConfig, CameraDefaults
from core.logging_setup import configure_child_logging
from core.messages import CameraMetrics, CameraState, CameraStatus, FrameMeta
from core.secrets import mask_url, redact
from workers.camera_source import CameraSource, EndOfFile, SourceError
from workers.frame_buffer import FrameBuffer
from workers.process_priority import lower_own_priority

log = logging.getLogger(__name__)

FAILED_AFTER = 3
"""Attempts in a row without a frame after which a reconnecting camera is shown as failed."""


def fit_scale(h: int, w: int, max_h: int, max_w: int) -> float:
    """original / stored size factor (>= 1.0) so that the frame fits max_h x max_w."""
    return max(1.0, h / max_h, w / max_w)


def downscale(frame: np.ndarray, max_h: int, max_w: int) -> tuple[np.ndarray, float]:
    """The frame resized to fit the buffer, and the scale (original / stored) to map boxes back."""
    h, w = frame.shape[:2]
    s = fit_scale(h, w, max_h, max_w)
    if s <= 1.0:
        return frame, 1.0
    nw, nh = min(max_w, max(1, round(w / s))), min(max_h, max(1, round(h / s)))
    small = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
    return small, w / nw


class _Rate:
    """Events per second over a sliding ~2 s window."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self.times: list[float] = []

    def tick(self, now: float) -> None:
        self.times.append(now)

    def rate(self, now: float) -> float:
        cut = now - self.window
        while self.times and self.times[0] < cut:
            self.times.pop(0)
        return len(self.times) / self.window


class CameraLoop:
    """The camera stages, independent of how frames are handed over (``publish``) and statuses reported."""

    def __init__(self, cam: CameraConfig, defaults: CameraDefaults, publish: Callable[[FrameMeta], bool],
                 report: Callable[[CameraStatus], None], buffer: FrameBuffer | None,
                 stop: threading.Event | Any, heartbeat: Callable[[], None] = lambda: None,
                 pace: bool = True):
        self.cam = cam
        self.defaults = defaults
        self.publish = publish
        self.report = report
        self.buffer = buffer
        self.stop = stop
        self.heartbeat = heartbeat
        self.source = CameraSource(cam.source, defaults, loop=cam.loop, pace=pace)
        self.label = mask_url(cam.source)
        self.state = CameraState.CONNECTING
        self.reason = ""
        self.frame_id = 0
        self.dropped = 0
        self.reconnects = 0
        self.capture_rate = _Rate()
        self.sent_rate = _Rate()
        self.frame_size: tuple[int, int] | None = None
        self._last_report = 0.0
        self.fails = 0
        """Attempts in a row (open or read) that gave no frame."""

    def _status(self, state: CameraState, reason: str = "", force: bool = True) -> None:
        now = time.monotonic()
        changed = state != self.state or reason != self.reason
        self.state, self.reason = state, redact(reason)
        if not (force or changed) and now - self._last_report < 1.0:
            return
        self._last_report = now
        m = CameraMetrics(self.capture_rate.rate(now), self.sent_rate.rate(now), self.dropped, self.reconnects)
        self.report(CameraStatus(self.cam.id, state, self.reason, m, self.frame_size, time.time()))

    def _sleep(self, seconds: float) -> bool:
        """Interruptible sleep with heartbeats; False if asked to stop."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.heartbeat()
            if self.stop.wait(min(0.2, max(0.0, end - time.monotonic()))):
                return False
        return not self.stop.is_set()

    def _failed_attempt(self, exc: SourceError, backoff: float, opening: bool = False) -> None:
        """One more attempt without a frame: reconnecting at first; after ``FAILED_AFTER`` in a row (or a source
        that does not open at all) the camera shows as failed, with the reason, and stays so while the
        retries go on, backed off."""
        self.fails += 1
        if self.fails >= FAILED_AFTER or opening:
            log.warning("camera %s: %s (%d attempt(s) in a row); retrying in %.1f s", self.cam.id, exc, self.fails,
                        backoff)
            self._status(CameraState.FAILED, f"{exc}; retrying in {backoff:.0f} s")
        else:
            log.warning("camera %s: %s; reconnecting in %.1f s", self.cam.id, exc, backoff)
            self._status(CameraState.RECONNECTING, str(exc))

    def run(self) -> None:
        d = self.defaults
        backoff = d.reconnect_initial_s
        period = 1.0 / self.cam_fps()
        first = True
        try:
            while not self.stop.is_set():
                self.heartbeat()
                if self.state is not CameraState.FAILED:
                    self._status(CameraState.CONNECTING if first else CameraState.RECONNECTING, "")
                try:
                    self.source.open()
                except SourceError as exc:
                    self._failed_attempt(exc, backoff, opening=True)
                    first = False
                    if not self._sleep(backoff):
                        break
                    backoff = min(d.reconnect_max_s, backoff * 2)
                    self.reconnects += 1
                    continue
                first = False
                live = False
                next_send = 0.0
                try:
                    while not self.stop.is_set():
                        # frames that will not be sent are only grabbed (drained, not converted to BGR)
                        due = not live or time.monotonic() >= next_send
                        # decode straight into the next SharedMemory slot: no copy of the frame at all
                        if due and live and self._direct_ok() and self._read_into_slot(next_send):
                            next_send = self._advance(next_send, period)
                            continue
                        frame = self.source.read(decode=due)
                        now = time.monotonic()
                        self.heartbeat()
                        self.capture_rate.tick(now)
                        if frame is None:
                            continue
                        if not live:
                            live = True
                            self.fails = 0
                            backoff = d.reconnect_initial_s
                            self.frame_size = (int(frame.shape[0]), int(frame.shape[1]))
                            log.info("camera %s live: %s (%dx%d)", self.cam.id, self.label,
                                     frame.shape[1], frame.shape[0])
                            self._status(CameraState.LIVE, "")
                        if now >= next_send:  # throttle to process_fps; the rest is drained, not sent
                            next_send = self._advance(next_send, period)
                            self._send(frame, now)
                        self._status(CameraState.LIVE, "", force=False)
                except EndOfFile as exc:
                    self.source.close()
                    self._status(CameraState.STOPPED, str(exc))
                    while self._sleep(1.0):
                        self._status(CameraState.STOPPED, str(exc), force=False)
                    break
                except SourceError as exc:
                    self.source.close()
                    self._failed_attempt(exc, backoff)
                    if not self._sleep(backoff):
                        break
                    backoff = min(d.reconnect_max_s, backoff * 2)
                    self.reconnects += 1
        finally:
            self.source.close()
            self._status(CameraState.STOPPED, "stopped")

    @staticmethod
    def _advance(next_send: float, period: float) -> float:
        now = time.monotonic()
        return next_send + period if now - next_send < period else now + period

    def _direct_ok(self) -> bool:
        d = self.defaults
        return (self.buffer is not None and self.frame_size is not None
                and self.frame_size[0] <= d.max_frame_height and self.frame_size[1] <= d.max_frame_width)

    def _read_into_slot(self, due: float) -> bool:
        """Decode the next frame into a SharedMemory slot and publish it; False = not possible this time
        (size changed, conversion needed): the frame is then dropped and the normal path takes over."""
        h, w = self.frame_size  # type: ignore[misc]
        slot, view = self.buffer.begin_write(h, w)  # type: ignore[union-attr]
        try:
            frame = self.source.read(out=view)
        except BaseException:
            self.buffer.abort(slot)  # type: ignore[union-attr]
            raise
        now = time.monotonic()
        self.heartbeat()
        self.capture_rate.tick(now)
        if frame is None or frame.shape != view.shape or not np.shares_memory(frame, view):
            self.buffer.abort(slot)  # type: ignore[union-attr]
            if frame is not None:
                self.frame_size = (int(frame.shape[0]), int(frame.shape[1]))
            return False
        gen = self.buffer.commit(slot)  # type: ignore[union-attr]
        self.frame_id += 1
        meta = FrameMeta(self.cam.id, self.frame_id, time.time(), now, slot, (h, w, 3), 1.0, gen,
                         buffer=self.buffer.name)  # type: ignore[union-attr]
        if self.publish(meta):
            self.sent_rate.tick(now)
        else:
            self.dropped += 1
        self._status(CameraState.LIVE, "", force=False)
        return True

    def cam_fps(self) -> float:
        return float(self.defaults.process_fps)

    def _send(self, frame: np.ndarray, now: float) -> None:
        d = self.defaults
        small, scale = downscale(frame, d.max_frame_height, d.max_frame_width)
        self.frame_id += 1
        ts = time.time()
        if self.buffer is not None:
            slot, gen = self.buffer.write(small)
            meta = FrameMeta(self.cam.id, self.frame_id, ts, now, slot, tuple(small.shape), float(scale), gen,
                             buffer=self.buffer.name)
        else:
            meta = FrameMeta(self.cam.id, self.frame_id, ts, now, -1, tuple(small.shape), float(scale), 0,
                             frame=np.ascontiguousarray(small))
        if self.publish(meta):
            self.sent_rate.tick(now)
        else:
            self.dropped += 1


class ParentWatch:
    """True once the main process is gone (killed hard): a child then exits instead of running orphaned."""

    def __init__(self, every: float = 1.0):
        import multiprocessing

        self.parent = multiprocessing.parent_process()
        self.every = every
        self._next = 0.0

    def gone(self) -> bool:
        now = time.monotonic()
        if self.parent is None or now < self._next:
            return False
        self._next = now + self.every
        return not self.parent.is_alive()


@dataclass
class CameraWorkerArgs:
    cam: CameraConfig
    defaults: CameraDefaults
    buffer_name: str | None
    """SharedMemory block to write into; None = queue fallback."""
    log_level: str = "INFO"
    below_normal: bool = True
    """Lower the worker's priority (``inference.children_below_normal``)."""


def run_camera_worker(args: CameraWorkerArgs, input_q: Any, status_q: Any, feedback_q: Any, stop: Any,
                      heartbeat: Any, log_queue: Any = None) -> None:
    """Process entry point. ``heartbeat`` is a shared double (``mp.Value('d')``) set to ``time.time()``;
    ``log_queue`` is the main process's queue for log records (``workers.child_logging``)."""
    configure_child_logging(log_queue, args.log_level)
    if args.below_normal:
        lower_own_priority()
    cv2.setNumThreads(1)  # one camera = one core at most; leave the rest to the inference server
    buffer = None
    d = args.defaults
    if args.buffer_name:
        try:
            buffer = FrameBuffer.attach(args.buffer_name, d.max_frame_height, d.max_frame_width, d.shm_slots)
        except OSError as exc:
            log.warning("camera %s: cannot attach frame buffer (%s); sending frames through the queue",
                        args.cam.id, exc)

    def publish(meta: FrameMeta) -> bool:
        try:
            input_q.put_nowait(meta)
            return True
        except queue.Full:
            return False

    def report(st: CameraStatus) -> None:
        try:
            status_q.put_nowait(st)
        except queue.Full:
            pass

    parent = ParentWatch()

    def beat() -> None:
        heartbeat.value = time.time()
        if parent.gone():
            log.warning("camera %s: the main process is gone; stopping", args.cam.id)
            stop.set()
        # overlays: keep only the newest result (the GUI draws from the main process; drained so it never fills)
        try:
            while True:
                feedback_q.get_nowait()
        except (queue.Empty, OSError, EOFError):
            pass

    loop = CameraLoop(args.cam, d, publish, report, buffer, stop, beat)
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    finally:
        if buffer is not None:
            buffer.close()
