"""PipelineController: the one QThread that drives the router (``workers.router.Router``) for the console.

A thin Qt adapter: the router does the work that the headless run does too (poll, attendance, unknown faces,
which frames to hand off); this thread turns each :class:`workers.router.RouterBatch` into Qt signals. The
UI thread never reads a queue, loads a model or touches SharedMemory: the newest frame of each VISIBLE
camera is copied once, here, straight from SharedMemory into a QImage (QImage is safe to build off the GUI
thread); frames of cameras nobody sees are never copied.

Commands from the UI (add/remove camera, new config, gallery changed, stop) go through a thread-safe
queue and are applied between two router steps. ``ui/`` reaches ``workers/`` only through this module.
"""

from __future__ import annotations

import gc
import logging
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtGui import QImage

from core.attendance_api import AttendanceApi, SpgPresence
from core.config import AppConfig, CameraConfig, CameraDefaults
from core.messages import CameraState, FrameResult
from core.presence import State, Transition
from core.secrets import redact
from core.unknown_faces import UnknownFaceKeeper
from ui.event_log import UiEvent
from ui.presence_table import PresenceRow, row_from
from workers.pipeline_api import PipelineApi
from workers.router import Router, RouterBatch, events_for, metrics_for, unknown_keeper_for

if TYPE_CHECKING:
    from workers.camera_source import ProbeResult

log = logging.getLogger(__name__)

PipelineFactory = Callable[[AppConfig, Path], PipelineApi]
AttendanceFactory = Callable[[AppConfig, Path, Callable[[], dict[str, str]]], AttendanceApi]


class FrameScratch:
    """One reused BGR buffer the controller thread copies frames into (the SharedMemory read must be a plain
    copy, checked against the slot's generation), before converting them into a paint-ready image."""

    def __init__(self) -> None:
        self.buf: np.ndarray | None = None

    def get(self, h: int, w: int) -> np.ndarray:
        if self.buf is None or self.buf.shape != (h, w, 3):
            self.buf = np.empty((h, w, 3), np.uint8)
        return self.buf


def frame_to_qimage(pipeline: PipelineApi, result: FrameResult, scratch: FrameScratch | None = None) -> QImage | None:
    """The result's frame out of SharedMemory as a new QImage in ``Format_RGB32``, the format QPainter draws
    without converting: a BGR888 image is converted in full on EVERY paint (measured 2-5x the cost of the
    draw itself, which at 16 tiles stalled the UI thread). The copy out and the conversion (OpenCV, which
    releases the GIL) happen here, on the controller thread. None when the frame is gone (slot overwritten,
    no SharedMemory)."""
    if result.slot < 0:
        return None
    shape = pipeline.frame_shape(result.camera_id)
    if shape is None:
        return None
    h, w = int(shape[0]), int(shape[1])
    bgr = (scratch or FrameScratch()).get(h, w)
    if pipeline.read_frame(result.camera_id, result.slot, result.generation, out=bgr) is None:
        return None
    img = QImage(w, h, QImage.Format.Format_RGB32)
    view = np.frombuffer(img.bits(), dtype=np.uint8).reshape(h, img.bytesPerLine())[:, : w * 4].reshape(h, w, 4)
    cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA, dst=view)  # Format_RGB32 is B, G, R, 0xff in memory
    return img


def new_qimage(h: int, w: int) -> tuple[QImage, np.ndarray]:
    """A new BGR888 QImage and a (h, w, 3) numpy view of its pixels (for copying into it)."""
    img = QImage(w, h, QImage.Format.Format_BGR888)
    view = np.frombuffer(img.bits(), dtype=np.uint8).reshape(h, img.bytesPerLine())[:, : w * 3].reshape(h, w, 3)
    return img, view


def array_to_qimage(arr: np.ndarray | None) -> QImage | None:
    """Copy a BGR uint8 array into a new QImage that owns its pixels."""
    if arr is None:
        return None
    if arr.ndim == 2:
        arr = arr[:, :, None].repeat(3, axis=2)
    h, w = arr.shape[:2]
    img, view = new_qimage(h, w)
    view[...] = arr
    return img


