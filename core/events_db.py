"""The events database: SQLite in WAL mode, the embedded default.

Tables (schema versioned with ``PRAGMA user_version`` and the :data:`MIGRATIONS` list):

* ``hits``         rate-limited sightings (the caller keeps at most one per SPG per camera per interval)
* ``transitions``  every state change of every SPG (kept forever)
* ``intervals``    presence intervals: start (confirmed arrival) .. end (last hit before ABSENT)
* ``alerts``       alerts and their delivery state: the persistent outbox
* ``spg_state``    the current state of every SPG, so presence resumes after a restart
* ``meta``         key/value (heartbeat, last daily summary, ...)

Durability: the connection runs ``journal_mode=WAL`` with ``synchronous=FULL``: every commit is on disk
when it returns. Transitions and alerts are committed at once (one transaction with the state change);
hits and interval updates are buffered in memory and flushed at most every second (:meth:`flush_due`),
so a crash or a power cut loses at most the last second of hits, never a transition or an alert.

The presence logic and the reports only use the methods of :class:`EventBackend`, a narrow interface a
central PostgreSQL backend (a chain of outlets) can implement later without touching them.

A corrupt file is moved aside (``events.db.corrupt-<time>``, never deleted), every readable row is copied
into a fresh database and :attr:`EventStore.recovered_from` names the saved file; with
``recover=False`` it raises :class:`EventStoreCorrupt` instead. A file locked by another program raises
:class:`EventStoreLocked` naming the file and what to do.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Sequence

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
MAX_BUFFERED_HITS = 100_000

MIGRATIONS: list[str] = [
    # v1
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE IF NOT EXISTS hits (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, spg_id TEXT NOT NULL, camera_id TEXT NOT NULL,
        similarity REAL);
    CREATE INDEX IF NOT EXISTS hits_ts ON hits(ts);
    CREATE INDEX IF NOT EXISTS hits_spg_ts ON hits(spg_id, ts);
    CREATE TABLE IF NOT EXISTS transitions (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, spg_id TEXT NOT NULL, from_state TEXT NOT NULL,
        to_state TEXT NOT NULL, camera_id TEXT, last_seen REAL, alert INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX IF NOT EXISTS transitions_ts ON transitions(ts);
    CREATE TABLE IF NOT EXISTS intervals (
        id INTEGER PRIMARY KEY, spg_id TEXT NOT NULL, start REAL NOT NULL, last_seen REAL NOT NULL,
        closed INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX IF NOT EXISTS intervals_spg ON intervals(spg_id, start);
    CREATE TABLE IF NOT EXISTS alerts (
        id INTEGER PRIMARY KEY, created REAL NOT NULL, spg_id TEXT, kind TEXT NOT NULL,
        transition_id INTEGER, text TEXT NOT NULL, photo BLOB,
        status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL DEFAULT 0, last_error TEXT, sent_at REAL);
    CREATE INDEX IF NOT EXISTS alerts_status ON alerts(status, id);
    CREATE TABLE IF NOT EXISTS spg_state (
        spg_id TEXT PRIMARY KEY, state TEXT NOT NULL, since REAL, last_seen REAL, last_camera TEXT,
        interval_id INTEGER);
    """,
    # v2: the Telegram message id of a delivered alert (to reference it later)
    """
    ALTER TABLE alerts ADD COLUMN message_id INTEGER;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

ALERT_PENDING, ALERT_SENT, ALERT_FAILED, ALERT_SKIPPED = "pending", "sent", "failed", "skipped"


class EventStoreError(Exception):
    """The events database cannot be used; the message names the file and what to do."""


class EventStoreLocked(EventStoreError):
    pass


class EventStoreCorrupt(EventStoreError):
    pass


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    created: float
    spg_id: str | None
    kind: str
    text: str
    photo: bytes | None
    status: str
    attempts: int
    next_attempt: float
    last_error: str | None
    sent_at: float | None


@dataclass(frozen=True, slots=True)
class TransitionRow:
    id: int
    ts: float
    spg_id: str
    from_state: str
    to_state: str
    camera_id: str
    last_seen: float | None
    alert: bool


@dataclass(frozen=True, slots=True)
class IntervalRow:
    id: int
    spg_id: str
    start: float
    last_seen: float
    closed: bool


@dataclass(frozen=True, slots=True)
class StateRow:
    spg_id: str
    state: str
    since: float | None
    last_seen: float | None
    last_camera: str
    interval_id: int | None


class EventBackend(Protocol):
    """What presence, alerts and reports need from storage (SQLite now; PostgreSQL later)."""

    def log_hit(self, ts: float, spg_id: str, camera_id: str, similarity: float | None = None) -> None: ...
    def touch_interval(self, interval_id: int, last_seen: float) -> None: ...
    def heartbeat(self, ts: float) -> None: ...
    def flush(self) -> None: ...
    def flush_due(self) -> None: ...
    def record_transition(self, t: Any, state: StateRow, interval: tuple[str, Any] | None,
                          alert: tuple[str, str, bytes | None, str] | None) -> tuple[int, int | None, int | None]: ...
    def close_interval(self, spg_id: str, interval_id: int, last_seen: float | None) -> None: ...
    def open_interval(self, spg_id: str, start: float) -> int: ...
    def load_states(self) -> list[StateRow]: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def add_alert(self, created: float, spg_id: str | None, kind: str, text: str, photo: bytes | None = None,
                  status: str = ALERT_PENDING) -> int: ...
    def pending_alerts(self) -> list[AlertRow]: ...
    def mark_alert_sent(self, alert_id: int, ts: float, message_id: int | None = None) -> None: ...
    def mark_alert_retry(self, alert_id: int, next_attempt: float, error: str) -> None: ...
    def mark_alert_failed(self, alert_id: int, error: str) -> None: ...
    def alerts_between(self, start: float, end: float) -> list[AlertRow]: ...
    def transitions_between(self, start: float, end: float,
                            spg_ids: Sequence[str] | None = None) -> list[TransitionRow]: ...
    def intervals_between(self, start: float, end: float,
                          spg_ids: Sequence[str] | None = None) -> list[IntervalRow]: ...
    def hits_between(self, start: float, end: float, spg_ids: Sequence[str] | None = None) -> list[tuple]: ...
    def prune_hits(self, older_than: float) -> int: ...
    def forget_face_photos(self, spg_id: str) -> int: ...
    def forget_presence(self, spg_id: str, why: str = ...) -> int: ...
    def close(self) -> None: ...


def _is_locked(exc: BaseException) -> bool:
    s = str(exc).lower()
    return "locked" in s or "busy" in s


def _is_corrupt(exc: BaseException) -> bool:
    s = str(exc).lower()
    return "not a database" in s or "malformed" in s or "corrupt" in s


class EventStore:
    """SQLite implementation of :class:`EventBackend`. Thread-safe (one connection under a lock)."""

    def __init__(self, path: Path | str, *, timeout_s: float = 2.0, recover: bool = True,
                 wall: Any = time.time, mono: Any = time.monotonic):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recovered_from: Path | None = None
        self._lock = threading.RLock()
        self._wall = wall
        self._mono = mono
        self._hits: list[tuple] = []
        self._touch: dict[int, float] = {}
        self._heartbeat: float | None = None
        self._last_flush = mono()
        self._timeout_s = timeout_s
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            if _is_locked(exc):
                raise EventStoreLocked(
                    f"{self.path}: the events database is locked by another program (another console on the "
                    f"same data folder, or a database viewer). Close it and start again."
                ) from None
            if not _is_corrupt(exc):
                raise EventStoreError(f"{self.path}: cannot open the events database: {exc}") from None
            if not recover:
                raise EventStoreCorrupt(
                    f"{self.path}: the events database is damaged ({exc}). Move the file aside (it is kept) "
                    f"and start again; the console then copies every readable row into a new database."
                ) from None
            self._conn = self._recover(str(exc))

    # --- open / migrate / recover --------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=self._timeout_s, check_same_thread=False,
                               isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={int(self._timeout_s * 1000)}")
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("%s: WAL journal not available (%s); using the default journal", self.path, mode)
            conn.execute("PRAGMA synchronous=FULL")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise EventStoreError(
                f"{self.path}: written by a newer version of the console (schema {version}, this one knows "
                f"{SCHEMA_VERSION}). Update the console or use another data folder."
            )
        for v in range(version, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in MIGRATIONS[v].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version={v + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            log.info("%s: events schema migrated to v%d", self.path, v + 1)

    def _recover(self, reason: str) -> sqlite3.Connection:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                shutil.move(str(src), str(aside) + suffix)
        log.error("%s: the events database is damaged (%s); it was moved to %s and a new one created. "
                  "Readable rows are copied over.", self.path, reason, aside)
        conn = self._open()
        copied = self._salvage(aside, conn)
        log.warning("%s: recovered %d rows from %s", self.path, copied, aside)
        self.recovered_from = aside
        return conn

    def _salvage(self, old: Path, conn: sqlite3.Connection) -> int:
        copied = 0
        try:
            src = sqlite3.connect(f"file:{old}?mode=ro", uri=True)
        except sqlite3.DatabaseError:
            return 0
        tables = ("meta", "hits", "transitions", "intervals", "alerts", "spg_state")
        for table in tables:
            try:
                cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
                src_cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
                use = [c for c in cols if c in src_cols]
                if not use:
                    continue
                cur = src.execute(f"SELECT {', '.join(use)} FROM {table}")
                while True:
                    try:
                        row = cur.fetchone()
                    except sqlite3.DatabaseError:
                        break  # the rest of this table is unreadable
                    if row is None:
                        break
                    conn.execute(f"INSERT OR IGNORE INTO {table} ({', '.join(use)}) VALUES "
                                 f"({', '.join('?' * len(use))})", row)
                    copied += 1
            except sqlite3.DatabaseError:
                continue
        src.close()
        return copied

    # --- buffered writes (hits, interval updates, heartbeat) -----------------------------------
    def log_hit(self, ts: float, spg_id: str, camera_id: str, similarity: float | None = None) -> None:
        with self._lock:
            self._hits.append((ts, spg_id, camera_id, similarity))

    def touch_interval(self, interval_id: int, last_seen: float) -> None:
        with self._lock:
            self._touch[interval_id] = max(last_seen, self._touch.get(interval_id, last_seen))

    def heartbeat(self, ts: float) -> None:
        """The application is alive at ``ts`` (wall); used after a restart to tell downtime from absence."""
        with self._lock:
            self._heartbeat = ts

    def flush_due(self) -> None:
        """Flush buffered writes when the last flush is a second old or more."""
        if self._mono() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            self._last_flush = self._mono()
            if not (self._hits or self._touch or self._heartbeat is not None):
                return
            hits, touch, hb = self._hits, self._touch, self._heartbeat
            self._hits, self._touch, self._heartbeat = [], {}, None
            try:
                with self._tx() as c:
                    self._write_buffer(c, hits, touch, hb)
            except EventStoreError:
                self._restore_buffer(hits, touch, hb)
                raise

    def _restore_buffer(self, hits: list, touch: dict, hb: float | None) -> None:
        """A write failed (locked file): keep the buffered rows for the next try (bounded)."""
        self._hits = (hits + self._hits)[-MAX_BUFFERED_HITS:]
        for iid, ls in touch.items():
            self._touch[iid] = max(ls, self._touch.get(iid, ls))
        if self._heartbeat is None:
            self._heartbeat = hb

    def _write_buffer(self, c: sqlite3.Connection, hits: list, touch: dict, hb: float | None) -> None:
        if hits:
            c.executemany("INSERT INTO hits (ts, spg_id, camera_id, similarity) VALUES (?, ?, ?, ?)", hits)
        for iid, ls in touch.items():
            c.execute("UPDATE intervals SET last_seen = MAX(last_seen, ?) WHERE id = ?", (ls, iid))
            c.execute("UPDATE spg_state SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE interval_id = ?",
                      (ls, iid))
        if hb is not None:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('heartbeat', ?)", (repr(hb),))

    def _tx(self):
        store = self

        class _Tx:
            def __enter__(self_inner):
                store._lock.acquire()
                try:
                    store._conn.execute("BEGIN IMMEDIATE")
                except sqlite3.DatabaseError as exc:
                    store._lock.release()
                    raise store._wrap(exc) from None
                return store._conn

            def __exit__(self_inner, et, ev, tb):
                try:
                    if et is None:
                        store._conn.execute("COMMIT")
                    else:
                        store._conn.execute("ROLLBACK")
                finally:
                    store._lock.release()
                if et is not None and isinstance(ev, sqlite3.DatabaseError):
                    raise store._wrap(ev) from None
                return False

        return _Tx()

    def _wrap(self, exc: BaseException) -> EventStoreError:
        if _is_locked(exc):
            return EventStoreLocked(f"{self.path}: the events database is locked by another program; close it "
                                    f"(another console on the same data folder, a database viewer) and retry.")
        return EventStoreError(f"{self.path}: database error: {exc}")

    # --- transitions (committed at once) -------------------------------------------------------
    def record_transition(self, t: Any, state: StateRow, interval: tuple[str, Any] | None,
                          alert: tuple[str, str, bytes | None, str] | None) -> tuple[int, int | None, int | None]:
        """Store one transition, the SPG's new state, an interval change and an alert in ONE transaction.

        ``interval``: ``("open", start)`` or ``("close", (interval_id, last_seen))`` or None.
        ``alert``: ``(kind, text, photo_jpeg, status)`` or None.
        Returns (transition id, interval id of the SPG now, alert id). Buffered hits go in first.
        """
        with self._lock:
            hits, touch, hb = self._hits, self._touch, self._heartbeat
            self._hits, self._touch, self._heartbeat = [], {}, None
            try:
                return self._record(t, state, interval, alert, hits, touch, hb)
            except EventStoreError:
                self._restore_buffer(hits, touch, hb)
                raise

    def _record(self, t: Any, state: StateRow, interval: tuple[str, Any] | None,
                alert: tuple[str, str, bytes | None, str] | None, hits: list, touch: dict,
                hb: float | None) -> tuple[int, int | None, int | None]:
        with self._tx() as c:
            self._write_buffer(c, hits, touch, hb)
            cur = c.execute(
                "INSERT INTO transitions (ts, spg_id, from_state, to_state, camera_id, last_seen, alert) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (t.timestamp, t.spg_id, _v(t.from_state), _v(t.to_state), t.camera_id, t.last_seen, int(bool(t.alert))),
            )
            tid = cur.lastrowid
            interval_id = state.interval_id
            if interval is not None:
                op, arg = interval
                if op == "open":
                    interval_id = c.execute("INSERT INTO intervals (spg_id, start, last_seen) VALUES (?, ?, ?)",
                                            (t.spg_id, arg, arg)).lastrowid
                elif op == "close":
                    iid, ls = arg
                    if iid is None:  # "the SPG's open interval" (its id was not known when queued)
                        row = c.execute("SELECT interval_id FROM spg_state WHERE spg_id = ?", (t.spg_id,)).fetchone()
                        iid = row[0] if row else None
                    c.execute("UPDATE intervals SET last_seen = MAX(last_seen, ?), closed = 1 WHERE id = ?", (ls, iid))
                    interval_id = None
            c.execute(
                "INSERT OR REPLACE INTO spg_state (spg_id, state, since, last_seen, last_camera, interval_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (state.spg_id, state.state, state.since, state.last_seen, state.last_camera, interval_id),
            )
            if interval is None and interval_id is None:  # keep the open interval the caller did not know
                c.execute("UPDATE spg_state SET interval_id = (SELECT id FROM intervals WHERE spg_id = ? AND "
                          "closed = 0 ORDER BY id DESC LIMIT 1) WHERE spg_id = ?", (t.spg_id, t.spg_id))
                interval_id = c.execute("SELECT interval_id FROM spg_state WHERE spg_id = ?",
                                        (t.spg_id,)).fetchone()[0]
            aid = None
            if alert is not None:
                kind, text, photo, status = alert
                aid = c.execute(
                    "INSERT INTO alerts (created, spg_id, kind, transition_id, text, photo, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (t.timestamp, t.spg_id, kind, tid, text, photo, status),
                ).lastrowid
        return tid, interval_id, aid

    def close_interval(self, spg_id: str, interval_id: int, last_seen: float | None) -> None:
        """End a presence interval without a state change (downtime, clock jump: what happened meanwhile is
        not known, so it is counted neither as present nor as absent)."""
        with self._lock:
            self.flush()
            with self._tx() as c:
                if last_seen is not None:
                    c.execute("UPDATE intervals SET last_seen = MAX(last_seen, ?) WHERE id = ?",
                              (last_seen, interval_id))
                c.execute("UPDATE intervals SET closed = 1 WHERE id = ?", (interval_id,))
                c.execute("UPDATE spg_state SET interval_id = NULL WHERE spg_id = ? AND interval_id = ?",
                          (spg_id, interval_id))

    def open_interval(self, spg_id: str, start: float) -> int:
        """Start a presence interval for an SPG who is PRESENT (after :meth:`close_interval`)."""
        with self._tx() as c:
            iid = c.execute("INSERT INTO intervals (spg_id, start, last_seen) VALUES (?, ?, ?)",
                            (spg_id, start, start)).lastrowid
            c.execute("UPDATE spg_state SET interval_id = ? WHERE spg_id = ?", (iid, spg_id))
            return iid

    def load_states(self) -> list[StateRow]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT spg_id, state, since, last_seen, last_camera, interval_id FROM spg_state").fetchall()
        return [StateRow(r[0], r[1], r[2], r[3], r[4] or "", r[5]) for r in rows]

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- alerts / outbox -----------------------------------------------------------------------
    def add_alert(self, created: float, spg_id: str | None, kind: str, text: str, photo: bytes | None = None,
                  status: str = ALERT_PENDING) -> int:
        with self._tx() as c:
            return c.execute("INSERT INTO alerts (created, spg_id, kind, text, photo, status) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (created, spg_id, kind, text, photo, status)).lastrowid

    _ALERT_COLS = "id, created, spg_id, kind, text, photo, status, attempts, next_attempt, last_error, sent_at"

    def pending_alerts(self) -> list[AlertRow]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {self._ALERT_COLS} FROM alerts WHERE status = 'pending' ORDER BY id").fetchall()
        return [AlertRow(*r) for r in rows]

    def alert(self, alert_id: int) -> AlertRow | None:
        with self._lock:
            r = self._conn.execute(f"SELECT {self._ALERT_COLS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return AlertRow(*r) if r else None

    def mark_alert_sent(self, alert_id: int, ts: float, message_id: int | None = None) -> None:
        with self._tx() as c:
            c.execute("UPDATE alerts SET status = 'sent', sent_at = ?, attempts = attempts + 1, message_id = ?, "
                      "last_error = NULL WHERE id = ?", (ts, message_id, alert_id))

    def mark_alert_retry(self, alert_id: int, next_attempt: float, error: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE alerts SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?",
                      (next_attempt, error, alert_id))

    def mark_alert_failed(self, alert_id: int, error: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE alerts SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
                      (error, alert_id))

    def alerts_between(self, start: float, end: float) -> list[AlertRow]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {self._ALERT_COLS} FROM alerts WHERE created >= ? AND created < ? "
                                      "ORDER BY id", (start, end)).fetchall()
        return [AlertRow(*r) for r in rows]

    # --- queries -------------------------------------------------------------------------------
    @staticmethod
    def _spg_filter(spg_ids: Sequence[str] | None) -> tuple[str, list]:
        if not spg_ids:
            return "", []
        return f" AND spg_id IN ({', '.join('?' * len(spg_ids))})", list(spg_ids)

    def transitions_between(self, start: float, end: float,
                            spg_ids: Sequence[str] | None = None) -> list[TransitionRow]:
        self.flush()
        extra, args = self._spg_filter(spg_ids)
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, ts, spg_id, from_state, to_state, camera_id, last_seen, alert FROM transitions "
                f"WHERE ts >= ? AND ts < ?{extra} ORDER BY ts, id", [start, end, *args]).fetchall()
        return [TransitionRow(r[0], r[1], r[2], r[3], r[4], r[5] or "", r[6], bool(r[7])) for r in rows]

    def intervals_between(self, start: float, end: float, spg_ids: Sequence[str] | None = None) -> list[IntervalRow]:
        """Presence intervals overlapping [start, end)."""
        self.flush()
        extra, args = self._spg_filter(spg_ids)
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, spg_id, start, last_seen, closed FROM intervals "
                f"WHERE start < ? AND last_seen >= ?{extra} ORDER BY start", [end, start, *args]).fetchall()
        return [IntervalRow(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def hits_between(self, start: float, end: float, spg_ids: Sequence[str] | None = None) -> list[tuple]:
        self.flush()
        extra, args = self._spg_filter(spg_ids)
        with self._lock:
            return self._conn.execute(
                f"SELECT ts, spg_id, camera_id, similarity FROM hits WHERE ts >= ? AND ts < ?{extra} ORDER BY ts",
                [start, end, *args]).fetchall()

    def prune_hits(self, older_than: float) -> int:
        """Delete hits older than ``older_than`` (wall); transitions, intervals and alerts are kept."""
        self.flush()
        with self._tx() as c:
            return c.execute("DELETE FROM hits WHERE ts < ?", (older_than,)).rowcount

    def forget_face_photos(self, spg_id: str) -> int:
        """Drop the face photos stored with this SPG's alerts (biometric data); the alert texts stay."""
        with self._tx() as c:
            return c.execute("UPDATE alerts SET photo = NULL WHERE spg_id = ? AND photo IS NOT NULL",
                             (spg_id,)).rowcount

    def forget_presence(self, spg_id: str, why: str = "SPG removed from the gallery before it was sent") -> int:
        """The SPG left the gallery: their alerts not yet sent are cancelled (status ``skipped``, face photo
        dropped), their open interval is closed and their presence state row goes, so nothing about them
        resumes after a restart. Attendance history (hits, transitions, intervals) stays. Returns how many
        alerts were cancelled."""
        with self._lock:
            self.flush()
            with self._tx() as c:
                n = c.execute("UPDATE alerts SET status = ?, photo = NULL, last_error = ? WHERE spg_id = ? AND "
                              "status = ?", (ALERT_SKIPPED, why, spg_id, ALERT_PENDING)).rowcount
                c.execute("UPDATE intervals SET closed = 1 WHERE spg_id = ? AND closed = 0", (spg_id,))
                c.execute("DELETE FROM spg_state WHERE spg_id = ?", (spg_id,))
                return n

    def export_jsonl(self, out: Path | str, start: float = 0.0, end: float = float("inf"),
                     spg_ids: Sequence[str] | None = None) -> int:
        """Write the seed's ``events.jsonl``: one JSON object per line, oldest first.

        ``{"ts": ISO-8601 UTC, "event": "SPG_SEEN", "spg_id", "camera_id", "similarity"}`` for hits,
        ``{"ts", "event": "STATE_CHANGE", "spg_id", "from", "to", "camera_id", "last_seen"}`` for transitions,
        ``{"ts", "event": "ALERT", "spg_id", "kind", "status"}`` for alerts.
        """
        end = min(end, 1e13)
        events: list[tuple[float, dict]] = []
        for ts, spg, cam, sim in self.hits_between(start, end, spg_ids):
            events.append((ts, {"event": "SPG_SEEN", "spg_id": spg, "camera_id": cam,
                                "similarity": None if sim is None else round(sim, 4)}))
        for t in self.transitions_between(start, end, spg_ids):
            events.append((t.ts, {"event": "STATE_CHANGE", "spg_id": t.spg_id, "from": t.from_state.upper(),
                                  "to": t.to_state.upper(), "camera_id": t.camera_id,
                                  "last_seen": _iso(t.last_seen) if t.last_seen else None}))
        for a in self.alerts_between(start, end):
            if spg_ids and a.spg_id not in spg_ids:
                continue
            events.append((a.created, {"event": "ALERT", "spg_id": a.spg_id, "kind": a.kind, "status": a.status}))
        events.sort(key=lambda e: e[0])
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as f:
            for ts, ev in events:
                f.write(json.dumps({"ts": _iso(ts), **ev}, ensure_ascii=False) + "\n")
        return len(events)

    def close(self) -> None:
        with self._lock:
            if getattr(self, "_conn", None) is None:
                return
            try:
                self.flush()
            finally:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]


def _v(x: Any) -> str:
    return str(getattr(x, "value", x))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
