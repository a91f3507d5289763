"""The router: the one loop between the pipeline and everything that uses its results.

Both ``app.py run --headless`` (:mod:`cli.run`) and the console's controller thread (:mod:`ui.controller`)
drive a :class:`Router`; they differ only in what they do with each :class:`RouterBatch` (JSON lines and
stderr, or Qt signals). So presence, unknown faces and frame hand-off behave the same in both::

    router = Router(pipeline, attendance, unknown_keeper_for(cfg, data_dir))
    router.start()
    while running:
        batch = router.step()   # poll -> attendance hits -> unknown faces -> tick -> health -> hand-off
    router.close()

Frames are copied out of SharedMemory only when someone needs them: once per result for a crop (an SPG's
alert photo, an unknown face), read lazily and shared by both; and for display, the newest result of each
VISIBLE camera is listed in :attr:`RouterBatch.display` for the caller to copy straight into its image.
Metrics (``core.metrics``, Prometheus) and MQTT events (``core.mqtt_events``) are fed here too, so the
console and the headless run export the same figures: per step what the pipeline delivered, about once a second
the camera rates, the attendance service's health and presence counts (presence rows every few seconds and after
each transition). Neither can slow or stop the loop: metrics are counter additions, MQTT messages go onto a
bounded queue, and a failure in either is logged, not raised.
Qt-free: no Qt import here (the controller adapts).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.attendance_api import AttendanceApi, FraudAlert, SpgPresence
from core.central.link_state import LinkState
from core.config import AppConfig, CameraConfig
from core.messages import CameraState, CameraStatus, FrameResult, InferenceStats
from core.metrics import Metrics
from core.mqtt_events import MqttEvents
from core.paths import DataLayout
from core.pipeline_health import PipelineHealth as HealthWatch
from core.presence import Transition
from core.unknown_faces import UnknownFaceKeeper
from workers.pipeline_api import PipelineApi

log = logging.getLogger(__name__)


@dataclass
class RouterBatch:
    """What one :meth:`Router.step` produced."""

    results: list[FrameResult] = field(default_factory=list)
    statuses: list[CameraStatus] = field(default_factory=list)
    state_changes: list[CameraStatus] = field(default_factory=list)
    """Statuses whose state differs from that camera's previous one (for the event log / stderr)."""
    stats: list[InferenceStats] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    fraud: list[FraudAlert] = field(default_factory=list)
    """Possible photos or screens of SPGs flagged this step (one per episode)."""
    display: list[FrameResult] = field(default_factory=list)
    """The newest result of each visible camera: copy its frame for the screen (nothing else is shown)."""
    skipped: int = 0
    """Newest results of cameras nobody sees this step (never copied)."""
    unknown_saved: list[Path] = field(default_factory=list)
    presence: list[SpgPresence] | None = None
    """Presence rows, when due (``presence_every_s``) or after a transition; None otherwise."""
    rates: dict[str, tuple[float, float]] | None = None
    """About once a second: camera id -> (processed frames/s, mean latency ms) since the last figures."""
    link: LinkState | None = None
    """The link to the central database, when it changed since the last step (also on the first step)."""


def unknown_keeper_for(cfg: AppConfig, data_dir: Path) -> UnknownFaceKeeper:
    """The keeper of unknown faces as the console and the headless run use it (``<data_dir>/unknown/``)."""
    return UnknownFaceKeeper(DataLayout(data_dir).unknown_faces, cfg.storage, cfg.engine.enroll_min_face_px)


def metrics_for(cfg: AppConfig) -> Metrics | None:
    """The run's Prometheus metrics when ``monitoring.metrics_port`` is set (served from :meth:`Router.start`)."""
    return Metrics(cfg.monitoring) if cfg.monitoring.metrics_port else None


def events_for(cfg: AppConfig) -> MqttEvents | None:
    """The run's MQTT publisher when ``mqtt.enabled`` (connects in the background from :meth:`Router.start`)."""
    return MqttEvents(cfg.mqtt, cfg.outlet.id) if cfg.mqtt.enabled else None


