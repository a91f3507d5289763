"""The outlet's replication into the brand's central PostgreSQL: one background thread.

    rep = CentralReplicator(url, store, cfg.outlet)          # thread started
    rep.notify()                                              # something was queued: send soon (never blocks)
    rep.set_status(OutletStatus(...))                         # cameras, engine, SPGs: sent with the heartbeat
    rep.link_state()                                          # what the console shows
    rep.close(flush_timeout_s=10)                             # send what waits (bounded), then stop

What goes up: the outbox entries (:mod:`core.central.outbox`: transitions, presence intervals, alerts and
their delivery state) in order, in batches, each batch in one PostgreSQL transaction written by key
(``ON CONFLICT``), so a batch sent again after a crash writes nothing twice; then, every
:data:`core.central.hq_api.HEARTBEAT_EVERY_S`, a heartbeat (outlet name and time zone, cameras live / total,
engine, app version, events waiting), the SPG list (id, name, active, state, on shift) and unknown-visitor
counts per hour. Face data (photos, crops, embeddings) never goes up here.

The caller's loop never waits on the network: it only sets an event and swaps a reference. The thread
connects with a timeout, backs off on failure (1 s doubling to 60 s), and says what went wrong in one
sentence with the password masked (:attr:`LinkState.last_error`), logged once per outage. A central database
older than :data:`core.central.schema.MIN_VERSION_FOR_OUTLETS` is refused with a sentence saying to run
``app.py hq init`` at HQ. The outlet id written is the one HQ registered for this login
(``spg.outlet_of(current_user)``): row-level security would refuse any other.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import psycopg

from core import __version__
from core.central.hq_api import HEARTBEAT_EVERY_S
from core.central.link_state import LinkState
from core.central.outbox import ALERT, INTERVAL, TRANSITION, OutboxRow, OutboxSource
from core.central.schema import MIN_VERSION_FOR_OUTLETS, database_version
from core.clock import Clock, as_clock
from core.events_backend import EventStoreError
from core.gallery import GalleryError
from core.secrets import mask_url, redact, register_secret, url_password

if TYPE_CHECKING:
    from core.central.gallery_sync import GallerySyncApi

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
RELOG_EVERY_S = 600.0
"""A problem that lasts is logged again this often (not on every retry)."""


class CentralError(Exception):
    """The central database cannot be used as it is; the message is the sentence to show."""


class OutletIdentity(Protocol):
    """The outlet as its config names it (``core.config.OutletConfig``)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SpgStatus:
    spg_id: str
    name: str
    active: bool = True
    state: str | None = None
    on_shift: bool | None = None


@dataclass(frozen=True, slots=True)
class OutletStatus:
    """What the heartbeat carries besides the time; the attendance service replaces it as things change."""

    cameras_live: int = 0
    cameras_total: int = 0
    engine: str | None = None
    spgs: tuple[SpgStatus, ...] = ()


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def describe_error(exc: BaseException, url: str) -> str:
    """One sentence for a failed connection or write, the password masked."""
    where = mask_url(url)
    text = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__)
    low = str(exc).lower()
    if isinstance(exc, CentralError):
        return str(exc)
    if "password authentication failed" in low or "no password supplied" in low:
        return (f"The central database {where} refused this outlet's login (wrong user or password). Ask HQ for "
                f"the outlet's URL again (app.py hq add-outlet) and put it in SPG_CENTRAL_URL; events wait here "
                f"meanwhile.")
    if "does not exist" in low and "database" in low:
        return f"The central database {where} does not exist on that server ({text}). Check the URL's database name."
    if isinstance(exc, psycopg.OperationalError):
        return (f"Cannot reach the central database {where} ({text}). Events are kept at the outlet and go up "
                f"when it is reachable again.")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return (f"The central database {where} refused a write ({text}). Is this URL the one HQ issued for this "
                f"outlet (app.py hq add-outlet)?")
    return f"The central database {where} failed: {text}."


_TRANSITION_SQL = (
    "INSERT INTO spg.transitions (outlet_id, event_key, seq, spg_id, from_state, to_state, ts, camera_id, alert) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (outlet_id, event_key) DO NOTHING")
_INTERVAL_SQL = (
    "INSERT INTO spg.intervals (outlet_id, interval_key, spg_id, start_ts, last_seen, closed) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (outlet_id, interval_key) DO UPDATE SET "
    "last_seen = GREATEST(spg.intervals.last_seen, EXCLUDED.last_seen), "
    "closed = spg.intervals.closed OR EXCLUDED.closed")
