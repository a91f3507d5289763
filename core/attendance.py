"""AttendanceService: what the router (pipeline loop / GUI controller) calls. Pure: no Qt, no processes.

    svc = AttendanceService(cfg, EventStore(path), outbox_or_None, SystemClock(), gallery.names)
    for result in batch: svc.on_frame_result(result, frame)   # every face with an spg_id is a hit
    svc.tick()                                                # about once a second: grace/absent + alerts
    svc.snapshot()                                            # rows for the presence table
    svc.close()

It glues the pure :class:`core.presence.PresenceEngine` to storage (:class:`core.events_backend.EventBackend`)
and alerts (:class:`core.alert_outbox.AlertOutbox`): every transition is committed together with the
SPG's state, its presence interval and its alert in one transaction, so after a restart presence
resumes from the database and no alert is lost or queued twice. Time spent while the application was
not running is downtime, not absence (the last heartbeat tells where it stopped).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

import numpy as np

from core.alert_outbox import AlertOutbox
from core.alert_templates import AlertTemplates, fmt_duration, fmt_time
from core.clock import as_clock
from core.events_backend import ALERT_PENDING, ALERT_SKIPPED, EventStoreError, StateRow
from core.presence import PresenceEngine, State, Transition
from core.reports import summary_text
from core.secrets import register_secret
from core.shifts import ShiftBook, day_bounds

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0
MAX_CAPTURE_LAG_S = 5.0
CROP_EVERY_S = 1.0
STORE_RETRY_S = 5.0
GALLERY_CHECK_S = 0.3


@dataclass(frozen=True, slots=True)
class SpgPresence:
    spg_id: str
    name: str
    state: str
    """'not_seen', 'present', 'grace' or 'absent'."""
    since: float | None
    last_seen: float | None
    last_camera: str
    present_today_s: float
    shift_status: str
    """'on duty', 'off duty' or 'no shift'."""
    in_grace: bool = False


def _secret(v: Any) -> str:
    get = getattr(v, "get_secret_value", None)
    return str(get()) if get else (str(v) if v else "")


class AttendanceService:
    def __init__(self, cfg: Any, store: Any, outbox: Any | None, clock: Any,
                 gallery_names: Callable[[], dict[str, str]]):
        self.cfg = cfg
        self.store = store
        self.outbox = outbox
        self.clock = as_clock(clock)
        self.gallery_names = gallery_names
        self.tz = ZoneInfo(cfg.outlet.timezone)
        self.shifts = ShiftBook.from_config(cfg)
        self.engine = PresenceEngine(cfg.presence, self.clock, on_duty=self.shifts.on_duty)
        self.templates = AlertTemplates(cfg.outlet.language)
        register_secret(_secret(cfg.telegram.token))
        register_secret(_secret(cfg.telegram.chat_id))
        self._interval: dict[str, int | None] = {}
        self._last_logged: dict[tuple[str, str], float] = {}
        self._crops: dict[str, np.ndarray] = {}
        self._crop_at: dict[str, float] = {}
        self._names: dict[str, str] = {}
        self._last_prune_mono: float | None = None
        self._closed = False
        self._unsaved: list[tuple] = []
        self._retry_at: float | None = None
        self._store_logged: float | None = None
        self._today: dict[str, float] = {}
        self._reopen: set[str] = set()
        self._summary_done: str | None = None
        self._last_clock: tuple[float, float] | None = None
        self.store_error: str | None = None
        """The events database problem right now (locked file, full disk, ...), as a sentence; None when fine."""
        self._removed: set[str] = set()
        self._people_checked: float | None = None
        names_known = self.refresh_people()
        self._resume()
        if names_known:
            self.refresh_people()  # an SPG removed while the application was not running does not resume

    @property
    def store_ok(self) -> bool:
        """The health the router and the UI show: False while transitions wait in memory for the database."""
        return self.store_error is None and not self._unsaved

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
        for d in (self._crops, self._crop_at, self._interval):
            d.pop(spg_id, None)
        self._reopen.discard(spg_id)
        self._last_logged = {k: v for k, v in self._last_logged.items() if k[0] != spg_id}
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

    def _split_intervals(self, why: str) -> None:
        if self._unsaved:
            return
        for spg, iid in list(self._interval.items()):
            st = self.engine.state_of(spg)
            if iid is None or not st.state.is_present:
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
        out: list[Transition] = []
        interval_s = float(self.cfg.presence.hit_log_interval_s)
        for face in result.faces:
            spg = face.spg_id
            if not spg or not getattr(face, "matchable", True) or spg in self._removed:
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
            if snapshot is not None and now_mono - self._crop_at.get(spg, -1e18) >= CROP_EVERY_S:
                if callable(snapshot):
                    snapshot = snapshot()  # read the frame once, only now that a face needs it
                    if snapshot is None:
                        continue
                crop = _crop(snapshot, face.bbox, result.frame_shape)
                if crop is not None:
                    self._crops[spg] = crop
                    self._crop_at[spg] = now_mono
        self.store.heartbeat(now_wall)
        self._flush_due()
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
        try:
            self._maybe_prune()
            self._maybe_daily_summary(now)
        except EventStoreError as exc:
            self._store_problem(exc)
        return out

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
            alert = ("absent", self._absent_text(t), self._photo(t.spg_id), self._alert_status())
        elif (t.from_state is State.ABSENT and t.to_state is State.PRESENT and self.cfg.presence.notify_return
              and self.shifts.on_duty(t.spg_id, t.timestamp)):
            alert = ("returned", self._return_text(t, st), None, self._alert_status())
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
        if self.store_error is not None:
            log.warning("events database usable again; queued transitions stored")
            self.store_error = None

    def _store_problem(self, exc: Exception) -> None:
        self.store_error = str(exc)
        mono = self.clock.monotonic()
        if self._store_logged is None or mono - self._store_logged >= 60.0:
            self._store_logged = mono
            log.error("%s (%d transition(s) kept in memory until it works again)", exc, len(self._unsaved))

    def _alert_status(self) -> str:
        return ALERT_PENDING if self.outbox is not None else ALERT_SKIPPED

    def _absent_text(self, t: Transition) -> str:
        ls = t.last_seen
        return self.templates.render(
            "absent", name=t.name, outlet=self.cfg.outlet.name,
            last_seen=fmt_time(ls, self.tz, with_date=False) if ls else self.templates.raw("never"),
            camera=t.camera_id or "-", away=fmt_duration((t.timestamp - ls) if ls else 0.0))

    def _return_text(self, t: Transition, st: Any) -> str:
        try:
            prev = self.store.transitions_between(0.0, t.timestamp + 1e-6, [t.spg_id])
        except EventStoreError as exc:  # the alert goes out without "away for"
            self._store_problem(exc)
            prev = []
        away_since = next((p.last_seen for p in reversed(prev) if p.to_state == State.ABSENT.value), None)
        away = (t.timestamp - away_since) if away_since else 0.0
        return self.templates.render("returned", name=t.name, outlet=self.cfg.outlet.name, camera=t.camera_id or "-",
                                     time=fmt_time(t.timestamp, self.tz), away=fmt_duration(away))

    def _photo(self, spg_id: str) -> bytes | None:
        if not self.cfg.telegram.send_photo:
            return None
        crop = self._crops.get(spg_id)
        if crop is None:
            return None
        try:
            import cv2

            ok, buf = cv2.imencode(".jpg", crop, [int(cv2.IMWRITE_JPEG_QUALITY), 85])
            return bytes(buf) if ok else None
        except Exception:  # noqa: BLE001 - the text alone still goes out
            log.exception("snapshot encoding failed")
            return None

    # --- housekeeping --------------------------------------------------------------------------
    def _maybe_prune(self) -> None:
        mono = self.clock.monotonic()
        if self._last_prune_mono is not None and mono - self._last_prune_mono < PRUNE_EVERY_S:
            return
        self._last_prune_mono = mono
        days = int(self.cfg.storage.hit_retention_days)
        n = self.store.prune_hits(self.clock.time() - days * 86400.0)
        if n:
            log.info("pruned %d hits older than %d days", n, days)

    def _maybe_daily_summary(self, now: float) -> None:
        at = self.cfg.telegram.daily_summary_time
        if at is None or self.outbox is None:
            return
        local = datetime.fromtimestamp(now, self.tz)
        if local.time() < at:
            return
        today = local.date().isoformat()
        if self._summary_done == today:
            return
        if self.store.get_meta("daily_summary_date") == today:
            self._summary_done = today
            return
        text = summary_text(self.store, self.cfg, local.date(), self._names, now=now)
        self.store.add_alert(now, None, "summary", text)
        self.store.set_meta("daily_summary_date", today)
        self.outbox.notify()

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
                shift_status=self.shifts.status(spg_id, now), in_grace=state is State.GRACE))
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
            try:
                self.store.close()
            except EventStoreError as exc:
                self.store_error = str(exc)
                log.error("%s", exc)


def _crop(frame: np.ndarray, bbox: tuple[float, float, float, float], original: tuple[int, int] | None,
          margin: float = 0.4) -> np.ndarray | None:
    """The face box (original coordinates) with a margin, from ``frame`` (possibly downscaled)."""
    h, w = frame.shape[:2]
    sx = sy = 1.0
    if original and original[0] and original[1]:
        sy, sx = h / float(original[0]), w / float(original[1])
    x1, y1, x2, y2 = bbox
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    a, b = int(max(0, (x1 - mx) * sx)), int(max(0, (y1 - my) * sy))
    c, d = int(min(w, (x2 + mx) * sx)), int(min(h, (y2 + my) * sy))
    if c - a < 4 or d - b < 4:
        return None
    return np.ascontiguousarray(frame[b:d, a:c]).copy()


def open_attendance(cfg: Any, data_dir: Any, gallery_names: Callable[[], dict[str, str]],
                    clock: Any = None) -> AttendanceService:
    """The service as the console and ``app.py run --headless`` use it: ``<data_dir>/events.db`` and, when
    ``telegram.enabled`` with a token and chat id, a Telegram outbox with its delivery thread."""
    from pathlib import Path

    from core.events_db import EventStore
    from core.paths import DataLayout

    store = EventStore(DataLayout(Path(data_dir)).events_db)
    outbox = None
    if cfg.telegram.enabled:
        try:
            outbox = AlertOutbox.for_telegram(cfg.telegram, store)
        except Exception as exc:  # noqa: BLE001 - presence still works; the alert rows stay 'skipped'
            log.warning("Telegram alerts are off: %s", exc)
    return AttendanceService(cfg, store, outbox, clock, gallery_names)