class _FrameOnce:
    """A result's frame, read from SharedMemory at most once, and only if someone asks for it."""

    def __init__(self, pipeline: PipelineApi, result: FrameResult):
        self._pipeline, self._result = pipeline, result
        self._done = False
        self._frame: np.ndarray | None = None

    def __call__(self) -> np.ndarray | None:
        if not self._done:
            self._done = True
            r = self._result
            if r.slot >= 0:
                self._frame = self._pipeline.read_frame(r.camera_id, r.slot, r.generation)
        return self._frame


class Router:
    """Drives one pipeline: feeds the attendance service (optional) and the unknown-face keeper (optional).

    ``presence_every_s``: also hand out presence rows this often (the console's table); None = only on request.
    ``metrics`` / ``events``: fed every step (see the module's doc); started and closed with the router.
    ``observe_every_s``: how often they get fresh presence rows (besides after each transition).
    """

    def __init__(self, pipeline: PipelineApi, attendance: AttendanceApi | None,
                 unknown_keeper: UnknownFaceKeeper | None = None, *, presence_every_s: float | None = None,
                 rates_every_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 metrics: Metrics | None = None, events: MqttEvents | None = None, observe_every_s: float = 5.0):
        self.pipeline = pipeline
        self.attendance = attendance
        self.unknown_keeper = unknown_keeper
        self.metrics = metrics
        self.events = events
        self._observe_every_s = observe_every_s
        self._last_observed = -1e18
        self._observe_failed_logged: float | None = None
        self._presence_every_s = presence_every_s
        self._rates_every_s = rates_every_s
        self._clock = clock
        self._visible: frozenset[str] = frozenset()
        self._states: dict[str, CameraState] = {}
        self._health = HealthWatch()
        self._last_presence = -1e18
        self._last_link: LinkState | None = None
        self._last_rates = clock()
        self._counts: dict[str, int] = defaultdict(int)
        self._latency: dict[str, float] = defaultdict(float)
        self.frames = 0
        self.faces = 0
        self.shown_frames = 0
        """Results handed out for display (visible cameras)."""
        self.skipped_frames = 0
        """Newest results of cameras nobody sees: never copied."""

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.metrics is not None:
            self.metrics.start()
        if self.events is not None:
            self.events.start()
        self.pipeline.start()

    def close(self) -> None:
        """Stop the pipeline, then close the attendance service (which stores what is still pending), then say
        ``offline`` on MQTT and stop serving metrics."""
        try:
            self.pipeline.stop()
        finally:
            try:
                if self.attendance is not None:
                    self.attendance.close()
                    self.attendance = None
            finally:
                if self.events is not None:
                    self.events.close()
                if self.metrics is not None:
                    self.metrics.close()

    # --- commands (between two steps) ----------------------------------------------------------
    def set_visible(self, cameras: frozenset[str]) -> None:
        self._visible = frozenset(cameras)  # one reference assignment: safe from another thread

    def add_camera(self, cam: CameraConfig) -> None:
        self.pipeline.add_camera(cam)

    def remove_camera(self, camera_id: str) -> None:
        self.pipeline.remove_camera(camera_id)
        self._states.pop(camera_id, None)
        self._health.forget(camera_id)
        if self.metrics is not None:
            self.metrics.forget_camera(camera_id)

    def sync_cameras(self, old: list[CameraConfig], new: list[CameraConfig]) -> None:
        """Stop cameras removed or changed, start cameras added or changed (and enabled)."""
        before = {c.id: c for c in old}
        after = {c.id: c for c in new}
        for cid, cam in before.items():
            if cid not in after or after[cid] != cam:
                self.remove_camera(cid)
        for cid, cam in after.items():
            if (cid not in before or before[cid] != cam) and cam.enabled:
                self.add_camera(cam)

    def gallery_changed(self) -> None:
        """The gallery on disk changed. The inference side notices by itself (``Gallery.version()``); the
        attendance service re-reads the names."""
        if self.attendance is not None:
            self.attendance.refresh_people()
        self._last_presence = -1e18  # new rows on the next step

    def set_central_link(self, state: LinkState | None) -> None:
        """The central link's latest state, from its own thread: exported by the metrics (nothing waits)."""
        if self.metrics is not None:
            self.metrics.set_central_link(state)

    def presence(self) -> list[SpgPresence]:
        return self.attendance.snapshot() if self.attendance is not None else []

    # --- the loop body -------------------------------------------------------------------------
    def step(self, timeout: float = 0.05) -> RouterBatch:
        polled = self.pipeline.poll(timeout)
        out = RouterBatch(results=polled.results, statuses=polled.statuses, stats=polled.stats,
                          errors=polled.errors)
        latest: dict[str, FrameResult] = {}
        self._health.update(polled)
        for r in polled.results:
            self.frames += 1
            self.faces += len(r.faces)
            self._counts[r.camera_id] += 1
            self._latency[r.camera_id] += float(r.latency_ms)
            latest[r.camera_id] = r
            frame = _FrameOnce(self.pipeline, r)
            if self.attendance is not None:
                out.transitions.extend(self.attendance.on_frame_result(r, frame))
            self._keep_unknown(r, frame, out)
        if self.attendance is not None:
            out.fraud.extend(self.attendance.take_fraud_alerts())
        for st in polled.statuses:
            if self._states.get(st.camera_id) != st.state:
                out.state_changes.append(st)
            self._states[st.camera_id] = st.state
        visible = self._visible
        for cam, r in latest.items():
            if cam in visible:
                out.display.append(r)
                self.shown_frames += 1
            else:
                out.skipped += 1
                self.skipped_frames += 1
        if self.attendance is not None:
            self.attendance.on_pipeline_health(self._health.camera_live(), self._health.inference_ok(),
                                               self._health.ended())
            out.transitions.extend(self.attendance.tick())
            link = self.attendance.link_state()
            if link != self._last_link:
                out.link = self._last_link = link
                self.set_central_link(link)
        now = self._clock()
        if self._presence_every_s is not None and self.attendance is not None and (
                out.transitions or now - self._last_presence >= self._presence_every_s):
            out.presence = self.attendance.snapshot()
            self._last_presence = now
        if now - self._last_rates >= self._rates_every_s:
            dt = now - self._last_rates
            cams = set(self._counts) | set(self._states)
            out.rates = {c: (self._counts[c] / dt, self._latency[c] / self._counts[c] if self._counts[c] else 0.0)
                         for c in cams}
            self._counts.clear()
            self._latency.clear()
            self._last_rates = now
        if self.metrics is not None or self.events is not None:
            try:
                self._observe(out, now)
            except Exception:  # noqa: BLE001 - metrics and MQTT never stop presence tracking
                if self._observe_failed_logged is None or now - self._observe_failed_logged >= 60.0:
                    self._observe_failed_logged = now
                    log.exception("metrics / MQTT update failed")
        return out

    def _observe(self, out: RouterBatch, now: float) -> None:
        """Hand this step to the metrics and the MQTT publisher (cheap; nothing here waits)."""
        m, ev = self.metrics, self.events
        if m is not None:
            m.on_results(out.results)
            m.on_statuses(out.statuses)
            m.on_stats(out.stats)
            if out.rates is not None:
                m.on_rates(out.rates)
                if self.attendance is not None:
                    m.on_attendance(self.attendance.status())
                if ev is not None:
                    m.on_mqtt(ev.connected, ev.dropped)
        if ev is not None:
            for st in out.state_changes:
                ev.camera(st)
            for t in out.transitions:
                ev.transition(t)
            for a in out.fraud:
                ev.fraud(a)
        if self.attendance is None:
            return
        rows = out.presence
        if rows is None and (out.transitions or now - self._last_observed >= self._observe_every_s):
            rows = self.attendance.snapshot()
        if rows is not None:
            self._last_observed = now
            if m is not None:
                m.on_presence(rows)
            if ev is not None:
                ev.presence(rows)

    def _keep_unknown(self, r: FrameResult, frame: _FrameOnce, out: RouterBatch) -> None:
        if self.unknown_keeper is None:
            return
        faces = self.unknown_keeper.wanted(r)
        if not faces:
            return
        try:
            arr = frame()
            if arr is not None:
                out.unknown_saved.extend(self.unknown_keeper.save(r, arr, faces))
        except Exception as exc:  # noqa: BLE001 - an unknown-face crop is never worth stopping the loop
            log.warning("unknown face crop failed: %s", exc)
