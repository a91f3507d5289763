"""Prometheus metrics of one console or headless run, served at ``http://127.0.0.1:<port>/metrics``.

The router (``workers.router.Router``, the one loop of the console and the headless run) feeds a
:class:`Metrics` with what it already has in hand each step (results, camera statuses, inference statistics,
presence rows, the attendance service's :class:`core.attendance_api.AttendanceStatus`), so the figures are the
same whichever front end runs. Feeding is a few dictionary look-ups and lock-protected additions per result.

Everything lives in a registry of its own (not prometheus-client's global one): a second run in the same
process (the console restarting its pipeline after a settings change, the tests) starts from a clean slate,
and no third-party module's metrics leak into ours. The HTTP server is prometheus-client's own
(:func:`prometheus_client.start_http_server`), one daemon thread.

Sources that count from their own start (a camera worker's dropped frames and reconnects, the inference server's
embeddings, the outbox's failures) become ``_total`` counters through :class:`_Cumulative`: a value lower than the
last one means the source restarted, and counts from zero again.

The central link (the PostgreSQL link to head office) publishes a :class:`core.central.link_state.LinkState`
whenever it changes; :meth:`Metrics.set_central_link` takes it from whatever thread (one reference assignment) and
``spg_central_link_up`` / ``spg_central_link_waiting_events`` are exported from the latest one, only while a
central database is configured (``enabled``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from core.attendance_api import AttendanceStatus, SpgPresence
from core.central.link_state import LinkState
from core.config import MonitoringConfig
from core.messages import CameraState, CameraStatus, FrameResult, InferenceStats

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
"""Capture-to-result latency: on a 2-core outlet PC a processed frame takes 50-500 ms."""

# The exported names (README lists them; a test checks every one is served).
METRIC_NAMES = (
    "spg_camera_up", "spg_camera_capture_frames_per_second", "spg_camera_processed_frames_per_second",
    "spg_camera_frames_processed_total", "spg_camera_faces_detected_total", "spg_camera_dropped_frames_total",
    "spg_camera_reconnects_total", "spg_inference_latency_seconds", "spg_inference_faces_per_second",
    "spg_inference_embeddings_per_second", "spg_inference_embeddings_total", "spg_inference_input_queue_depth",
    "spg_present_spgs", "spg_absent_spgs", "spg_on_shift_spgs", "spg_alert_outbox_pending_alerts",
    "spg_alert_delivery_failures_total", "spg_database_up", "spg_mqtt_connected", "spg_mqtt_dropped_messages_total",
)


class _Cumulative:
    """Turns "total since the source started" into increments of a counter (a lower value = a restart)."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def delta(self, key: str, value: int) -> int:
        last = self._last.get(key)
        self._last[key] = value
        if last is None:
            return value
        return value - last if value >= last else value

    def forget(self, key: str) -> None:
        self._last.pop(key, None)


class _CentralLink(Collector):
    """The central link's figures, exported only while a central database is configured."""

    def __init__(self) -> None:
        self.state: LinkState | None = None

    def collect(self) -> Iterator[Metric]:
        state = self.state
        if state is None or not state.enabled:
            return
        yield GaugeMetricFamily("spg_central_link_up", "1 while the link to the central database works",
                                value=1.0 if state.connected else 0.0)
        yield GaugeMetricFamily("spg_central_link_waiting_events",
                                "Events stored here and not yet acknowledged by the central database",
                                value=float(state.waiting))

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing fixed to describe: exported only while a link is configured


@dataclass
class _Camera:
    up: Gauge
    capture_fps: Gauge
    processed_fps: Gauge
    frames: Counter
    faces: Counter
    dropped: Counter
    reconnects: Counter


