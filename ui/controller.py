"""PipelineController: the one QThread that owns the camera pipeline and the attendance service.

It runs the router loop ``batch = pipeline.poll(); attendance.on_frame_result(...); attendance.tick()``
and turns everything into Qt signals. The UI thread never reads a queue, loads a model or touches
SharedMemory: frames of VISIBLE cameras are copied once, here, from SharedMemory into a QImage
(QImage is safe to build off the GUI thread); frames of cameras nobody sees are never converted.

Commands from the UI (add/remove camera, new config, gallery changed, stop) go through a thread-safe
queue and are applied between two polls.
"""

from __future__ import annotations

import inspect
import logging
import queue
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

from core.config import AppConfig, CameraConfig, CameraDefaults
from core.messages import CameraState, CameraStatus, FrameResult, InferenceStats
from core.pipeline_health import PipelineHealth
from core.secrets import redact
from ui.event_log import UiEvent
from ui.presence_table import PresenceRow, row_from

if TYPE_CHECKING:
    from workers.camera_source import ProbeResult

log = logging.getLogger(__name__)

PipelineFactory = Callable[[AppConfig, Path], Any]
AttendanceFactory = Callable[[AppConfig, Path, Callable[[], dict[str, str]]], Any]


def frame_to_qimage(pipeline: Any, result: FrameResult) -> QImage | None:
    """Copy the result's frame out of SharedMemory into a new QImage: exactly one copy.

    If the pipeline's ``read_frame`` accepts ``out=`` the pixels are written straight into the
    QImage's buffer; otherwise the array it returns is copied into the QImage.
    """
    if result.slot < 0:
        return None
    accepts_out = getattr(pipeline, "_read_frame_accepts_out", None)
    if accepts_out is None:
        try:
            accepts_out = "out" in inspect.signature(pipeline.read_frame).parameters
        except (TypeError, ValueError):
            accepts_out = False
        try:
            pipeline._read_frame_accepts_out = accepts_out
        except AttributeError:
            pass
    if accepts_out:
        shape = pipeline.frame_shape(result.camera_id) if hasattr(pipeline, "frame_shape") else None
        if shape is not None:
            img, view = new_qimage(int(shape[0]), int(shape[1]))
            ok = pipeline.read_frame(result.camera_id, result.slot, result.generation, out=view)
            return img if ok is not None and ok is not False else None
    arr = pipeline.read_frame(result.camera_id, result.slot, result.generation)
    return array_to_qimage(arr)


def read_array(pipeline: Any, result: FrameResult) -> np.ndarray | None:
    """The result's frame as a numpy array (a copy), or None when the slot was overwritten."""
    if result.slot < 0:
        return None
    if getattr(pipeline, "_read_frame_accepts_out", False) and hasattr(pipeline, "frame_shape"):
        shape = pipeline.frame_shape(result.camera_id)
        out = np.empty((int(shape[0]), int(shape[1]), 3), dtype=np.uint8)
        ok = pipeline.read_frame(result.camera_id, result.slot, result.generation, out=out)
        return out if ok is not None and ok is not False else None
    return pipeline.read_frame(result.camera_id, result.slot, result.generation)


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


def default_pipeline_factory(cfg: AppConfig, data_dir: Path) -> Any:
    from workers.pipeline import Pipeline

    return Pipeline(cfg, data_dir)


def default_attendance_factory(cfg: AppConfig, data_dir: Path, names: Callable[[], dict[str, str]]) -> Any:
    from core.attendance import open_attendance

    return open_attendance(cfg, data_dir, names)


