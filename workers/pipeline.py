"""The pipeline facade of the main process: starts/stops the children, routes results, supervises.

Children (all ``spawn``, see ``workers/mp.py``): one inference server (``workers/inference_server.py``) and
one camera worker per enabled camera (``workers/camera_worker.py``). The main process creates every
SharedMemory frame buffer (``sfb_<camera_id>_<run token>``) and always unlinks it: on :meth:`Pipeline.stop`,
at interpreter exit (``atexit``), on SIGTERM (turned into ``SystemExit``) and Ctrl-C (``KeyboardInterrupt``);
children only attach, so a crashed child never leaks a block.

Router loop (headless ``cli/run.py`` and the GUI's controller thread)::

    pipeline = Pipeline(cfg, data_dir); pipeline.start()
    while running:
        batch = pipeline.poll()                       # PollBatch(results, statuses, stats, errors)
        for r in batch.results:
            attendance.on_frame_result(r, pipeline.read_frame(r.camera_id, r.slot, r.generation))
        attendance.tick()
    pipeline.stop()

Supervisor (runs inside :meth:`poll`): a child that exited (crash, kill) or whose heartbeat is older than
``inference.hang_timeout_s`` (hung) is killed if needed and restarted after a backoff (0.5 s doubling up to
``inference.restart_backoff_max_s``, reset after a minute of healthy running); the reason is logged.
"""

from __future__ import annotations

import atexit
import logging
import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.config import AppConfig, CameraConfig
from core.messages import CameraRemoved, CameraState, CameraStatus, FrameResult, InferenceStats, Stop, WorkerError
from core.secrets import mask_url
from workers.camera_worker import CameraWorkerArgs, run_camera_worker
from workers.child_logging import child_log_queue
from workers.frame_buffer import FrameBuffer, buffer_name, create_buffer, run_token, unlink_all_created
from workers.inference_server import EngineSpec, run_inference_server
from workers.mp import mp_context

log = logging.getLogger(__name__)

__all__ = ["CameraRuntime", "EngineSpec", "Pipeline", "PipelineMetrics", "PollBatch"]

STARTUP_GRACE_S = 120.0
"""A child may take this long before its first heartbeat (spawn + imports + engine load on a slow PC)."""
HEALTHY_AFTER_S = 60.0