def default_pipeline_factory(cfg: AppConfig, data_dir: Path) -> PipelineApi:
    from workers.pipeline import Pipeline

    return Pipeline(cfg, data_dir)


def default_attendance_factory(cfg: AppConfig, data_dir: Path, names: Callable[[], dict[str, str]]) -> AttendanceApi:
    from core.attendance import open_attendance

    return open_attendance(cfg, data_dir, names)


class PipelineController(QThread):
    started_ok = Signal(object)  # dict with engine/provider info (may be empty)
    failed = Signal(str)  # the pipeline could not start: a sentence for the user
    frame_ready = Signal(str, object, object)  # camera_id, QImage | None, FrameResult
    camera_status = Signal(object)  # CameraStatus
    stats = Signal(object)  # InferenceStats
    camera_rates = Signal(object)  # {camera_id: (processed fps, mean latency ms)}
    presence_changed = Signal(object)  # list[PresenceRow]
    event_logged = Signal(object)  # UiEvent (not 'event': that would hide QObject.event)
    link_changed = Signal(object)  # core.central.link_state.LinkState: the central database link

    def __init__(
        self,
        cfg: AppConfig,
        data_dir: Path,
        *,
        pipeline_factory: PipelineFactory | None = None,
        attendance_factory: AttendanceFactory | None = None,
        names: Callable[[], dict[str, str]] | None = None,
        thumbs: Callable[[str], str] | None = None,
        unknown_keeper: UnknownFaceKeeper | None = None,
        presence_push_s: float = 1.0,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self._pipeline_factory = pipeline_factory or default_pipeline_factory
        self._attendance_factory = attendance_factory or default_attendance_factory
        self._names = names or (dict)
        self._thumbs = thumbs
        self._push_s = presence_push_s
        self.unknown_keeper = unknown_keeper if unknown_keeper is not None else unknown_keeper_for(cfg, data_dir)
        self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = False
        self._visible: frozenset[str] = frozenset()
        self.router: Router | None = None
        self.pipeline: PipelineApi | None = None
        """The running pipeline (kept after it stopped, for diagnostics)."""
        self.converted_frames = 0
        self.skipped_frames = 0
        self._scratch = FrameScratch()
        self.setObjectName("PipelineController")

    # --- called from the UI thread (thread-safe) -----------------------------------------------
    def set_visible(self, cameras: frozenset[str]) -> None:
        self._visible = frozenset(cameras)  # one reference assignment: atomic
        router = self.router
        if router is not None:
            router.set_visible(self._visible)

    def add_camera(self, cam: CameraConfig) -> None:
        self._commands.put(("add_camera", cam))

    def remove_camera(self, camera_id: str) -> None:
        self._commands.put(("remove_camera", camera_id))

    def apply_config(self, cfg: AppConfig) -> None:
        self._commands.put(("config", cfg))

    def gallery_changed(self) -> None:
        self._commands.put(("gallery", None))

    def request_stop(self) -> None:
        self._stop = True
        self._commands.put(("stop", None))

    def shutdown(self, timeout_s: float = 15.0) -> bool:
        """Stop the loop and the pipeline; True when everything stopped in time."""
        self.request_stop()
        if self.isRunning():
            return self.wait(int(timeout_s * 1000))
        return True

    # --- the controller thread -----------------------------------------------------------------
    def run(self) -> None:
        try:
            router = self._open_router(self.cfg)
        except Exception as exc:  # noqa: BLE001 - becomes a dialog, never a silent exit
            log.exception("pipeline failed to start")
            self.failed.emit(redact(str(exc) or exc.__class__.__name__))
            self._close_router()
            return
        self.started_ok.emit(self._engine_info(router.pipeline))
        self._push_presence(router)
        # Everything built so far (Qt wrappers, modules, the window) lives for the whole run: frozen out of the
        # collector, a full collection no longer walks it. A full collection holds the GIL, so it stalled the UI
        # thread too (242 ms seen with 16 cameras on a loaded 2-core machine).
        gc.freeze()
        try:
            while not self._stop:
                self._run_commands()
                if self._stop or self.router is None:
                    break
                self._emit(self.router.step())
        except Exception as exc:  # noqa: BLE001
            log.exception("router loop failed")
            self.failed.emit(redact(str(exc) or exc.__class__.__name__))
        finally:
            self._close_router()

    def _open_router(self, cfg: AppConfig) -> Router:
        pipeline = self._pipeline_factory(cfg, self.data_dir)
        self.pipeline = pipeline
        attendance = self._attendance_factory(cfg, self.data_dir, self._names)
        self.router = Router(pipeline, attendance, self.unknown_keeper, presence_every_s=self._push_s,
                             metrics=metrics_for(cfg), events=events_for(cfg))
        self.router.set_visible(self._visible)
        self.router.start()
        return self.router

    def _close_router(self) -> None:
        router, self.router = self.router, None
        if router is None:
            return
        try:
            router.close()
        except Exception:  # noqa: BLE001
            log.exception("pipeline stop failed")

    def _emit(self, batch: RouterBatch) -> None:
        pipeline = self.pipeline
        for r in batch.display:
            img = None
            try:
                if pipeline is not None:
                    img = frame_to_qimage(pipeline, r, self._scratch)
            except Exception as exc:  # noqa: BLE001 - a torn frame is skipped, not fatal
                log.debug("frame read failed for %s: %s", r.camera_id, exc)
            self.converted_frames += 1
            self.frame_ready.emit(r.camera_id, img, r)
        self.skipped_frames += batch.skipped
        for st in batch.statuses:
            self.camera_status.emit(st)
        for st in batch.state_changes:
            texts = {
                CameraState.LIVE: self.tr("Camera {cam} is live"),
                CameraState.RECONNECTING: self.tr("Camera {cam} is reconnecting"),
                CameraState.FAILED: self.tr("Camera {cam} failed"),
            }
            if st.state in texts:
                text = texts[st.state].format(cam=st.camera_id)
                if st.reason:
                    text += f": {redact(st.reason)}"
                self._event("camera", text)
        for err in batch.errors:
            self._event("camera", redact(err))
        for s in batch.stats:
            self.stats.emit(s)
        if batch.transitions:
            names = self._safe_names()
            for t in batch.transitions:
                self.event_logged.emit(self._transition_event(t, names))
        for a in batch.fraud:
            why = self.tr("liveness check") if a.kind == "liveness" else self.tr("face has not moved")
            self.event_logged.emit(UiEvent(a.timestamp, "alert", self.tr(
                "Possible photo or screen at camera {camera}: {name} is not counted as present ({why})").format(
                camera=a.camera_id, name=a.name, why=why), a.spg_id))
        if batch.presence is not None:
            self._emit_rows(batch.presence)
        if batch.rates is not None:
            self.camera_rates.emit(batch.rates)
        if batch.link is not None:
            self.link_changed.emit(batch.link)

    def _engine_info(self, pipeline: PipelineApi) -> dict[str, str]:
        info = {"pack": str(self.cfg.engine.pack or "")}
        try:
            m = pipeline.metrics()
            info.update(engine=m.engine, provider=m.provider)
        except Exception:  # noqa: BLE001 - the About dialog shows less, nothing else changes
            log.debug("pipeline metrics not available", exc_info=True)
        return {k: v for k, v in info.items() if v}

    def _run_commands(self) -> None:
        while True:
            try:
                cmd, arg = self._commands.get_nowait()
            except queue.Empty:
                return
            router = self.router
            if router is None:
                return
            try:
                if cmd == "stop":
                    self._stop = True
                elif cmd == "add_camera":
                    router.add_camera(arg)
                    self._event("camera", self.tr("Camera {cam} added").format(cam=arg.name or arg.id))
                elif cmd == "remove_camera":
                    router.remove_camera(arg)
                    self._event("camera", self.tr("Camera {cam} removed").format(cam=arg))
                elif cmd == "config":
                    self._apply_config(arg)
                elif cmd == "gallery":
                    router.gallery_changed()
                    self._push_presence(router)
            except Exception as exc:  # noqa: BLE001 - a bad command must not kill the loop
                log.exception("command %s failed", cmd)
                self._event("info", self.tr("Could not apply a change: {err}").format(err=redact(str(exc))))

    def _apply_config(self, cfg: AppConfig) -> None:
        """Cameras added start and removed ones stop; any other change restarts the pipeline and the
        attendance service here, in the controller thread (the console itself keeps running)."""
        same_rest = cfg.model_dump(exclude={"cameras"}) == self.cfg.model_dump(exclude={"cameras"}) and \
            cfg.telegram.token == self.cfg.telegram.token and cfg.telegram.chat_id == self.cfg.telegram.chat_id and \
            cfg.mqtt.username == self.cfg.mqtt.username and cfg.mqtt.password == self.cfg.mqtt.password and \
            cfg.central.url == self.cfg.central.url
        if same_rest and self.router is not None:
            self.router.sync_cameras(self.cfg.cameras, cfg.cameras)
            self.cfg = cfg
            return
        self._event("info", self.tr("Restarting the cameras with the new settings…"))
        self._close_router()
        self.cfg = cfg
        try:
            router = self._open_router(cfg)
        except Exception as exc:  # noqa: BLE001 - the same dialog as a failed start
            log.exception("pipeline failed to restart")
            self.failed.emit(redact(str(exc) or exc.__class__.__name__))
            self._close_router()
            self._stop = True
            return
        self._push_presence(router)

    def _state_label(self, state: State) -> str:
        return {State.PRESENT: self.tr("PRESENT"), State.GRACE: self.tr("GRACE"), State.ABSENT: self.tr("ABSENT"),
                State.NOT_SEEN: self.tr("NOT SEEN")}[state]

    def _transition_event(self, t: Transition, names: dict[str, str]) -> UiEvent:
        name = t.name or names.get(t.spg_id, t.spg_id)
        if t.alert or t.to_state is State.ABSENT:
            text = t.message or self.tr("{name} is ABSENT (away longer than allowed)").format(name=name)
            return UiEvent(t.timestamp, "alert", text, t.spg_id)
        text = t.message or self.tr("{name}: {state}").format(name=name, state=self._state_label(t.to_state))
        return UiEvent(t.timestamp, "transition", text, t.spg_id)

    def _event(self, kind: str, text: str) -> None:
        self.event_logged.emit(UiEvent(time.time(), kind, text))

    def _safe_names(self) -> dict[str, str]:
        try:
            return dict(self._names())
        except Exception:  # noqa: BLE001 - names are cosmetic
            log.debug("names not available", exc_info=True)
            return {}

    def _push_presence(self, router: Router) -> None:
        try:
            rows = router.presence()
        except Exception:  # noqa: BLE001
            log.exception("presence snapshot failed")
            return
        self._emit_rows(rows)

    def _emit_rows(self, snapshot: list[SpgPresence]) -> None:
        names = self._safe_names()
        rows: list[PresenceRow] = [row_from(item, names, self._thumbs) for item in snapshot]
        self.presence_changed.emit(rows)


# --- Cameras for the dialogs --------------------------------------------------------------------------------
# The Settings dialog's "Test connection" and the webcam enrollment preview open cameras through
# workers.camera_source, the one camera-open path (configured RTSP transport and timeouts); ui reaches
# workers only through this module.
def probe_camera(source: str | int, defaults: CameraDefaults | None = None) -> ProbeResult:
    """Open the camera, read one frame, close (blocking: call it off the UI thread)."""
    from workers.camera_source import probe

    return probe(source, defaults)


class CameraPreview:
    """Frames of one camera for a live preview, opened as a camera worker opens it. Errors are sentences
    (secrets masked), never exceptions, so a preview thread just shows them."""

    def __init__(self, source: str | int, defaults: CameraDefaults | None = None):
        from workers.camera_source import CameraSource, parse_source

        self._source = CameraSource(parse_source(source), defaults, loop=True, pace=False)
        self.label = self._source.label
        self.error: str | None = None

    def open(self) -> bool:
        from workers.camera_source import SourceError

        try:
            self._source.open()
        except SourceError as exc:
            self.error = str(exc)
            return False
        return True

    def read(self) -> np.ndarray | None:
        """The next frame (a video file loops, like a camera that never stops); None after a failure."""
        from workers.camera_source import SourceError

        try:
            return self._source.read()
        except SourceError as exc:
            self.error = str(exc)
            return None

    def close(self) -> None:
        self._source.close()
