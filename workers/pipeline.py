"""The pipeline facade of the main process: starts/stops the children, routes results, supervises.

Children (all ``spawn``, see ``workers/mp.py``): one inference server (``workers/inference_server.py``) and
one camera worker per enabled camera (``workers/camera_worker.py``). The main process creates every
SharedMemory frame buffer (``sfb_<camera_id>_<run token>``) and always unlinks it: on :meth:`Pipeline.stop`,
at interpreter exit (``atexit``), on SIGTERM (turned into ``SystemExit``) and Ctrl-C (``KeyboardInterrupt``);
children only attach, so a crashed child never leaks a block.

Its shape is :class:`workers.pipeline_api.PipelineApi`; the draining, frames and metrics are shared with the
single-process :class:`workers.inline_pipeline.InlinePipeline` in :class:`workers.pipeline_base.PipelineBase`.
The router loop that drives it is :class:`workers.router.Router` (headless CLI and the console alike).

Supervision (every :meth:`poll`) is :class:`workers.supervisor.Supervisor`: crashed or hung children restart
with backoff, within a restart budget, each restart logged with its reason.
"""

from __future__ import annotations

import atexit
import functools
import logging
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Any

from core.config import AppConfig, CameraConfig
from core.messages import CameraRemoved, CameraState, Stop
from core.secrets import mask_url
from workers.camera_worker import CameraWorkerArgs, run_camera_worker
from workers.child_logging import child_log_queue
from workers.frame_buffer import run_token, unlink_all_created
from workers.inference_server import EngineSpec, run_inference_server
from workers.mp import mp_context
from workers.pipeline_api import CameraRuntime, PipelineMetrics, PollBatch
from workers.pipeline_base import PipelineBase, discard_queue
from workers.supervisor import SupervisedChild, Supervisor

log = logging.getLogger(__name__)

__all__ = ["CameraRuntime", "EngineSpec", "Pipeline", "PipelineMetrics", "PollBatch"]


class Pipeline(PipelineBase):
    """Camera workers + one inference server + supervisor. Safe to start/stop repeatedly (idempotent).

    ``engine_spec``: picklable recipe of the engine the inference child builds (default: ``cfg.engine`` through
    ``core.engine.factory.create_engine``); tests pass a fast stand-in.
    """

    def __init__(self, cfg: AppConfig, data_dir: Path, *, engine_spec: EngineSpec | None = None):
        super().__init__(cfg, data_dir, engine_spec=engine_spec)
        self._ctx = mp_context()
        self._cams: dict[str, CameraConfig] = {}
        self._children: dict[str, SupervisedChild] = {}  # camera id -> child
        self._inf = SupervisedChild("inference")
        self._control_q: Any = None
        self._supervisor = Supervisor(cfg.inference.restart_backoff_max_s)
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
            self._close_camera(cid)
        unlink_all_created()
        for q in (self._input_q, self._status_q, self._output_q, self._control_q,
                  *[c.feedback_q for c in self._children.values()]):
            discard_queue(q)
        self._children.clear()
        self._cams.clear()
        self._inf = SupervisedChild("inference")
        log.info("pipeline stopped")

    # -- cameras -----------------------------------------------------------------------------------
    def add_camera(self, cam: CameraConfig) -> None:
        """Start a camera worker (replacing a running one with the same id)."""
        if not self._running:
            raise RuntimeError("start the pipeline before adding cameras")
        if cam.id in self._cams:
            self.remove_camera(cam.id)
        self._open_camera(cam)
        self._cams[cam.id] = cam
        self._children[cam.id] = SupervisedChild(f"camera {cam.id}")
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
            discard_queue(ch.feedback_q)
        if self._control_q is not None:
            try:
                self._control_q.put_nowait(CameraRemoved(camera_id))
            except Exception:  # noqa: BLE001
                pass
        self._close_camera(camera_id)

    @property
    def camera_ids(self) -> list[str]:
        return list(self._cams)

    # -- after every poll: overlays feedback + supervision --------------------------------------------
    def _after_poll(self, batch: PollBatch, now: float) -> None:
        for r in batch.results:
            ch = self._children.get(r.camera_id)
            if ch is not None and ch.feedback_q is not None:
                try:
                    ch.feedback_q.put_nowait(r)
                except (queue.Full, ValueError, OSError):
                    pass  # overlays may skip; inference never waits
        self._supervise(now)

    # -- children ----------------------------------------------------------------------------------
    def _start_inference(self) -> None:
        discard_queue(self._output_q)
        discard_queue(self._control_q)
        # fresh queues per incarnation: a killed server can never leave them locked or half-written
        self._output_q = self._ctx.Queue()
        self._control_q = self._ctx.Queue()
        heartbeat = self._ctx.Value("d", 0.0, lock=False)
        process = self._ctx.Process(
            target=run_inference_server, name="spg-inference", daemon=True,
            args=(self.cfg, str(self.data_dir), self.engine_spec, self._input_q, self._output_q, self._control_q,
                  heartbeat, child_log_queue()))
        process.start()
        self._inf.started_now(process, heartbeat)

    def _start_camera(self, camera_id: str) -> None:
        ch = self._children[camera_id]
        cam = self._cams[camera_id]
        discard_queue(ch.feedback_q)
        ch.stop_event = self._ctx.Event()
        ch.feedback_q = self._ctx.Queue(maxsize=4)
        heartbeat = self._ctx.Value("d", 0.0, lock=False)
        buf = self._buffers.get(camera_id)
        args = CameraWorkerArgs(cam, self.cfg.camera, buf.name if buf is not None else None, self.cfg.logging.level,
                                below_normal=self.cfg.inference.children_below_normal)
        process = self._ctx.Process(target=run_camera_worker, name=f"spg-camera-{camera_id}", daemon=True,
                                    args=(args, self._input_q, self._status_q, ch.feedback_q, ch.stop_event,
                                          heartbeat, child_log_queue()))
        process.start()
        ch.started_now(process, heartbeat)

    def _supervise(self, now: float) -> None:
        inf = self.cfg.inference
        msg = self._supervisor.check(self._inf, inf.hang_timeout_s, now, self._start_inference)
        if msg:
            self._errors.append(msg)
        c = self.cfg.camera
        cam_hang = inf.hang_timeout_s + c.open_timeout_s + c.read_timeout_s  # a blocking open/read is no hang
        for cid, ch in list(self._children.items()):
            msg = self._supervisor.check(ch, cam_hang, now, functools.partial(self._start_camera, cid))
            if not msg:
                continue
            self._errors.append(msg)
            rt = self._runtime.get(cid)
            if rt is not None:
                rt.restarts = ch.restarts
                if ch.gave_up:
                    rt.state, rt.reason = CameraState.FAILED.value, msg

    def _inference_up(self) -> bool:
        return self._inf.up()

    def _inference_restarts(self) -> int:
        return self._inf.restarts

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