class PipelineController(QThread):
    started_ok = Signal(object)  # dict with engine/provider info (may be empty)
    failed = Signal(str)  # the pipeline could not start: a sentence for the user
    frame_ready = Signal(str, object, object)  # camera_id, QImage, FrameResult
    camera_status = Signal(object)  # CameraStatus
    stats = Signal(object)  # InferenceStats
    camera_rates = Signal(object)  # {camera_id: (processed fps, mean latency ms)}
    presence_changed = Signal(object)  # list[PresenceRow]
    event = Signal(object)  # UiEvent

    def __init__(
        self,
        cfg: AppConfig,
        data_dir: Path,
        *,
        pipeline_factory: PipelineFactory | None = None,
        attendance_factory: AttendanceFactory | None = None,
        names: Callable[[], dict[str, str]] | None = None,
        thumbs: Callable[[str], str] | None = None,
        unknown_keeper: Any = None,
        presence_push_s: float = 1.0,
        parent=None,
    ):
        super().__init__(parent)
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self._pipeline_factory = pipeline_factory or default_pipeline_factory
        self._attendance_factory = attendance_factory or default_attendance_factory
        self._names = names or (dict)
        self._thumbs = thumbs
        self._push_s = presence_push_s
        self.unknown_keeper = unknown_keeper
        self._commands: queue.Queue = queue.Queue()
        self._stop = False
        self._visible: frozenset[str] = frozenset()
        self.pipeline: Any = None
        self.attendance: Any = None
        self.converted_frames = 0
        self.skipped_frames = 0
        self._states: dict[str, CameraState] = {}
        self._health = PipelineHealth()
        self.setObjectName("PipelineController")

    # --- called from the UI thread (thread-safe) -----------------------------------------------
    def set_visible(self, cameras: frozenset[str]) -> None:
        self._visible = frozenset(cameras)  # one reference assignment: atomic

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

    # --- the router loop (controller thread) ---------------------------------------------------
    def run(self) -> None:  # noqa: C901 - one loop, kept in one place on purpose
        try:
            self.pipeline = self._pipeline_factory(self.cfg, self.data_dir)
            self.pipeline.start()
            self.attendance = self._attendance_factory(self.cfg, self.data_dir, self._names)
        except Exception as exc:  # noqa: BLE001 - becomes a dialog, never a silent exit
            log.exception("pipeline failed to start")
            self.failed.emit(redact(f"{exc.__class__.__name__}: {exc}" if not str(exc) else str(exc)))
            self._stop_pipeline()
            return
        self.started_ok.emit(self._engine_info())
        last_push = 0.0
        last_rates = time.monotonic()
        counts: dict[str, int] = defaultdict(int)
        lat_sum: dict[str, float] = defaultdict(float)
        self._push_presence()
        try:
            while not self._stop:
                self._run_commands()
                if self._stop:
                    break
                batch = self.pipeline.poll()
                results = list(getattr(batch, "results", []) or [])
                latest: dict[str, FrameResult] = {}
                transitions = []
                for r in results:
                    transitions.extend(self.attendance.on_frame_result(r, snapshot=lambda r=r: read_array(self.pipeline, r)) or [])
                    counts[r.camera_id] += 1
                    lat_sum[r.camera_id] += float(r.latency_ms)
                    latest[r.camera_id] = r
                    if self.unknown_keeper is not None:
                        self._keep_unknown(r)
                visible = self._visible
                for cam, r in latest.items():
                    if cam in visible:
                        img = None
                        try:
                            img = frame_to_qimage(self.pipeline, r)
                        except Exception as exc:  # noqa: BLE001 - a torn frame is skipped, not fatal
                            log.debug("frame read failed for %s: %s", cam, exc)
                        self.converted_frames += 1
                        self.frame_ready.emit(cam, img, r)
                    else:
                        self.skipped_frames += 1
                for st in getattr(batch, "statuses", []) or []:
                    self._on_status(st)
                for err in getattr(batch, "errors", []) or []:
                    self._event("camera", redact(str(err)))
                stats = getattr(batch, "stats", None)
                for s in stats if isinstance(stats, (list, tuple)) else ([stats] if stats else []):
                    if isinstance(s, InferenceStats) or s is not None:
                        self.stats.emit(s)
                self._health.update(batch)
                self.attendance.on_pipeline_health(self._health.camera_live(), self._health.inference_ok(),
                                                   self._health.ended())
                transitions.extend(self.attendance.tick() or [])
                for t in transitions:
                    self._on_transition(t)
                now = time.monotonic()
                if transitions or now - last_push >= self._push_s:
                    self._push_presence()
                    last_push = now
                if now - last_rates >= 1.0:
                    dt = now - last_rates
                    rates = {c: (counts[c] / dt, (lat_sum[c] / counts[c]) if counts[c] else 0.0) for c in set(counts) | set(self._states)}
                    self.camera_rates.emit(rates)
                    counts.clear()
                    lat_sum.clear()
                    last_rates = now
                if not results and not transitions:
                    self.msleep(20)
        except Exception as exc:  # noqa: BLE001
            log.exception("router loop failed")
            self.failed.emit(redact(str(exc) or exc.__class__.__name__))
        finally:
            self._stop_pipeline()

    def _keep_unknown(self, r: FrameResult) -> None:
        faces = self.unknown_keeper.wanted(r)
        if not faces:
            return
        try:
            arr = read_array(self.pipeline, r)
            if arr is not None:
                self.unknown_keeper.save(r, arr, faces)
        except Exception as exc:  # noqa: BLE001 - an unknown-face crop is never worth a crash
            log.debug("unknown face crop failed: %s", exc)

    def _stop_pipeline(self) -> None:
        if self.pipeline is not None:
            try:
                self.pipeline.stop()
            except Exception:  # noqa: BLE001
                log.exception("pipeline stop failed")
        close = getattr(self.attendance, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001
                log.exception("attendance close failed")
        self.attendance = None

    def _engine_info(self) -> dict:
        info: dict = {"pack": self.cfg.engine.pack}
        try:
            m = self.pipeline.metrics() if hasattr(self.pipeline, "metrics") else None
            if isinstance(m, dict):
                info.update(m)
            elif m is not None:
                info.update({k: getattr(m, k) for k in ("engine", "provider") if getattr(m, k, "")})
        except Exception:  # noqa: BLE001
            pass
        return info

    def _run_commands(self) -> None:
        while True:
            try:
                cmd, arg = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                if cmd == "stop":
                    self._stop = True
                elif cmd == "add_camera":
                    self.pipeline.add_camera(arg)
                    self._event("camera", self.tr("Camera {cam} added").format(cam=arg.name or arg.id))
                elif cmd == "remove_camera":
                    self.pipeline.remove_camera(arg)
                    self._states.pop(arg, None)
                    self._health.forget(arg)
                    self._event("camera", self.tr("Camera {cam} removed").format(cam=arg))
                elif cmd == "config":
                    self._apply_config(arg)
                elif cmd == "gallery":
                    for name in ("reload_gallery", "gallery_changed"):
                        fn = getattr(self.pipeline, name, None)
                        if callable(fn):
                            fn()
                            break
                    fn = getattr(self.attendance, "refresh_people", None)
                    if callable(fn):
                        fn()
                    self._push_presence()
            except Exception as exc:  # noqa: BLE001 - a bad command must not kill the loop
                log.exception("command %s failed", cmd)
                self._event("info", self.tr("Could not apply a change: {err}").format(err=redact(str(exc))))

    def _apply_config(self, cfg: AppConfig) -> None:
        """Cameras added start and removed ones stop; any other change restarts the pipeline and the
        attendance service here, in the controller thread (the console itself keeps running)."""
        same_rest = cfg.model_dump(exclude={"cameras"}) == self.cfg.model_dump(exclude={"cameras"}) and \
            cfg.telegram.token == self.cfg.telegram.token and cfg.telegram.chat_id == self.cfg.telegram.chat_id
        if not same_rest:
            self._event("info", self.tr("Restarting the cameras with the new settings…"))
            self._stop_pipeline()
            self.cfg = cfg
            self.pipeline = self._pipeline_factory(cfg, self.data_dir)
            self.pipeline.start()
            self.attendance = self._attendance_factory(cfg, self.data_dir, self._names)
            self._states.clear()
            self._health = PipelineHealth()
            self._push_presence()
            return
        old = {c.id: c for c in self.cfg.cameras}
        new = {c.id: c for c in cfg.cameras}
        for cid in old:
            if cid not in new or old[cid] != new[cid]:
                self.pipeline.remove_camera(cid)
                self._states.pop(cid, None)
                self._health.forget(cid)
        for cid, cam in new.items():
            if (cid not in old or old[cid] != cam) and cam.enabled:
                self.pipeline.add_camera(cam)
        self.cfg = cfg

    def _on_status(self, st: CameraStatus) -> None:
        prev = self._states.get(st.camera_id)
        self._states[st.camera_id] = st.state
        self.camera_status.emit(st)
        if prev != st.state and st.state in (CameraState.LIVE, CameraState.RECONNECTING, CameraState.FAILED):
            text = {
                CameraState.LIVE: self.tr("Camera {cam} is live"),
                CameraState.RECONNECTING: self.tr("Camera {cam} is reconnecting"),
                CameraState.FAILED: self.tr("Camera {cam} failed"),
            }[st.state].format(cam=st.camera_id)
            if st.reason:
                text += f": {redact(st.reason)}"
            self._event("camera", text)

    def _on_transition(self, t: Any) -> None:
        names = self._safe_names()
        spg = str(getattr(t, "spg_id", "") or (t.get("spg_id", "") if isinstance(t, dict) else ""))
        name = getattr(t, "name", None) or names.get(spg, spg)
        new = getattr(t, "new_state", None) or getattr(t, "to_state", None) or getattr(t, "state", None)
        new_s = str(getattr(new, "value", new) or "")
        kind = "alert" if (getattr(t, "alert", False) or "absent" in new_s.lower()) else "transition"
        labels = {"present": self.tr("PRESENT"), "grace": self.tr("GRACE"), "absent": self.tr("ABSENT"), "not_seen": self.tr("NOT SEEN")}
        state_label = labels.get(new_s.lower(), new_s.upper().replace("_", " "))
        text = getattr(t, "message", None) or self.tr("{name}: {state}").format(name=name, state=state_label)
        if kind == "alert" and not getattr(t, "message", None):
            text = self.tr("{name} is ABSENT (away longer than allowed)").format(name=name)
        ts = float(getattr(t, "timestamp", 0.0) or getattr(t, "at", 0.0) or time.time())
        self.event.emit(UiEvent(ts, kind, str(text), spg))

    def _event(self, kind: str, text: str) -> None:
        self.event.emit(UiEvent(time.time(), kind, text))

    def _safe_names(self) -> dict[str, str]:
        try:
            return dict(self._names())
        except Exception:  # noqa: BLE001
            return {}

    def _push_presence(self) -> None:
        if self.attendance is None:
            return
        try:
            snap = self.attendance.snapshot()
        except Exception:  # noqa: BLE001
            log.exception("presence snapshot failed")
            return
        names = self._safe_names()
        rows: list[PresenceRow] = [row_from(item, names, self._thumbs) for item in snap]
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
