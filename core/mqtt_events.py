"""Presence state and events on an MQTT broker, for Home Assistant, Node-RED and the like (``mqtt.enabled``).

Topics (``<base>`` = ``<mqtt.topic_prefix>/<mqtt.outlet_id or outlet.id>``; the README shows the payloads):

* ``<base>/availability``: ``online`` / ``offline``, retained. The broker publishes ``offline`` itself (the
  Last Will) when this process dies without saying goodbye.
* ``<base>/spg/<spg_id>/state``: the SPG's presence as JSON, retained (a late subscriber gets it at once);
  an empty retained message removes an SPG no longer in the gallery.
* ``<base>/camera/<camera_id>/state``: the camera's state as JSON, retained.
* ``<base>/event/transition``, ``<base>/event/alert``: presence transitions and alerts as JSON, not retained.

A broker that is down or slow never slows the router: :meth:`MqttEvents.presence`, :meth:`transition` and
:meth:`camera` only put a message on a bounded queue (full = dropped and counted in :attr:`dropped`). One sender
thread hands the queue to paho-mqtt, whose own network thread (``loop_start``) connects and reconnects in the
background. The retained topics' latest payloads are kept here and published again after every (re)connect,
so a broker that restarted empty has the full state again within a second of coming back.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from core.attendance_api import FraudAlert, SpgPresence
from core.config import MqttConfig
from core.messages import CameraStatus
from core.presence import Transition
from core.secrets import redact

log = logging.getLogger(__name__)

ONLINE, OFFLINE = b"online", b"offline"
QOS = 1


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_broker(cfg: MqttConfig) -> Broker:
    """Host and port of ``mqtt.url``, credentials from ``mqtt.username`` / ``password`` (``core.config`` fills them
    from ``.env`` / the environment; the URL itself never holds them)."""
    parts = urlsplit(cfg.url)
    username = cfg.username.get_secret_value() if cfg.username is not None else None
    secret = cfg.password.get_secret_value() if cfg.password is not None else None
    return Broker(parts.hostname or "", int(parts.port or 1883), parts.scheme.lower() == "mqtts", username, secret)


def topic_level(text: str) -> str:
    """A topic level made of an id: MQTT's separators and wildcards cannot appear in it."""
    return "".join("_" if ch in "/+#\0" else ch for ch in text) or "_"


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class _Msg:
    topic: str
    payload: bytes
    retain: bool