@dataclass
class PollBatch:
    results: list[FrameResult] = field(default_factory=list)
    statuses: list[CameraStatus] = field(default_factory=list)
    stats: list[InferenceStats] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Human-readable problems the supervisor saw this step (restarts and why, engine failures)."""


@dataclass
class CameraRuntime:
    """What the GUI and logs show per camera."""

    state: str = CameraState.CONNECTING.value
    reason: str = ""
    capture_fps: float = 0.0
    sent_fps: float = 0.0
    processed_fps: float = 0.0
    dropped: int = 0
    reconnects: int = 0
    restarts: int = 0
    frame_size: tuple[int, int] | None = None


@dataclass
class PipelineMetrics:
    cameras: dict[str, CameraRuntime] = field(default_factory=dict)
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    faces_per_s: float = 0.0
    frames_per_s: float = 0.0
    embeddings: int = 0
    dropped_stale: int = 0
    input_queue_depth: int = 0
    output_queue_depth: int = 0
    inference_restarts: int = 0
    engine: str = ""
    provider: str = ""
    shm_fallback: bool = False
    """True when at least one camera sends frames through the queue (SharedMemory unavailable)."""


class _Child:
    def __init__(self, name: str):
        self.name = name
        self.process: Any = None
        self.heartbeat: Any = None
        self.started = 0.0
        self.restarts = 0
        self.backoff = 0.5
        self.restart_at: float | None = None
        self.stop_event: Any = None
        self.feedback_q: Any = None

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def kill(self, join: float = 2.0) -> None:
        p = self.process
        if p is None:
            return
        if p.is_alive():
            p.kill()
        p.join(join)


class _Rate:
    def __init__(self, window: float = 3.0):
        self.window = window
        self.t: deque[float] = deque()

    def tick(self, now: float) -> None:
        self.t.append(now)

    def rate(self, now: float) -> float:
        while self.t and self.t[0] < now - self.window:
            self.t.popleft()
        return len(self.t) / self.window


class Pipeline:
    """Camera workers + one inference server + router/supervisor. Safe to start/stop repeatedly (idempotent).

    ``engine_spec``: picklable recipe of the engine the inference child builds (default: ``cfg.engine`` through
    ``core.engine.factory.create_engine``); tests pass a fast stand-in.
    """

    def __init__(self, cfg: AppConfig, data_dir: Path, *, engine_spec: EngineSpec | None = None):
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.engine_spec = engine_spec or EngineSpec()
        self._ctx = mp_context()
        self._running = False
        self._token = ""
        self._epoch = 0
        self._cams: dict[str, CameraConfig] = {}
        self._children: dict[str, _Child] = {}  # camera id -> child
        self._buffers: dict[str, FrameBuffer | None] = {}
        self._runtime: dict[str, CameraRuntime] = {}
        self._processed: dict[str, _Rate] = {}
        self._inf = _Child("inference")
        self._input_q: Any = None
        self._status_q: Any = None
        self._output_q: Any = None
        self._control_q: Any = None
        self._last_stats: InferenceStats | None = None
        self._errors: list[str] = []
        self._atexit_registered = False

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._running:
            return
        self._token = run_token(self.data_dir)  # also removes blocks a killed run of this folder left
        self._input_q = self._ctx.Queue(maxsize=self.cfg.inference.input_queue_size)
        self._status_q = self._ctx.Queue(maxsize=1000)
        self._running = True
        if not self._atexit_registered:
            atexit.register(self.stop, 2.0)
            self._atexit_registered = True
        _install_sigterm()
        self._start_inference()
        for cam in self.cfg.cameras:
            if cam.enabled:
                self.add_camera(cam)
        log.info("pipeline started: %d camera(s), run token %s", len(self._cams), self._token)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every child (gracefully, then killed after ``timeout``) and unlink all SharedMemory."""
        if not self._running:
            return
        self._running = False
        for ch in self._children.values():
            if ch.stop_event is not None:
                ch.stop_event.set()
        try:
            if self._control_q is not None:
                self._control_q.put_nowait(Stop())
        except Exception:  # noqa: BLE001
            pass
        deadline = time.monotonic() + timeout
        for ch in [*self._children.values(), self._inf]:
            if ch.process is not None:
                ch.process.join(max(0.05, deadline - time.monotonic()))
                if ch.process.is_alive():
                    log.warning("%s did not stop in time; killing it", ch.name)
                    ch.kill()
        for cid in list(self._buffers):
            self._close_buffer(cid)
        unlink_all_created()
        for q in (self._input_q, self._status_q, self._output_q, self._control_q,
                  *[c.feedback_q for c in self._children.values()]):
            _discard_queue(q)
        self._children.clear()
        self._cams.clear()
        self._inf = _Child("inference")
        log.info("pipeline stopped")

    # -- cameras -----------------------------------------------------------------------------------
    def add_camera(self, cam: CameraConfig) -> None:
        """Start a camera worker (replacing a running one with the same id)."""
        if not self._running:
            raise RuntimeError("start the pipeline before adding cameras")
        if cam.id in self._cams:
            self.remove_camera(cam.id)
        c = self.cfg.camera
        self._epoch += 1
        name = buffer_name(cam.id, f"{self._token}{self._epoch}")
        self._buffers[cam.id] = create_buffer(name, c.max_frame_height, c.max_frame_width, c.shm_slots)
        self._cams[cam.id] = cam
        self._runtime[cam.id] = CameraRuntime()
        self._processed[cam.id] = _Rate()
        self._children[cam.id] = _Child(f"camera {cam.id}")
        self._start_camera(cam.id)

    def remove_camera(self, camera_id: str) -> None:
        ch = self._children.pop(camera_id, None)
        self._cams.pop(camera_id, None)
        if ch is not None:
            if ch.stop_event is not None:
                ch.stop_event.set()
            if ch.process is not None:
                ch.process.join(3.0)
                ch.kill()
            _discard_queue(ch.feedback_q)
        if self._control_q is not None:
            try:
                self._control_q.put_nowait(CameraRemoved(camera_id))
            except Exception:  # noqa: BLE001
                pass
        self._close_buffer(camera_id)
        self._runtime.pop(camera_id, None)
        self._processed.pop(camera_id, None)

    @property
    def camera_ids(self) -> list[str]:
        return list(self._cams)

    # -- frames for display ------------------------------------------------------------------------
    def read_frame(self, camera_id: str, slot: int, generation: int,
                   out: np.ndarray | None = None) -> np.ndarray | None:
        """A copy of the frame a result refers to, or None if that slot was overwritten since (or no SharedMemory).

        With ``out`` (shape from :meth:`frame_shape`) the pixels are copied into it. The frame is the stored
        (possibly downscaled) one; ``FrameResult.frame_shape`` is the original size the boxes refer to.
        """
        buf = self._buffers.get(camera_id)
        if buf is None:
            return None
        return buf.read(slot, generation, out)

    def frame_shape(self, camera_id: str) -> tuple[int, int, int] | None:
        buf = self._buffers.get(camera_id)
        return buf.latest_shape() if buf is not None else None

    # -- router ------------------------------------------------------------------------------------
    def poll(self, timeout: float = 0.05) -> PollBatch:
        """Drain results/stats and camera statuses (waiting up to ``timeout`` for the first), forward results
        to the camera feedback queues (skipped when full), supervise the children."""
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
            ch = self._children.get(r.camera_id)
            if ch is not None and ch.feedback_q is not None:
                try:
                    ch.feedback_q.put_nowait(r)
                except (queue.Full, ValueError, OSError):
                    pass  # overlays may skip; inference never waits
        self._supervise(now)
        batch.errors.extend(self._errors)
        self._errors.clear()
        return batch

    def _drain_output(self, batch: PollBatch) -> None:
        if self._output_q is None:
            return
        for _ in range(2000):
            try:
                msg = self._output_q.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                return
            if isinstance(msg, FrameResult):
                if msg.camera_id in self._cams:
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
                st = self._status_q.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                return
            rt = self._runtime.get(st.camera_id)
            if rt is None:
                continue
            rt.state, rt.reason = st.state.value, st.reason
            rt.capture_fps, rt.sent_fps = st.metrics.capture_fps, st.metrics.sent_fps
            rt.dropped, rt.reconnects = st.metrics.dropped, st.metrics.reconnects
            rt.frame_size = st.frame_size or rt.frame_size
            batch.statuses.append(st)

    # -- children ----------------------------------------------------------------------------------
    def _start_inference(self) -> None:
        ch = self._inf
        _discard_queue(self._output_q)
        _discard_queue(self._control_q)
        # fresh queues per incarnation: a killed server can never leave them locked or half-written
        self._output_q = self._ctx.Queue()
        self._control_q = self._ctx.Queue()
        ch.heartbeat = self._ctx.Value("d", 0.0, lock=False)
        ch.process = self._ctx.Process(
            target=run_inference_server, name="spg-inference", daemon=True,
            args=(self.cfg, str(self.data_dir), self.engine_spec, self._input_q, self._output_q, self._control_q,
                  ch.heartbeat, child_log_queue()))
        ch.process.start()
        ch.started = time.monotonic()
        ch.restart_at = None

    def _start_camera(self, camera_id: str) -> None:
        ch = self._children[camera_id]
        cam = self._cams[camera_id]
        _discard_queue(ch.feedback_q)
        ch.stop_event = self._ctx.Event()
        ch.feedback_q = self._ctx.Queue(maxsize=4)
        ch.heartbeat = self._ctx.Value("d", 0.0, lock=False)
        buf = self._buffers.get(camera_id)
        args = CameraWorkerArgs(cam, self.cfg.camera, buf.name if buf is not None else None, self.cfg.logging.level)
        ch.process = self._ctx.Process(target=run_camera_worker, name=f"spg-camera-{camera_id}", daemon=True,
                                       args=(args, self._input_q, self._status_q, ch.feedback_q, ch.stop_event,
                                             ch.heartbeat, child_log_queue()))
        ch.process.start()
        ch.started = time.monotonic()
        ch.restart_at = None

    def _problem(self, ch: _Child, hang_after: float, now: float) -> str | None:
        if ch.process is None:
            return None
        if not ch.process.is_alive():
            code = ch.process.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
            return f"{ch.name} {how}"
        hb = float(ch.heartbeat.value)
        if hb == 0.0:
            if now - ch.started > STARTUP_GRACE_S:
                return f"{ch.name} did not start within {STARTUP_GRACE_S:.0f} s (hung)"
            return None
        silent = time.time() - hb
        if silent > hang_after:
            return f"{ch.name} sent no heartbeat for {silent:.0f} s (hung)"
        return None

    def _schedule_restart(self, ch: _Child, why: str, now: float) -> None:
        ch.kill()
        if now - ch.started > HEALTHY_AFTER_S:
            ch.backoff = 0.5
        ch.restart_at = now + ch.backoff
        ch.process = None
        ch.restarts += 1
        msg = f"{why}; restarting in {ch.backoff:.1f} s (restart #{ch.restarts})"
        log.warning("supervisor: %s", msg)
        self._errors.append(msg)
        ch.backoff = min(self.cfg.inference.restart_backoff_max_s, ch.backoff * 2)

    def _supervise(self, now: float) -> None:
        inf = self.cfg.inference
        if self._inf.restart_at is not None:
            if now >= self._inf.restart_at:
                self._start_inference()
        else:
            why = self._problem(self._inf, inf.hang_timeout_s, now)
            if why:
                self._schedule_restart(self._inf, why, now)
        c = self.cfg.camera
        cam_hang = inf.hang_timeout_s + c.open_timeout_s + c.read_timeout_s
        for cid, ch in list(self._children.items()):
            if ch.restart_at is not None:
                if now >= ch.restart_at:
                    self._start_camera(cid)
                continue
            why = self._problem(ch, cam_hang, now)
            if why:
                rt = self._runtime.get(cid)
                if rt is not None:
                    rt.restarts = ch.restarts + 1
                self._schedule_restart(ch, why, now)

    def _close_buffer(self, camera_id: str) -> None:
        buf = self._buffers.pop(camera_id, None)
        if buf is not None:
            buf.close()

    # -- metrics -----------------------------------------------------------------------------------
    def metrics(self) -> PipelineMetrics:
        now = time.monotonic()
        m = PipelineMetrics()
        for cid, rt in self._runtime.items():
            rate = self._processed.get(cid)
            rt.processed_fps = rate.rate(now) if rate else 0.0
            ch = self._children.get(cid)
            rt.restarts = ch.restarts if ch else rt.restarts
            m.cameras[cid] = CameraRuntime(**vars(rt))
        s = self._last_stats
        if s is not None:
            m.latency_p50_ms, m.latency_p95_ms = s.latency_p50_ms, s.latency_p95_ms
            m.faces_per_s, m.frames_per_s, m.embeddings = s.faces_per_s, s.frames_per_s, s.embeddings
            m.dropped_stale, m.engine, m.provider = s.dropped_stale, s.engine, s.provider
        m.input_queue_depth = _qsize(self._input_q)
        m.output_queue_depth = _qsize(self._output_q)
        m.inference_restarts = self._inf.restarts
        m.shm_fallback = any(b is None for b in self._buffers.values())
        return m

    def child_pids(self) -> dict[str, int | None]:
        """Process ids of the children ('inference', '<camera id>'), for diagnostics and tests."""
        out: dict[str, int | None] = {"inference": self._inf.process.pid if self._inf.process is not None else None}
        for cid, ch in self._children.items():
            out[cid] = ch.process.pid if ch.process is not None else None
        return out

    def buffer_names(self) -> list[str]:
        return [b.name for b in self._buffers.values() if b is not None]

    def describe(self) -> str:
        return ", ".join(f"{cid}={mask_url(c.source)}" for cid, c in self._cams.items())


def _qsize(q: Any) -> int:
    if q is None:
        return 0
    try:
        return int(q.qsize())
    except (NotImplementedError, OSError, ValueError):
        return -1


def _discard_queue(q: Any) -> None:
    if q is None:
        return
    try:
        q.cancel_join_thread()
        q.close()
    except Exception:  # noqa: BLE001
        pass


_sigterm_installed = False


def _install_sigterm() -> None:
    """SIGTERM -> SystemExit in the main thread, so ``finally``/``atexit`` run and SharedMemory is unlinked."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_sigterm)
        _sigterm_installed = True
    except (ValueError, OSError, AttributeError):
        pass


def _on_sigterm(signum: int, frame: Any) -> None:  # pragma: no cover - exercised by cli tests
    raise SystemExit(128 + signum)

