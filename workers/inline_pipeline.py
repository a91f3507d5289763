"""Single-process dev mode (the seed's ``run_webcam.py``): the same stages as :class:`workers.pipeline.Pipeline`
in one process, with threads instead of processes.

Same code path: each camera runs :class:`workers.camera_worker.CameraLoop` (writing into a real SharedMemory
frame buffer, or the queue fallback), the inference thread runs :func:`workers.inference_server.serve`
(newest frame per camera, frame skip, detect -> track -> batched embed -> match -> vote), and the draining,
frames and metrics are :class:`workers.pipeline_base.PipelineBase`'s. Use it to debug a camera or the engine
with one process to attach a debugger to: ``app.py run --headless --inline``. There is no supervisor (nothing
to restart): an inference thread that dies reports a ``WorkerError`` like the server process does.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from core.config import AppConfig, CameraConfig
from core.engine.base import FaceEngine
from core.messages import CameraRemoved, CameraStatus, FrameMeta, Stop, WorkerError
from core.secrets import redact
from workers.camera_worker import CameraLoop
from workers.frame_buffer import run_token
from workers.inference_server import EngineSpec, serve
from workers.pipeline_base import PipelineBase

log = logging.getLogger(__name__)


class InlinePipeline(PipelineBase):
    """Same interface as :class:`workers.pipeline.Pipeline` (:class:`workers.pipeline_api.PipelineApi`);
    ``engine`` may be passed in already built."""

    def __init__(self, cfg: AppConfig, data_dir: Path, *, engine_spec: EngineSpec | None = None,
                 engine: FaceEngine | None = None):
        super().__init__(cfg, data_dir, engine_spec=engine_spec)
        self.engine = engine
        self._stopping = False
        self._cams: dict[str, tuple[CameraLoop, threading.Thread, threading.Event]] = {}
        self._control_q: queue.Queue[Any] = queue.Queue()
        self._inf_thread: threading.Thread | None = None

    def start(self) -> None:
        if self._running:
            return
        self._token = run_token(self.data_dir)  # also removes blocks a killed run of this folder left
        self._input_q = queue.Queue(maxsize=self.cfg.inference.input_queue_size)
        self._output_q = queue.Queue()
        self._status_q = queue.Queue()
        self._control_q = queue.Queue()
        if self.engine is None:
            self.engine = self.engine_spec.build(self.cfg, self.data_dir)
        self._stopping = False
        self._running = True
        self._inf_thread = threading.Thread(target=self._serve, args=(self.engine,), name="inline-inference",
                                            daemon=True)
        self._inf_thread.start()
        for cam in self.cfg.cameras:
            if cam.enabled:
                self.add_camera(cam)

    def _serve(self, engine: FaceEngine) -> None:
        try:
            serve(self.cfg, self.data_dir, engine, self._input_q, self._output_q, self._control_q,
                  should_stop=lambda: self._stopping)
        except Exception as exc:  # noqa: BLE001 - reported like the server process's failures
            log.exception("inference thread failed")
            self._output_q.put(WorkerError("inference", f"inference stopped: {redact(str(exc))}", time.time()))

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
        buf = self._open_camera(cam)
        stop = threading.Event()
        input_q = self._input_q
        status_q: queue.Queue[CameraStatus] = self._status_q

        def publish(meta: FrameMeta) -> bool:
            try:
                input_q.put_nowait(meta)
                return True
            except queue.Full:
                return False

        loop = CameraLoop(cam, self.cfg.camera, publish, status_q.put, buf, stop)
        t = threading.Thread(target=loop.run, name=f"inline-camera-{cam.id}", daemon=True)
        self._cams[cam.id] = (loop, t, stop)
        t.start()

    def remove_camera(self, camera_id: str) -> None:
        entry = self._cams.pop(camera_id, None)
        if entry is not None:
            entry[2].set()
            entry[1].join(5.0)
        self._control_q.put(CameraRemoved(camera_id))
        self._close_camera(camera_id)

    def _inference_up(self) -> bool:
        return self._inf_thread is not None and self._inf_thread.is_alive()