_ALERT_SQL = (
    "INSERT INTO spg.alerts (outlet_id, alert_key, spg_id, kind, text, created, status, sent_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (outlet_id, alert_key) DO UPDATE SET "
    "status = EXCLUDED.status, sent_at = EXCLUDED.sent_at")
_STATUS_SQL = (
    "INSERT INTO spg.outlet_status (outlet_id, name, timezone, last_heartbeat, cameras_live, cameras_total, engine, "
    "app_version, events_waiting) VALUES (%s, %s, %s, now(), %s, %s, %s, %s, %s) ON CONFLICT (outlet_id) DO UPDATE "
    "SET name = EXCLUDED.name, timezone = EXCLUDED.timezone, last_heartbeat = now(), "
    "cameras_live = EXCLUDED.cameras_live, cameras_total = EXCLUDED.cameras_total, engine = EXCLUDED.engine, "
    "app_version = EXCLUDED.app_version, events_waiting = EXCLUDED.events_waiting")
_SPG_SQL = (
    "INSERT INTO spg.spgs (outlet_id, spg_id, name, active, state, on_shift, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (outlet_id, spg_id) DO UPDATE SET name = EXCLUDED.name, "
    "active = EXCLUDED.active, state = EXCLUDED.state, on_shift = EXCLUDED.on_shift, updated_at = now()")
_VISITORS_SQL = (
    "INSERT INTO spg.visitor_counts (outlet_id, hour_start, visitors) VALUES (%s, %s, %s) "
    "ON CONFLICT (outlet_id, hour_start) DO UPDATE SET visitors = GREATEST(spg.visitor_counts.visitors, "
    "EXCLUDED.visitors)")