class MqttEvents:
    """The run's MQTT publisher. :meth:`start` returns at once; :meth:`close` says ``offline`` and disconnects."""

    def __init__(self, cfg: MqttConfig, outlet_id: str, *, client_id: str | None = None):
        self.cfg = cfg
        self.broker = parse_broker(cfg)
        self.base = f"{cfg.topic_prefix}/{topic_level(cfg.outlet_id or outlet_id)}"
        self.availability = f"{self.base}/availability"
        self.dropped = 0
        """Messages dropped because the queue was full (broker away or too slow)."""
        self.published = 0
        self._queue: queue.Queue[_Msg] = queue.Queue(cfg.queue_size)
        self._retained: dict[str, bytes] = {}
        self._spg_payloads: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._resend = threading.Event()
        self._stop = threading.Event()
        self._sender: threading.Thread | None = None
        self._logged_down: float | None = None
        cid = client_id or f"spg-console-{topic_level(cfg.outlet_id or outlet_id)}-{uuid.uuid4().hex[:8]}"
        self.client = c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid)
        c.enable_logger(logging.getLogger("core.mqtt_events.paho"))
        if self.broker.username is not None:
            c.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            c.tls_set()
        c.will_set(self.availability, OFFLINE, qos=QOS, retain=True)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.max_queued_messages_set(cfg.queue_size)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (never waits for the broker)."""
        if self._sender is not None:
            return
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self._sender.start()
        log.info("MQTT: publishing under %s/ to %s:%d", self.base, self.broker.host, self.broker.port)

    def close(self, timeout_s: float = 3.0) -> None:
        """Publish ``offline`` (retained) when connected, then disconnect: a clean stop leaves no Last Will."""
        if self._sender is None:
            return
        self._stop.set()
        self._sender.join(timeout_s)
        self._sender = None
        try:
            if self.connected:
                info = self.client.publish(self.availability, OFFLINE, qos=QOS, retain=True)
                info.wait_for_publish(timeout_s)
            self.client.disconnect()
        except (RuntimeError, ValueError, OSError) as exc:  # the broker went away meanwhile
            log.debug("MQTT goodbye not sent: %s", exc)
        self.client.loop_stop()

    # --- what the router hands over (never blocks) ---------------------------------------------
    def presence(self, rows: list[SpgPresence]) -> None:
        """Publish (retained) each SPG whose state changed since the last call; clear SPGs no longer listed."""
        seen = set()
        for p in rows:
            seen.add(p.spg_id)
            data = {"spg_id": p.spg_id, "name": p.name, "state": p.state, "present": p.state in ("present", "grace"),
                    "since": p.since, "last_camera": p.last_camera, "shift_status": p.shift_status,
                    "no_view": p.no_view}
            if self._spg_payloads.get(p.spg_id) != data:
                self._spg_payloads[p.spg_id] = data
                self._retain(self._spg_topic(p.spg_id), _json({**data, "updated": time.time()}))
        for gone in set(self._spg_payloads) - seen:
            del self._spg_payloads[gone]
            self._retain(self._spg_topic(gone), b"")

    def transition(self, t: Transition) -> None:
        data = {"spg_id": t.spg_id, "name": t.name, "from": t.from_state.value, "to": t.to_state.value,
                "timestamp": t.timestamp, "camera_id": t.camera_id, "last_seen": t.last_seen, "alert": t.alert}
        self._put(_Msg(f"{self.base}/event/transition", _json(data), False))
        if t.alert:
            alert = {"kind": "absent", "spg_id": t.spg_id, "name": t.name, "timestamp": t.timestamp,
                     "camera_id": t.camera_id, "last_seen": t.last_seen, "message": redact(t.message)}
            self._put(_Msg(f"{self.base}/event/alert", _json(alert), False))

    def fraud(self, a: FraudAlert) -> None:
        """A possible photo or screen of an SPG (``core.fraud_checks``): an alert event, once per episode."""
        alert = {"kind": "possible_spoof", "spg_id": a.spg_id, "name": a.name, "timestamp": a.timestamp,
                 "camera_id": a.camera_id, "check": a.kind, "liveness": a.liveness}
        self._put(_Msg(f"{self.base}/event/alert", _json(alert), False))

    def camera(self, st: CameraStatus) -> None:
        data = {"camera_id": st.camera_id, "state": st.state.value, "reason": redact(st.reason),
                "updated": time.time()}
        self._retain(f"{self.base}/camera/{topic_level(st.camera_id)}/state", _json(data))

    def _spg_topic(self, spg_id: str) -> str:
        return f"{self.base}/spg/{topic_level(spg_id)}/state"

    def _retain(self, topic: str, payload: bytes) -> None:
        with self._lock:
            if payload:
                self._retained[topic] = payload
            else:
                self._retained.pop(topic, None)
        self._put(_Msg(topic, payload, True))

    def _put(self, msg: _Msg) -> None:
        try:
            self._queue.put_nowait(msg)
        except queue.Full:
            self.dropped += 1  # a retained one comes back with the next (re)connect's full state

    # --- paho's network thread -----------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s:%d refused the connection: %s", self.broker.host, self.broker.port, reason)
            return
        log.info("MQTT connected to %s:%d", self.broker.host, self.broker.port)
        self._logged_down = None
        self._resend.set()
        self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                       properties: Any) -> None:
        self._connected.clear()
        if self._stop.is_set():
            return
        now = time.monotonic()
        if self._logged_down is None or now - self._logged_down >= 60.0:  # a long outage logs once a minute
            self._logged_down = now
            log.warning("MQTT broker %s:%d not reachable (%s); retrying in the background",
                        self.broker.host, self.broker.port, reason)

    # --- the sender thread ---------------------------------------------------------------------
    def _send_loop(self) -> None:
        while not self._stop.is_set():
            if not self._connected.wait(0.2):
                continue
            if self._resend.is_set():
                self._resend.clear()
                self._publish(_Msg(self.availability, ONLINE, True))
                with self._lock:
                    state = list(self._retained.items())
                for topic, payload in state:
                    self._publish(_Msg(topic, payload, True))
            try:
                msg = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if msg.retain:
                # the topic's latest state, not the one queued: after a reconnect the full state went out first,
                # and an older queued state must not overwrite it
                with self._lock:
                    msg = _Msg(msg.topic, self._retained.get(msg.topic, b""), True)
            self._publish(msg)

    def _publish(self, msg: _Msg) -> None:
        try:
            info = self.client.publish(msg.topic, msg.payload, qos=QOS, retain=msg.retain)
        except (ValueError, RuntimeError, OSError) as exc:
            log.debug("MQTT publish to %s failed: %s", msg.topic, exc)
            return
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.published += 1
