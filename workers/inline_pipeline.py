"""Single-process dev mode (the seed's ``run_webcam.py``): the same stages as :class:`workers.pipeline.Pipeline`
in one process, with threads instead of processes.

Same code path: each camera runs :class:`workers.camera_worker.CameraLoop` (writing into a real SharedMemory
frame buffer, or the queue fallback), the inference thread runs :func:`workers.inference_server.serve`
(newest frame per camera, frame skip, detect -> track -> batched embed -> match -> vote), and :meth:`poll`
returns the same :class:`PollBatch`. Use it to debug a camera or the engine with one process to attach a
debugger to: ``app.py run --headless --inline``. There is no supervisor (nothing to restart).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path

import numpy as np

from core.config import AppConfig, CameraConfig
from core.engine.base import FaceEngine
from core.messages import CameraRemoved, CameraStatus, FrameMeta, FrameResult, InferenceStats, Stop
from workers.camera_worker import CameraLoop
from workers.frame_buffer import FrameBuffer, buffer_name, create_buffer, run_token
from workers.inference_server import EngineSpec, serve
from workers.pipeline import CameraRuntime, PipelineMetrics, PollBatch, _Rate

log = logging.getLogger(__name__)


class InlinePipeline:
    """Same interface as :class:`workers.pipeline.Pipeline` (start, stop, poll, add_camera, remove_camera,
    read_frame, frame_shape, metrics); ``engine`` may be passed in already built."""

    def __init__(self, cfg: AppConfig, data_dir: Path, *, engine_spec: EngineSpec | None = None,
                 engine: FaceEngine | None = None):
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.engine_spec = engine_spec or EngineSpec()
        self.engine = engine
        self._running = False
        self._stopping = False
        self._token = ""
        self._epoch = 0
        self._cams: dict[str, tuple[CameraLoop, threading.Thread, threading.Event]] = {}
        self._buffers: dict[str, FrameBuffer | None] = {}
        self._runtime: dict[str, CameraRuntime] = {}
        self._processed: dict[str, _Rate] = {}
        self._last_stats: InferenceStats | None = None
        self._inf_thread: threading.Thread | None = None

    def start(self) -> None:
        if self._running:
            return
        self._token = run_token(self.data_dir)  # also removes blocks a killed run of this folder left
        self._input_q: queue.Queue[FrameMeta] = queue.Queue(maxsize=self.cfg.inference.input_queue_size)
        self._output_q: queue.Queue = queue.Queue()
        self._status_q: queue.Queue[CameraStatus] = queue.Queue()
        self._control_q: queue.Queue = queue.Queue()
        if self.engine is None:
            self.engine = self.engine_spec.build(self.cfg, self.data_dir)
        self._stopping = False
        self._running = True
        self._inf_thread = threading.Thread(
            target=serve, name="inline-inference", daemon=True,
            args=(self.cfg, self.data_dir, self.engine, self._input_q, self._output_q, self._control_q),
            kwargs={"should_stop": lambda: self._stopping})
        self._inf_thread.start()
        for cam in self.cfg.cameras:
            if cam.enabled:
                self.add_camera(cam)

    def stop(self, timeout: float = 5.0) -> None:
        if not self._running:
            return
        self._running = False
        for cid in list(self._cams):
            self.remove_camera(cid)
        self._control_q.put(Stop())
        self._stopping = True
        if self._inf_thread is not None:
            self._inf_thread.join(timeout)

    def add_camera(self, cam: CameraConfig) -> None:
        if cam.id in self._cams:
            self.remove_camera(cam.id)
        c = self.cfg.camera
        self._epoch += 1
        buf = create_buffer(buffer_name(cam.id, f"{self._token}{self._epoch}"), c.max_frame_height, c.max_frame_width,
                            c.shm_slots)
        self._buffers[cam.id] = buf
        stop = threading.Event()

        def publish(meta: FrameMeta) -> bool:
            try:
                self._input_q.put_nowait(meta)
                return True
            except queue.Full:
                return False

        loop = CameraLoop(cam, c, publish, self._status_q.put, buf, stop)
        t = threading.Thread(target=loop.run, name=f"inline-camera-{cam.id}", daemon=True)
        self._cams[cam.id] = (loop, t, stop)
        self._runtime[cam.id] = CameraRuntime()
        self._processed[cam.id] = _Rate()
        t.start()

    def remove_camera(self, camera_id: str) -> None:
        entry = self._cams.pop(camera_id, None)
        if entry is not None:
            entry[2].set()
            entry[1].join(5.0)
        self._control_q.put(CameraRemoved(camera_id))
        buf = self._buffers.pop(camera_id, None)
        if buf is not None:
            buf.close()
        self._runtime.pop(camera_id, None)
        self._processed.pop(camera_id, None)

    def poll(self, timeout: float = 0.05) -> PollBatch:
        batch = PollBatch()
        deadline = time.monotonic() + timeout
        while True:
            while True:
                try:
                    msg = self._output_q.get_nowait()
                except queue.Empty:
                    break
                if isinstance(msg, FrameResult) and msg.camera_id in self._cams:
                    batch.results.append(msg)
                    rate = self._processed.get(msg.camera_id)
                    if rate is not None:
                        rate.tick(time.monotonic())
                elif isinstance(msg, InferenceStats):
                    self._last_stats = msg
                    batch.stats.append(msg)
            while True:
                try:
                    st = self._status_q.get_nowait()
                except queue.Empty:
                    break
                rt = self._runtime.get(st.camera_id)
                if rt is not None:
                    rt.state, rt.reason = st.state.value, st.reason
                    rt.capture_fps, rt.sent_fps = st.metrics.capture_fps, st.metrics.sent_fps
                    rt.dropped, rt.reconnects = st.metrics.dropped, st.metrics.reconnects
                    rt.frame_size = st.frame_size or rt.frame_size
                    batch.statuses.append(st)
            if batch.results or batch.statuses or batch.stats or time.monotonic() >= deadline:
                return batch
            time.sleep(0.005)

    def read_frame(self, camera_id: str, slot: int, generation: int,
                   out: np.ndarray | None = None) -> np.ndarray | None:
        buf = self._buffers.get(camera_id)
        return buf.read(slot, generation, out) if buf is not None else None

    def frame_shape(self, camera_id: str) -> tuple[int, int, int] | None:
        buf = self._buffers.get(camera_id)
        return buf.latest_shape() if buf is not None else None

    def metrics(self) -> PipelineMetrics:
        now = time.monotonic()
        m = PipelineMetrics()
        for cid, rt in self._runtime.items():
            rt.processed_fps = self._processed[cid].rate(now)
            m.cameras[cid] = CameraRuntime(**vars(rt))
        s = self._last_stats
        if s is not None:
            m.latency_p50_ms, m.latency_p95_ms = s.latency_p50_ms, s.latency_p95_ms
            m.faces_per_s, m.frames_per_s, m.embeddings = s.faces_per_s, s.frames_per_s, s.embeddings
            m.dropped_stale, m.engine, m.provider = s.dropped_stale, s.engine, s.provider
        m.input_queue_depth = self._input_q.qsize() if self._running else 0
        m.shm_fallback = any(b is None for b in self._buffers.values())
        return m