class CentralReplicator:
    """Drains the outlet's outbox into the central database from one daemon thread (``start=False``: tests
    drive :meth:`sync_once` themselves with a fake clock)."""

    def __init__(self, url: str, store: OutboxSource, outlet: OutletIdentity, clock: Clock | None = None, *,
                 batch_size: int = 500, heartbeat_every_s: float = HEARTBEAT_EVERY_S,
                 connect_timeout_s: float = 5.0, base_backoff_s: float = 1.0, max_backoff_s: float = MAX_BACKOFF_S,
                 visitor_counts: Callable[[], dict[float, int]] | None = None, app_version: str = __version__,
                 poll_s: float = 1.0, gather_s: float = 0.2, gallery_sync: GallerySyncApi | None = None,
                 start: bool = True):
        register_secret(url_password(url))
        self.url = url
        self.store = store
        self.outlet = outlet
        self.clock = as_clock(clock)
        self.batch_size = batch_size
        self.heartbeat_every_s = heartbeat_every_s
        self.connect_timeout_s = connect_timeout_s
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.visitor_counts = visitor_counts
        self.gallery_sync = gallery_sync
        """Gallery sharing (``central.share_gallery``): run on this connection after each heartbeat."""
        self.app_version = app_version
        self.poll_s = poll_s
        self.gather_s = gather_s
        self.sent = 0
        """Outbox entries the central database committed (this run)."""
        self._status = OutletStatus()
        self._state = LinkState(enabled=True)
        self._conn: psycopg.Connection[Any] | None = None
        self._outlet_id: str | None = None
        self._instance: str | None = None
        self._failures = 0
        self._retry_at: float | None = None
        self._next_heartbeat: float | None = None
        self._sent_spgs: tuple[SpgStatus, ...] | None = None
        self._logged_at: float | None = None
        self._logged_error: str | None = None
        self._pass_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    # --- what the caller's loop may call (never blocks on the network) --------------------------------
    def notify(self) -> None:
        self._wake.set()

    def set_status(self, status: OutletStatus) -> None:
        self._status = status  # one reference assignment: safe from another thread

    def link_state(self) -> LinkState:
        return self._state

    # --- one pass -------------------------------------------------------------------------------------
    def sync_once(self) -> int:
        """Connect when needed (not before the backoff's retry time), send every waiting entry in batches,
        then the heartbeat when due. Returns how many entries went up. Never raises for a network or
        database problem: it is recorded in :meth:`link_state` and retried later."""
        with self._pass_lock:
            sent = 0
            try:
                self._set(waiting=self.store.outbox_waiting())
            except EventStoreError as exc:
                log.warning("central replication cannot read the outbox: %s", exc)
                return 0
            if self._conn is None:
                if self._retry_at is not None and self.clock.monotonic() < self._retry_at:
                    return 0
                try:
                    self._connect()
                except (psycopg.Error, CentralError) as exc:
                    self._failed(exc)
                    return 0
            try:
                sent = self._drain()
                self._heartbeat_if_due()
            except psycopg.Error as exc:
                self._failed(exc)
            except EventStoreError as exc:
                log.warning("central replication paused: %s", exc)
            return sent

    def _connect(self) -> None:
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, round(self.connect_timeout_s)))
        try:
            version = database_version(conn)
            if version < MIN_VERSION_FOR_OUTLETS:
                raise CentralError(
                    f"The central database {mask_url(self.url)} has schema version {version}; this outlet needs "
                    f"{MIN_VERSION_FOR_OUTLETS} or newer. Run 'app.py hq init --db <admin URL>' at HQ.")
            row = conn.execute("SELECT spg.outlet_of(current_user)").fetchone()
            outlet_id = row[0] if row else None
            if not outlet_id:
                raise CentralError(
                    f"The login in {mask_url(self.url)} is not registered as an outlet. Use the URL that "
                    f"'app.py hq add-outlet' printed for this outlet.")
        except BaseException:
            conn.close()
            raise
        if outlet_id != self.outlet.id:
            log.warning("this outlet is %r in its config but HQ registered its login as %r; HQ shows it as %r",
                        self.outlet.id, outlet_id, outlet_id)
        self._conn, self._outlet_id = conn, str(outlet_id)
        self._instance = self._instance or self.store.outbox_instance()
        self._next_heartbeat = None  # a heartbeat right after (re)connecting
        self._sent_spgs = None
        if self._state.offline_since is not None or self._state.last_error is not None:
            log.warning("central database %s reachable again; sending the %d event(s) waiting",
                        mask_url(self.url), self._state.waiting)
        else:
            log.info("connected to the central database %s as outlet %s", mask_url(self.url), outlet_id)
        self._failures = 0
        self._retry_at = None
        self._logged_error = None
        self._set(connected=True, offline_since=None, last_error=None)

    def _drain(self) -> int:
        sent = 0
        while not self._stop.is_set() or self._flushing:
            rows = self.store.outbox_batch(self.batch_size)
            if not rows:
                break
            self._send(rows)
            self.store.outbox_done(rows)
            sent += len(rows)
            self.sent += len(rows)
            self._set(waiting=max(0, self._state.waiting - len(rows)), last_sync=self.clock.time())
            if len(rows) < self.batch_size:
                break
        if sent:
            self._set(waiting=self.store.outbox_waiting())
        return sent

    def _send(self, rows: list[OutboxRow]) -> None:
        assert self._conn is not None and self._outlet_id is not None
        o, inst = self._outlet_id, self._instance
        tr, iv, al = [], [], []
        for r in rows:
            p = r.payload
            if r.kind == TRANSITION:
                tr.append((o, f"{inst}-{p['seq']}", p["seq"], p["spg_id"], p["from"], p["to"], _ts(p["ts"]),
                           p.get("camera_id"), bool(p.get("alert"))))
            elif r.kind == INTERVAL:
                iv.append((o, f"{inst}-{p['id']}", p["spg_id"], _ts(p["start"]), _ts(p["last_seen"]),
                           bool(p["closed"])))
            elif r.kind == ALERT:
                al.append((o, f"{inst}-{p['id']}", p.get("spg_id"), p["kind"], p["text"], _ts(p["created"]),
                           p["status"], _ts(p.get("sent_at"))))
            else:
                log.warning("outbox entry %s of unknown kind %r skipped", r.key, r.kind)
        with self._conn.transaction(), self._conn.cursor() as cur:
            for sql, params in ((_TRANSITION_SQL, tr), (_INTERVAL_SQL, iv), (_ALERT_SQL, al)):
                if params:
                    cur.executemany(sql, params)

    def _heartbeat_if_due(self) -> None:
        mono = self.clock.monotonic()
        status = self._status
        if self._next_heartbeat is not None and mono < self._next_heartbeat and status.spgs == self._sent_spgs:
            return
        self.heartbeat(status)
        self._next_heartbeat = mono + self.heartbeat_every_s
        if self.gallery_sync is not None and not self._flushing:  # a shutdown flush stays short
            self._sync_gallery()

    def _sync_gallery(self) -> None:
        """Publish, pull and erase shared SPGs (raises psycopg errors, like the rest of the pass: the link is
        retried with backoff; a local gallery problem is logged and the next heartbeat tries again)."""
        assert self.gallery_sync is not None and self._conn is not None and self._outlet_id is not None
        try:
            self.gallery_sync.sync_once(self._conn, self._outlet_id)
        except (GalleryError, OSError) as exc:
            log.warning("gallery sharing paused: %s", exc)

    def heartbeat(self, status: OutletStatus | None = None) -> None:
        """Write the outlet's status row, its SPG list and visitor counts now (raises psycopg errors)."""
        assert self._conn is not None and self._outlet_id is not None
        status = status or self._status
        o = self._outlet_id
        visitors = self._visitors()
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(_STATUS_SQL, (o, self.outlet.name, self.outlet.timezone, status.cameras_live,
                                      status.cameras_total, status.engine, self.app_version, self._state.waiting))
            if status.spgs != self._sent_spgs:
                if status.spgs:
                    cur.executemany(_SPG_SQL, [(o, s.spg_id, s.name, s.active, s.state, s.on_shift)
                                               for s in status.spgs])
                # SPGs no longer in the gallery stay at HQ (their history refers to them), inactive
                cur.execute("UPDATE spg.spgs SET active = false, updated_at = now() WHERE outlet_id = %s AND "
                            "active AND NOT (spg_id = ANY(%s))", (o, [s.spg_id for s in status.spgs]))
            if visitors:
                cur.executemany(_VISITORS_SQL, [(o, _ts(h), n) for h, n in sorted(visitors.items())])
        self._sent_spgs = status.spgs

    def _visitors(self) -> dict[float, int]:
        if self.visitor_counts is None:
            return {}
        try:
            return self.visitor_counts()
        except Exception:  # noqa: BLE001 - counts are a nicety; the heartbeat goes on
            log.debug("visitor counts not available", exc_info=True)
            return {}

    # --- failures -------------------------------------------------------------------------------------
    def _failed(self, exc: BaseException) -> None:
        sentence = describe_error(exc, self.url)
        self._disconnect()
        try:  # events written while the attempt hung are waiting too
            self._set(waiting=self.store.outbox_waiting())
        except EventStoreError:
            log.debug("outbox count not available", exc_info=True)
        self._failures += 1
        delay = min(self.max_backoff_s, self.base_backoff_s * 2 ** (self._failures - 1))
        mono = self.clock.monotonic()
        self._retry_at = mono + delay
        if sentence != self._logged_error or self._logged_at is None or mono - self._logged_at >= RELOG_EVERY_S:
            self._logged_error, self._logged_at = sentence, mono
            log.warning("%s (%d event(s) waiting; next try in %.0f s)", sentence, self._state.waiting, delay)
        since = self._state.offline_since if self._state.offline_since is not None else self.clock.time()
        self._set(connected=False, offline_since=since, last_error=sentence)

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                log.debug("closing the central connection failed", exc_info=True)

    def _set(self, **changes: Any) -> None:
        self._state = replace(self._state, **changes)

    # --- thread ---------------------------------------------------------------------------------------
    _flushing = False
    _passes = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="central-replicator", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception:  # noqa: BLE001 - the thread must outlive any surprise
                log.exception("central replication pass failed")
            self._passes += 1
            woken = self._wake.wait(self.poll_s)
            self._wake.clear()
            if woken and self.gather_s > 0 and not self._flushing:
                # let a burst of events gather: one transaction for many instead of one each
                self._stop.wait(self.gather_s)

    def flush(self, timeout_s: float) -> bool:
        """Send what is waiting, for at most about ``timeout_s`` of real time (a pending backoff is skipped:
        one more connection attempt is made, and a failed one ends the flush). True when nothing is left.
        Without a running thread, the passes run here."""
        deadline = time.monotonic() + timeout_s
        self._flushing = True
        try:
            while True:
                self._retry_at = None
                thread = self._thread
                if thread is not None and thread.is_alive():
                    done = self._passes
                    self._wake.set()
                    while self._passes == done and time.monotonic() < deadline and thread.is_alive():
                        self._stop.wait(0.02)
                else:
                    self.sync_once()
                if self._state.connected and self._state.waiting == 0:
                    return True
                if not self._state.connected:
                    return False  # tried now and failed: shutting down is not held up by more tries
                if deadline - time.monotonic() <= 0:
                    return False
        finally:
            self._flushing = False

    def close(self, flush_timeout_s: float = 0.0) -> None:
        """Stop the thread; with ``flush_timeout_s`` first send what is waiting, for at most that long (what
        is left goes up at the next start)."""
        if flush_timeout_s > 0:
            try:
                if not self.flush(flush_timeout_s):
                    log.warning("%d event(s) not yet sent to the central database; they go up at the next start"
                                "%s", self._state.waiting,
                                f" ({self._state.last_error})" if self._state.last_error else "")
            except Exception:  # noqa: BLE001 - shutting down: never block it
                log.exception("central flush at shutdown failed")
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(1.0, self.connect_timeout_s + 1.0))
            self._thread = None
        with self._pass_lock:
            self._disconnect()
