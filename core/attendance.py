"""AttendanceService: what the router (pipeline loop / GUI controller) calls. Pure: no Qt, no processes.

    svc = AttendanceService(cfg, EventStore(path), outbox_or_None, SystemClock(), gallery.names)
    for result in batch: svc.on_frame_result(result, frame)   # every face with an spg_id is a hit
    svc.on_pipeline_health(camera_live, inference_ok)         # what the router can see right now
    svc.tick()                                                # about once a second: grace/absent + alerts
    svc.snapshot()                                            # rows for the presence table
    svc.close()

It glues the pure :class:`core.presence.PresenceEngine` to storage (:class:`core.events_backend.EventBackend`)
and alerts (:class:`core.alert_outbox.AlertOutbox`): every transition is committed together with the
SPG's state, its presence interval and its alert in one transaction, so after a restart presence
resumes from the database and no alert is lost or queued twice. Time spent while the application was
not running is downtime, not absence (the last heartbeat tells where it stopped). Time during which the
pipeline could not see an SPG ("no view": camera offline, inference down, router stalled) is neither
presence nor absence: their presence interval is split, and a camera that stays offline raises its own
alert (:mod:`core.camera_watch`) instead of a wave of absences.

Alert texts and photos come from :mod:`core.alert_composer`; hit retention and the daily summary from
:mod:`core.housekeeping`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Collection, Mapping
from zoneinfo import ZoneInfo

import numpy as np

from core.alert_composer import AlertComposer, crop_face
from core.alert_outbox import AlertOutbox
from core.attendance_api import (
    AttendanceStatus,
    FraudAlert,
    SpgPresence as SpgPresence,  # its home is the interface; importable here too
)
from core.camera_watch import CameraEvent, CameraWatch
from core.central.link_state import LinkState
from core.clock import as_clock
from core.events_backend import ALERT_PENDING, ALERT_SKIPPED, EventStoreError, StateRow
from core.events_db import EventStore
from core.housekeeping import Housekeeping
from core.paths import DataLayout
from core.presence import PresenceEngine, State, Transition
from core.secrets import register_secret
from core.shifts import ShiftBook, day_bounds

log = logging.getLogger(__name__)

MAX_CAPTURE_LAG_S = 5.0
STORE_RETRY_S = 5.0
GALLERY_CHECK_S = 0.3
CENTRAL_STATUS_EVERY_S = 5.0
"""How often the SPG list and camera counts handed to the central replicator are refreshed."""
NO_VIEW_SPLIT_S = 3.0
"""An SPG out of view this long has their presence interval split (a shorter blink stays presence)."""


def _secret(v: Any) -> str:
    get = getattr(v, "get_secret_value", None)
    return str(get()) if get else (str(v) if v else "")


class AttendanceService:
    def __init__(self, cfg: Any, store: Any, outbox: Any | None, clock: Any,
                 gallery_names: Callable[[], dict[str, str]], central: Any | None = None,
                 central_problem: str | None = None):
        self.cfg = cfg
        self.store = store
        self.outbox = outbox
        self.central = central
        """The :class:`core.central.replicator.CentralReplicator` (None: no central database, or it could
        not be set up: ``central_problem`` says why)."""
        self._central_problem = central_problem
        self._central_status_at: float | None = None
        self._cameras = (0, 0)
        self.clock = as_clock(clock)
        self.gallery_names = gallery_names
        self.tz = ZoneInfo(cfg.outlet.timezone)
        self.shifts = ShiftBook.from_config(cfg)
        # shift rules decide the alert: none outside a shift or inside a break, and break time is not absence
        self.engine = PresenceEngine(cfg.presence, self.clock, on_duty=self.shifts.alert_allowed,
                                     excused=self.shifts.excused_s)
        self.compose = AlertComposer(cfg, store)
        self.housekeeping = Housekeeping(cfg, store, self.clock)
        self.cameras = CameraWatch(float(cfg.presence.absent_seconds))
        self._camera_alerts: list[CameraEvent] = []
        register_secret(_secret(cfg.telegram.token))
        register_secret(_secret(cfg.telegram.chat_id))
        self._interval: dict[str, int | None] = {}
        self._last_logged: dict[tuple[str, str], float] = {}
        self._names: dict[str, str] = {}
        self._closed = False
        self._unsaved: list[tuple] = []
        self._retry_at: float | None = None
        self._store_logged: float | None = None
        self._today: dict[str, float] = {}
        self._reopen: set[str] = set()
        self._last_clock: tuple[float, float] | None = None
        self.store_error: str | None = None
        """The events database problem right now (locked file, full disk, ...), as a sentence; None when fine."""
        self._removed: set[str] = set()
        self._people_checked: float | None = None
        self._fraud_seen: dict[tuple[str, str], float] = {}
        """(spg, camera) -> monotonic time of its last flagged face: one alert per episode."""
        self._fraud_alerts: list[FraudAlert] = []
        names_known = self.refresh_people()
        self._resume()
        if names_known:
            self.refresh_people()  # an SPG removed while the application was not running does not resume

    @property
    def store_ok(self) -> bool:
        """The health the router and the UI show: False while transitions wait in memory for the database."""
        return self.store_error is None and not self._unsaved

    def status(self) -> AttendanceStatus:
        outbox = self.outbox
        if outbox is None:
            return AttendanceStatus(self.store_ok)
        return AttendanceStatus(self.store_ok, outbox.pending, outbox.failures)

    @property
    def unsaved_count(self) -> int:
        """Transitions kept in memory because the database could not be written (stored in order later)."""
        return len(self._unsaved)

    # --- start-up ------------------------------------------------------------------------------
    def _resume(self) -> None:
        hb_text = self.store.get_meta("heartbeat")
        heartbeat = float(hb_text) if hb_text else None
        for row in self.store.load_states():
            idle = 0.0
            if row.last_seen is not None and heartbeat is not None:
                idle = max(0.0, heartbeat - row.last_seen)
            self.engine.restore(row.spg_id, row.state, row.since, row.last_seen, row.last_camera, idle)
            self._interval[row.spg_id] = row.interval_id
        # The time the application was not running is not known: presence intervals end at the last
        # sighting before it and start again at the next sighting.
        self._split_intervals("restart")
        if self._interval:
            log.info("presence resumed for %d SPGs from %s", len(self._interval), getattr(self.store, "path", "store"))

    def refresh_people(self) -> bool:
        """Re-read the gallery's names (cheap while the gallery's version stamp is unchanged); SPGs no longer
        in it are forgotten. False when the gallery could not be read (nothing is forgotten then)."""
        self._people_checked = self.clock.monotonic()
        try:
            names = dict(self.gallery_names() or {})
        except Exception:  # noqa: BLE001 - names are cosmetic; presence goes on
            log.exception("gallery names not available")
            return False
        self._names = names
        self._removed -= set(names)  # enrolled again under the same id
        tracked = set(self.engine.states()) | {u[0].spg_id for u in self._unsaved}
        for spg in tracked - set(names):
            self.forget(spg)
        return True

    def forget(self, spg_id: str) -> None:
        """The SPG was removed from the gallery: from now on no presence, transition or alert for them (hits
        the inference server still reports before its matcher reloads are ignored); their alerts not yet
        sent are cancelled and their face photos dropped. Their attendance history stays."""
        self.engine.forget(spg_id)
        self._removed.add(spg_id)
        self._interval.pop(spg_id, None)
        self.compose.forget(spg_id)
        self._reopen.discard(spg_id)
        self._last_logged = {k: v for k, v in self._last_logged.items() if k[0] != spg_id}
        self._fraud_seen = {k: v for k, v in self._fraud_seen.items() if k[0] != spg_id}
        # transitions still waiting for the database are history: kept, but without their alert
        self._unsaved = [(t, row, iv, None if t.spg_id == spg_id else alert) for t, row, iv, alert in self._unsaved]
        try:
            cancelled = self.store.forget_presence(spg_id)
        except EventStoreError as exc:
            self._store_problem(exc)
            cancelled = 0
        log.info("%s removed from the gallery: presence tracking stopped, %d unsent alert(s) cancelled", spg_id,
                 cancelled)

    def _check_people(self) -> None:
        mono = self.clock.monotonic()
        if self._people_checked is None or mono - self._people_checked >= GALLERY_CHECK_S:
            self.refresh_people()

    # --- inputs --------------------------------------------------------------------------------
    def _check_clock(self) -> None:
        """Downtime (suspend, frozen process) or a wall-clock jump (NTP): split the presence intervals."""
        wall, mono = self.clock.time(), self.clock.monotonic()
        last = self._last_clock
        self._last_clock = (wall, mono)
        if last is None:
            return
        dm, dw = mono - last[1], wall - last[0]
        if dm > self.engine.suspend_gap_s or abs(dw - dm) > self.engine.suspend_gap_s:
            log.warning("clock discontinuity (wall %+.0f s, monotonic %+.0f s): treated as downtime", dw, dm)
            self._split_intervals("clock")

    def _split_intervals(self, why: str, only: set[str] | None = None) -> None:
        if self._unsaved:
            return
        for spg, iid in list(self._interval.items()):
            st = self.engine.state_of(spg)
            if iid is None or not st.state.is_present or (only is not None and spg not in only):
                continue
            try:
                self.store.close_interval(spg, iid, st.last_seen)
            except EventStoreError as exc:
                self._store_problem(exc)
                return
            self._interval[spg] = None
            self._reopen.add(spg)

    def _reopen_interval(self, spg: str, wall: float) -> None:
        if spg not in self._reopen or self._unsaved:
            return
        try:
            self._interval[spg] = self.store.open_interval(spg, wall)
        except EventStoreError as exc:
            self._store_problem(exc)
            return
        self._reopen.discard(spg)

    def on_frame_result(self, result: Any, snapshot: np.ndarray | Callable[[], np.ndarray | None] | None = None
                        ) -> list[Transition]:
        """Every matched face (``spg_id`` set, matchable) is a hit on ``result.camera_id`` at ``result.timestamp``.

        ``snapshot``: the BGR frame (stored size; boxes are scaled from ``result.frame_shape``) or a callable
        returning it, called only when a matched face needs a fresh crop (at most once a second per SPG):
        pass ``lambda: pipeline.read_frame(r.camera_id, r.slot, r.generation)`` to avoid copying every frame.
        """
        self._check_clock()
        now_wall, now_mono = self.clock.time(), self.clock.monotonic()
        captured = float(result.timestamp) if result.timestamp else now_wall
        self.engine.frame(result.camera_id, captured=now_mono - min(MAX_CAPTURE_LAG_S, max(0.0, now_wall - captured)))
        out: list[Transition] = []
        interval_s = float(self.cfg.presence.hit_log_interval_s)
        for face in result.faces:
            spg = face.spg_id
            if not spg or not getattr(face, "matchable", True) or spg in self._removed:
                continue
            if face.fraud:  # a photo or a screen of the SPG: no hit, an alert once per episode
                self._on_fraud(result, face, snapshot, now_mono)
                continue
            wall = float(result.timestamp) if result.timestamp else now_wall
            lag = min(MAX_CAPTURE_LAG_S, max(0.0, now_wall - wall))
            for t in self.engine.hit(spg, result.camera_id, wall=wall, mono=now_mono - lag):
                self._apply(t)
                out.append(t)
            key = (spg, result.camera_id)
            last = self._last_logged.get(key)
            if last is None or wall - last >= interval_s or wall < last:
                self._last_logged[key] = wall
                self.store.log_hit(wall, spg, result.camera_id, float(face.similarity))
            if self.engine.state_of(spg).state.is_present:
                self._reopen_interval(spg, wall)
            iid = self._interval.get(spg)
            if iid is not None and self.engine.state_of(spg).state.is_present:
                self.store.touch_interval(iid, wall)
            if snapshot is not None and self.compose.wants_face(spg, now_mono):
                if callable(snapshot):
                    snapshot = snapshot()  # read the frame once, only now that a face needs it
                    if snapshot is None:
                        continue
                self.compose.keep_face(spg, snapshot, face.bbox, result.frame_shape, now_mono)
        self.store.heartbeat(now_wall)
        self._flush_due()
        return out

    def _on_fraud(self, result: Any, face: Any, snapshot: Any, mono: float) -> None:
        """A new episode (nothing flagged for this SPG at this camera within ``presence.absent_seconds``) is
        logged, stored with the face crop as a 'possible_spoof' alert and handed to the event log."""
        key = (str(face.spg_id), str(result.camera_id))
        last = self._fraud_seen.get(key)
        self._fraud_seen[key] = mono
        if last is not None and mono - last < float(self.cfg.presence.absent_seconds):
            return
        wall = float(result.timestamp) if result.timestamp else self.clock.time()
        name = self._names.get(key[0], key[0])
        text = self.compose.fraud_text(name, key[1], str(face.fraud), wall)
        frame = snapshot() if callable(snapshot) else snapshot
        crop = crop_face(frame, face.bbox, result.frame_shape) if frame is not None else None
        photo = self.compose.encode(crop) if crop is not None else None
        log.warning("possible photo or screen of %s at camera %s (%s check, liveness %s)", key[0], key[1],
                    face.fraud, "-" if face.liveness is None else f"{face.liveness:.2f}")
        try:
            self.store.add_alert(wall, key[0], "possible_spoof", text, photo, self._alert_status())
        except EventStoreError as exc:
            self._store_problem(exc)
        if self.outbox is not None:
            self.outbox.notify()
        self._fraud_alerts.append(FraudAlert(wall, key[0], str(name), key[1], str(face.fraud), text, face.liveness))

    def take_fraud_alerts(self) -> list[FraudAlert]:
        out, self._fraud_alerts = self._fraud_alerts, []
        return out

    def _flush_due(self) -> None:
        try:
            self.store.flush_due()
            if self.store_error is not None and not self._unsaved:
                self.store.flush()  # proves the database is writable again
                log.warning("events database usable again")
                self.store_error = None
        except EventStoreError as exc:
            self._store_problem(exc)

    def on_pipeline_health(self, camera_live: Mapping[str, bool], inference_ok: bool,
                           ended: Collection[str] = ()) -> None:
        """The router's view right now: ``camera_live`` maps every running camera to whether it is live (a
        camera not in it was removed); ``inference_ok`` says whether the inference server answers; ``ended``
        cameras stopped on purpose (a video file that played to its end): no view, but no outage alert.
        Call it once per router loop, before :meth:`tick`."""
        live = {cam: bool(ok) and cam not in ended for cam, ok in camera_live.items()}
        self._cameras = (sum(1 for ok in live.values() if ok), len(live))
        self.engine.set_health(live, bool(inference_ok))
        watched = {cam: ok for cam, ok in live.items() if cam not in ended}
        self._camera_alerts.extend(self.cameras.update(watched, self.clock.time(), self.clock.monotonic()))

    def tick(self) -> list[Transition]:
        self._check_clock()
        self._check_people()
        self._drain_unsaved()
        out = self.engine.tick()
        for t in out:
            self._apply(t)
        now = self.clock.time()
        self.store.heartbeat(now)
        self._flush_due()
        self._split_no_view()
        self._central_status(now)
        try:
            self._camera_alerts_due(now)
            self.housekeeping.run(now, self.outbox, self._names)
        except EventStoreError as exc:
            self._store_problem(exc)
        return out

    def _split_no_view(self) -> None:
        """Presence intervals end at the last sighting of an SPG who has been out of view for a while, and
        start again at the next sighting: the report shows the time between as "no view"."""
        mono = self.clock.monotonic()
        blind = set()
        for spg, iid in self._interval.items():
            since = self.engine.no_view_since(spg) if iid is not None else None
            if since is not None and mono - since >= NO_VIEW_SPLIT_S:
                blind.add(spg)
        if blind:
            log.info("no view of %s: presence on hold until seen again", ", ".join(sorted(blind)))
            self._split_intervals("no view", blind)

    def _camera_alerts_due(self, now: float) -> None:
        due = self.cameras.due(now, self.clock.monotonic())
        for ev in due:
            log.warning("camera %s offline since %s", ev.camera_id, datetime.fromtimestamp(ev.since, self.tz))
        for ev in [*self._camera_alerts, *due]:
            if ev.kind == "offline":
                text = self.compose.camera_offline_text(ev.camera_id, ev.since)
            else:
                text = self.compose.camera_online_text(ev.camera_id, ev.since, ev.at)
            self.store.add_alert(ev.at, None, f"camera_{ev.kind}", text, None, self._alert_status())
            if ev.kind == "offline":
                self.cameras.mark_alerted(ev.camera_id)
            else:
                self._camera_alerts.remove(ev)
            if self.outbox is not None:
                self.outbox.notify()

    # --- transitions -> storage + alerts -------------------------------------------------------
    def _apply(self, t: Transition) -> None:
        st = self.engine.state_of(t.spg_id)
        t.name = self._names.get(t.spg_id, t.spg_id)
        interval: tuple[str, Any] | None = None
        if t.to_state is State.PRESENT and not t.from_state.is_present:
            interval = ("open", t.timestamp)
            self._reopen.discard(t.spg_id)
        elif t.to_state is State.ABSENT and self._interval.get(t.spg_id) is not None:
            interval = ("close", (self._interval[t.spg_id], t.last_seen or t.timestamp))
        alert = None
        if t.to_state is State.ABSENT and t.alert:
            alert = ("absent", self.compose.absent_text(t), self.compose.photo(t.spg_id), self._alert_status())
        elif (t.from_state is State.ABSENT and t.to_state is State.PRESENT and self.cfg.presence.notify_return
              and self.shifts.on_duty(t.spg_id, t.timestamp)):
            alert = ("returned", self.compose.return_text(t), None, self._alert_status())
        if self._unsaved and interval is not None and interval[0] == "close":
            interval = ("close", (None, interval[1][1]))  # the open interval's id is not known yet
        row = StateRow(t.spg_id, st.state.value, st.since, st.last_seen, st.last_camera, self._interval.get(t.spg_id))
        level = logging.WARNING if t.alert else logging.INFO
        log.log(level, "%s: %s -> %s%s", t.spg_id, t.from_state.value, t.to_state.value, " (alert)" if t.alert else "")
        self._unsaved.append((t, row, interval, alert))
        if interval is not None:
            self._interval[t.spg_id] = None  # known again once stored
        self._drain_unsaved(force=len(self._unsaved) == 1)  # behind a failed one: wait for its retry time

    def _drain_unsaved(self, force: bool = False) -> None:
        """Store queued transitions in order. While the database is locked they wait in memory (and are
        retried every few seconds), so a locked file never loses a transition or an alert."""
        if not self._unsaved:
            return
        mono = self.clock.monotonic()
        if not force and self._retry_at is not None and mono < self._retry_at:
            return
        while self._unsaved:
            t, row, interval, alert = self._unsaved[0]
            try:
                tid, iid, aid = self.store.record_transition(t, row, interval, alert)
            except EventStoreError as exc:
                self._store_problem(exc)
                self._retry_at = mono + STORE_RETRY_S
                return
            self._unsaved.pop(0)
            self._retry_at = None
            t.id = tid
            if not any(u[0].spg_id == t.spg_id for u in self._unsaved):
                self._interval[t.spg_id] = iid
            if aid is not None and self.outbox is not None:
                self.outbox.notify()
            if self.central is not None:
                self.central.notify()
        if self.store_error is not None:
            log.warning("events database usable again; queued transitions stored")
            self.store_error = None

    # --- the central database ------------------------------------------------------------------------
    def _central_status(self, now: float) -> None:
        """Hand the replicator what its next heartbeat carries (a reference swap: never waits on it)."""
        if self.central is None:
            return
        mono = self.clock.monotonic()
        if self._central_status_at is not None and mono - self._central_status_at < CENTRAL_STATUS_EVERY_S:
            return
        self._central_status_at = mono
        from core.central.replicator import OutletStatus, SpgStatus

        states = self.engine.states()
        spgs = tuple(SpgStatus(spg, str(name), True, states[spg].state.value if spg in states else State.NOT_SEEN.value,
                               self.shifts.on_duty(spg, now)) for spg, name in sorted(self._names.items()))
        self.central.set_status(OutletStatus(self._cameras[0], self._cameras[1],
                                             f"{self.cfg.engine.kind}:{self.cfg.engine.pack}", spgs))

    def link_state(self) -> LinkState:
        """The link to the central database as the console shows it."""
        if self.central is not None:
            state: LinkState = self.central.link_state()
            return state
        return LinkState(enabled=bool(self.cfg.central.enabled), last_error=self._central_problem)

    def _store_problem(self, exc: Exception) -> None:
        self.store_error = str(exc)
        mono = self.clock.monotonic()
        if self._store_logged is None or mono - self._store_logged >= 60.0:
            self._store_logged = mono
            log.error("%s (%d transition(s) kept in memory until it works again)", exc, len(self._unsaved))

    def _alert_status(self) -> str:
        return ALERT_PENDING if self.outbox is not None else ALERT_SKIPPED

    # --- outputs -------------------------------------------------------------------------------
    def present_today(self, now: float | None = None) -> dict[str, float]:
        now = self.clock.time() if now is None else now
        start, end = day_bounds(datetime.fromtimestamp(now, self.tz).date(), self.tz)
        totals: dict[str, float] = {}
        for iv in self.store.intervals_between(start, end):
            s, e = max(iv.start, start), min(iv.last_seen, end)
            if e > s:
                totals[iv.spg_id] = totals.get(iv.spg_id, 0.0) + (e - s)
        return totals

    def snapshot(self) -> list[SpgPresence]:
        self.refresh_people()
        now = self.clock.time()
        try:
            today = self._today = self.present_today(now)
        except EventStoreError as exc:
            self._store_problem(exc)
            today = self._today
        states = self.engine.states()
        out = []
        for spg_id, name in sorted(self._names.items(), key=lambda kv: str(kv[1]).lower()):
            st = states.get(spg_id)
            state = st.state if st else State.NOT_SEEN
            out.append(SpgPresence(
                spg_id=spg_id, name=str(name), state=state.value,
                since=st.since if st else None, last_seen=st.last_seen if st else None,
                last_camera=st.last_camera if st else "", present_today_s=today.get(spg_id, 0.0),
                shift_status=self.shifts.status(spg_id, now), in_grace=state is State.GRACE,
                no_view=self.engine.no_view(spg_id)))
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._drain_unsaved(force=True)
            if self._unsaved:
                log.error("%d transition(s) could not be stored: %s", len(self._unsaved), self.store_error)
            self.store.heartbeat(self.clock.time())
            self.store.flush()
        except EventStoreError as exc:
            log.error("%s", exc)
        finally:
            if self.outbox is not None:
                self.outbox.close()
            if self.central is not None:  # what waits goes up now, for a bounded time (else at the next start)
                self.central.close(flush_timeout_s=float(self.cfg.central.flush_on_exit_s))
            try:
                self.store.close()
            except EventStoreError as exc:
                self.store_error = str(exc)
                log.error("%s", exc)


def open_attendance(cfg: Any, data_dir: Any, gallery_names: Callable[[], dict[str, str]],
                    clock: Any = None) -> AttendanceService:
    """The service as the console and ``app.py run --headless`` use it: ``<data_dir>/events.db`` and, when
    ``telegram.enabled`` with a token and chat id, a Telegram outbox with its delivery thread."""
    layout = DataLayout(Path(data_dir))
    store = EventStore(layout.events_db, central=bool(cfg.central.enabled))
    outbox = None
    if cfg.telegram.enabled:
        try:
            outbox = AlertOutbox.for_telegram(cfg.telegram, store)
        except Exception as exc:  # noqa: BLE001 - presence still works; the alert rows stay 'skipped'
            log.warning("Telegram alerts are off: %s", exc)
    central, problem = None, None
    if cfg.central.enabled:
        central, problem = _open_central(cfg, store, layout)
    return AttendanceService(cfg, store, outbox, clock, gallery_names, central=central, central_problem=problem)


def _open_central(cfg: Any, store: EventStore, layout: DataLayout) -> tuple[Any | None, str | None]:
    """The replicator (its thread started), or None and the sentence saying why not. Events are queued in
    the outbox either way, so nothing is lost while the URL is being fixed."""
    url = cfg.central.url.get_secret_value() if cfg.central.url is not None else ""
    if not url:
        problem = ("central.enabled is on but no central database URL is set: put the URL that 'app.py hq "
                   "add-outlet' printed into SPG_CENTRAL_URL (the data folder's .env). Events wait at the outlet.")
        log.warning("%s", problem)
        return None, problem
    from core.central.replicator import CentralReplicator
    from core.unknown_faces import visitors_per_hour

    def visitors() -> dict[float, int]:
        return visitors_per_hour(layout.unknown_faces, cfg.storage)

    gallery_sync = None
    if cfg.central.share_gallery:
        from core.gallery_sharing import gallery_sync_from_config

        gallery_sync = gallery_sync_from_config(cfg, layout.root)
    return CentralReplicator(url, store, cfg.outlet, batch_size=cfg.central.batch_size,
                             connect_timeout_s=cfg.central.connect_timeout_s, visitor_counts=visitors,
                             gallery_sync=gallery_sync), None