class Metrics:
    """The run's metrics in their own registry; :meth:`start` serves them over HTTP when a port is set."""

    def __init__(self, cfg: MonitoringConfig | None = None) -> None:
        self.cfg = cfg or MonitoringConfig()
        self.registry = r = CollectorRegistry()
        cam = ["camera"]
        self._up = Gauge("spg_camera_up", "1 while the camera delivers frames (state live)", cam, registry=r)
        self._capture_fps = Gauge("spg_camera_capture_frames_per_second", "Frames read from the camera per second",
                                  cam, registry=r)
        self._processed_fps = Gauge("spg_camera_processed_frames_per_second",
                                    "Frames of the camera that inference processed per second", cam, registry=r)
        self._frames = Counter("spg_camera_frames_processed_total", "Frames of the camera processed by inference",
                               cam, registry=r)
        self._faces = Counter("spg_camera_faces_detected_total", "Faces found in the camera's processed frames",
                              cam, registry=r)
        self._dropped = Counter("spg_camera_dropped_frames_total",
                                "Frames the camera worker dropped (inference busy, queue full)", cam, registry=r)
        self._reconnects = Counter("spg_camera_reconnects_total", "Times the camera was reconnected", cam,
                                   registry=r)
        self._latency = Histogram("spg_inference_latency_seconds", "Capture to recognition result, per frame",
                                  buckets=LATENCY_BUCKETS_S, registry=r)
        self._faces_rate = Gauge("spg_inference_faces_per_second", "Faces handled by inference per second",
                                 registry=r)
        self._emb_rate = Gauge("spg_inference_embeddings_per_second", "Face embeddings computed per second",
                               registry=r)
        self._embeddings = Counter("spg_inference_embeddings_total", "Face embeddings computed", registry=r)
        self._queue = Gauge("spg_inference_input_queue_depth", "Frames waiting for inference", registry=r)
        self._present = Gauge("spg_present_spgs", "SPGs present now (grace included)", registry=r)
        self._absent = Gauge("spg_absent_spgs", "SPGs marked absent now", registry=r)
        self._on_shift = Gauge("spg_on_shift_spgs", "SPGs whose shift runs now", registry=r)
        self._outbox = Gauge("spg_alert_outbox_pending_alerts", "Alerts waiting for delivery", registry=r)
        self._alert_failures = Counter("spg_alert_delivery_failures_total",
                                       "Alert delivery attempts that failed (retried ones included)", registry=r)
        self._db_up = Gauge("spg_database_up", "1 while the events database takes writes", registry=r)
        self._mqtt_up = Gauge("spg_mqtt_connected", "1 while connected to the MQTT broker", registry=r)
        self._mqtt_dropped = Counter("spg_mqtt_dropped_messages_total",
                                     "MQTT messages dropped because the broker was away too long", registry=r)
        self._link = _CentralLink()
        r.register(self._link)
        self._cams: dict[str, _Camera] = {}
        self._totals = _Cumulative()
        self._last_stats: InferenceStats | None = None
        self._server: WSGIServer | None = None
        self.port: int | None = None
        """The port actually served (after :meth:`start`); None when off or the port could not be opened."""

    # --- serving -------------------------------------------------------------------------------
    def start(self) -> None:
        """Serve ``/metrics`` on ``monitoring.metrics_host:metrics_port``; a port that cannot be opened is
        logged and the run goes on without metrics."""
        port = self.cfg.metrics_port
        if not port or self._server is not None:
            return
        try:
            self._server, _ = start_http_server(port, addr=self.cfg.metrics_host, registry=self.registry)
        except OSError as exc:
            log.error("metrics not served: cannot open %s:%d (%s); choose another monitoring.metrics_port",
                      self.cfg.metrics_host, port, exc.strerror or exc)
            return
        self.port = port
        log.info("Prometheus metrics at http://%s:%d/metrics", self.cfg.metrics_host, port)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self.port = None

    # --- feeding (router thread) ---------------------------------------------------------------
    def _camera(self, cid: str) -> _Camera:
        c = self._cams.get(cid)
        if c is None:
            c = self._cams[cid] = _Camera(
                self._up.labels(cid), self._capture_fps.labels(cid), self._processed_fps.labels(cid),
                self._frames.labels(cid), self._faces.labels(cid), self._dropped.labels(cid),
                self._reconnects.labels(cid))
        return c

    def on_results(self, results: Iterable[FrameResult]) -> None:
        for r in results:
            c = self._camera(r.camera_id)
            c.frames.inc()
            if r.faces:
                c.faces.inc(len(r.faces))
            self._latency.observe(max(0.0, float(r.latency_ms)) / 1000.0)

    def on_statuses(self, statuses: Iterable[CameraStatus]) -> None:
        for st in statuses:
            c = self._camera(st.camera_id)
            c.up.set(1.0 if st.state is CameraState.LIVE else 0.0)
            c.capture_fps.set(st.metrics.capture_fps)
            c.dropped.inc(self._totals.delta(f"dropped/{st.camera_id}", st.metrics.dropped))
            c.reconnects.inc(self._totals.delta(f"reconnects/{st.camera_id}", st.metrics.reconnects))

    def on_stats(self, stats: Iterable[InferenceStats]) -> None:
        for s in stats:
            self._faces_rate.set(s.faces_per_s)
            self._queue.set(s.input_queue_depth)
            added = self._totals.delta("embeddings", s.embeddings)
            self._embeddings.inc(added)
            last = self._last_stats
            if last is not None and s.timestamp > last.timestamp:
                self._emb_rate.set(added / (s.timestamp - last.timestamp))
            self._last_stats = s

    def on_rates(self, rates: dict[str, tuple[float, float]]) -> None:
        """The router's per-camera processed frames/s (about once a second)."""
        for cid, (fps, _) in rates.items():
            self._camera(cid).processed_fps.set(fps)

    def on_presence(self, rows: Sequence[SpgPresence]) -> None:
        self._present.set(sum(1 for p in rows if p.state in ("present", "grace")))
        self._absent.set(sum(1 for p in rows if p.state == "absent"))
        self._on_shift.set(sum(1 for p in rows if p.shift_status == "on duty"))

    def on_attendance(self, status: AttendanceStatus) -> None:
        self._db_up.set(1.0 if status.store_ok else 0.0)
        self._outbox.set(status.alerts_pending)
        self._alert_failures.inc(self._totals.delta("alert_failures", status.alert_failures))

    def on_mqtt(self, connected: bool, dropped: int) -> None:
        self._mqtt_up.set(1.0 if connected else 0.0)
        self._mqtt_dropped.inc(self._totals.delta("mqtt_dropped", dropped))

    def forget_camera(self, cid: str) -> None:
        """The camera was removed: its series disappear instead of freezing at their last value."""
        if self._cams.pop(cid, None) is None:
            return
        for metric in (self._up, self._capture_fps, self._processed_fps, self._frames, self._faces, self._dropped,
                       self._reconnects):
            metric.remove(cid)
        self._totals.forget(f"dropped/{cid}")
        self._totals.forget(f"reconnects/{cid}")

    def set_central_link(self, state: LinkState | None) -> None:
        """The central link's latest state (any thread); None or ``enabled=False`` stops exporting it."""
        self._link.state = state
