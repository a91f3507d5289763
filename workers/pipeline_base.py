"""What :class:`workers.pipeline.Pipeline` (processes) and :class:`workers.inline_pipeline.InlinePipeline`
(threads) share, written once: the frame buffers, draining the output and status queues into a
:class:`PollBatch`, per-camera runtime figures, :meth:`read_frame` / :meth:`frame_shape` and :meth:`metrics`.

The subclasses decide how stages run (start/stop/add_camera/remove_camera) and add their hooks
(:meth:`PipelineBase._after_poll`: feedback + supervision in the process pipeline).
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from core.attendance_api import PipelineHealth
from core.config import AppConfig, CameraConfig
from core.messages import CameraState, CameraStatus, FrameResult, InferenceStats, WorkerError
from workers.frame_buffer import FrameBuffer, buffer_name, create_buffer
from workers.inference_server import EngineSpec
from workers.pipeline_api import CameraRuntime, PipelineMetrics, PollBatch

log = logging.getLogger(__name__)

_CLOSED = (queue.Empty, OSError, EOFError, ValueError)
"""What get_nowait raises on an empty queue, or on a multiprocessing queue closed under it."""


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window: float = 3.0):
        self.window = window
        self.t: deque[float] = deque()

    def tick(self, now: float) -> None:
        self.t.append(now)

    def rate(self, now: float) -> float:
        while self.t and self.t[0] < now - self.window:
            self.t.popleft()
        return len(self.t) / self.window


class PipelineBase:
    def __init__(self, cfg: AppConfig, data_dir: Path, *, engine_spec: EngineSpec | None = None):
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.engine_spec = engine_spec or EngineSpec()
        self._running = False
        self._token = ""
        self._epoch = 0
        self._buffers: dict[str, FrameBuffer | None] = {}
        self._runtime: dict[str, CameraRuntime] = {}
        self._processed: dict[str, RateMeter] = {}
        self._last_stats: InferenceStats | None = None
        self._input_q: Any = None
        self._status_q: Any = None
        self._output_q: Any = None
        self._errors: list[str] = []

    # -- per-camera bookkeeping ---------------------------------------------------------------------
    def _open_camera(self, cam: CameraConfig) -> FrameBuffer | None:
        """The camera's frame buffer (None = queue fallback) and fresh runtime figures."""
        c = self.cfg.camera
        self._epoch += 1
        buf = create_buffer(buffer_name(cam.id, f"{self._token}{self._epoch}"), c.max_frame_height,
                            c.max_frame_width, c.shm_slots)
        self._buffers[cam.id] = buf
        self._runtime[cam.id] = CameraRuntime()
        self._processed[cam.id] = RateMeter()
        return buf

    def _close_camera(self, camera_id: str) -> None:
        buf = self._buffers.pop(camera_id, None)
        if buf is not None:
            buf.close()
        self._runtime.pop(camera_id, None)
        self._processed.pop(camera_id, None)

    def _known_camera(self, camera_id: str) -> bool:
        return camera_id in self._runtime

    # -- frames for display -------------------------------------------------------------------------
    def read_frame(self, camera_id: str, slot: int, generation: int,
                   out: np.ndarray | None = None) -> np.ndarray | None:
        """A copy of the frame a result refers to, or None if that slot was overwritten since (or no SharedMemory).

        With ``out`` (shape from :meth:`frame_shape`) the pixels are copied into it. The frame is the stored
        (possibly downscaled) one; ``FrameResult.frame_shape`` is the original size the boxes refer to.
        """
        buf = self._buffers.get(camera_id)
        return buf.read(slot, generation, out) if buf is not None else None

    def frame_shape(self, camera_id: str) -> tuple[int, int, int] | None:
        buf = self._buffers.get(camera_id)
        return buf.latest_shape() if buf is not None else None

    # -- router -------------------------------------------------------------------------------------
    def poll(self, timeout: float = 0.05) -> PollBatch:
        """Drain results/stats/errors and camera statuses (waiting up to ``timeout`` for the first), then the
        subclass's :meth:`_after_poll` (feedback, supervision)."""
        batch = PollBatch()
        if not self._running:
            return batch
        deadline = time.monotonic() + timeout
        while True:
            self._drain_output(batch)
            self._drain_status(batch)
            if batch.results or batch.statuses or batch.stats or time.monotonic() >= deadline:
                break
            time.sleep(min(0.005, max(0.0, deadline - time.monotonic())))
        now = time.monotonic()
        for r in batch.results:
            rate = self._processed.get(r.camera_id)
            if rate is not None:
                rate.tick(now)
        self._after_poll(batch, now)
        batch.errors.extend(self._errors)
        self._errors.clear()
        return batch

    def _after_poll(self, batch: PollBatch, now: float) -> None:
        """Hook: runs at the end of every poll."""

    def _drain_output(self, batch: PollBatch) -> None:
        if self._output_q is None:
            return
        for _ in range(2000):
            try:
                msg = self._output_q.get_nowait()
            except _CLOSED:
                return
            if isinstance(msg, FrameResult):
                if self._known_camera(msg.camera_id):
                    batch.results.append(msg)
            elif isinstance(msg, InferenceStats):
                self._last_stats = msg
                batch.stats.append(msg)
            elif isinstance(msg, WorkerError):
                log.error("%s: %s", msg.source, msg.message)
                batch.errors.append(f"{msg.source}: {msg.message}")

    def _drain_status(self, batch: PollBatch) -> None:
        if self._status_q is None:
            return
        for _ in range(1000):
            try:
                st: CameraStatus = self._status_q.get_nowait()
            except _CLOSED:
                return
            rt = self._runtime.get(st.camera_id)
            if rt is None:
                continue
            rt.state, rt.reason = st.state.value, st.reason
            rt.capture_fps, rt.sent_fps = st.metrics.capture_fps, st.metrics.sent_fps
            rt.dropped, rt.reconnects = st.metrics.dropped, st.metrics.reconnects
            rt.frame_size = st.frame_size or rt.frame_size
            batch.statuses.append(st)

    # -- health and metrics -------------------------------------------------------------------------
    def _inference_up(self) -> bool:
        raise NotImplementedError

    def health(self) -> PipelineHealth:
        live = frozenset(cid for cid, rt in self._runtime.items() if rt.state == CameraState.LIVE.value)
        return PipelineHealth(frozenset(self._runtime), live, self._running and self._inference_up())

    def _inference_restarts(self) -> int:
        return 0

    def metrics(self) -> PipelineMetrics:
        now = time.monotonic()
        m = PipelineMetrics()
        for cid, rt in self._runtime.items():
            rate = self._processed.get(cid)
            rt.processed_fps = rate.rate(now) if rate else 0.0
            m.cameras[cid] = CameraRuntime(**vars(rt))
        s = self._last_stats
        if s is not None:
            m.latency_p50_ms, m.latency_p95_ms = s.latency_p50_ms, s.latency_p95_ms
            m.faces_per_s, m.frames_per_s, m.embeddings = s.faces_per_s, s.frames_per_s, s.embeddings
            m.dropped_stale, m.engine, m.provider = s.dropped_stale, s.engine, s.provider
        if self._running:
            m.input_queue_depth = _qsize(self._input_q)
            m.output_queue_depth = _qsize(self._output_q)
        m.inference_restarts = self._inference_restarts()
        m.shm_fallback = any(b is None for b in self._buffers.values())
        return m


def _qsize(q: Any) -> int:
    if q is None:
        return 0
    try:
        return int(q.qsize())
    except (NotImplementedError, OSError, ValueError):
        return -1  # macOS multiprocessing queues cannot count


def discard_queue(q: Any) -> None:
    """Close a multiprocessing queue without waiting for its feeder thread (a dead reader would block it)."""
    if q is None:
        return
    try:
        q.cancel_join_thread()
        q.close()
    except Exception:  # noqa: BLE001
        pass
