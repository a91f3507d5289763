"""The events store: :class:`EventStore`, the SQLite (WAL) implementation of :class:`EventBackend`.

Durability: the connection runs ``journal_mode=WAL`` with ``synchronous=FULL``: every commit is on disk
when it returns. Transitions and alerts are committed at once (one transaction with the state change);
hits and interval updates are buffered in memory and flushed at most every second (:meth:`EventStore.flush_due`),
so a crash or a power cut loses at most the last second of hits, never a transition or an alert.

Errors: every method raises only :class:`core.events_backend.EventStoreError` subclasses, never a raw
``sqlite3`` error (a full disk is :class:`EventStoreFull`, a read-only file :class:`EventStoreReadOnly`, a
file held by another program :class:`EventStoreLocked`). A write that fails leaves the database as it was
(the transaction is rolled back) and buffered hits stay buffered for the next try; queries still answer
from what is on disk while writes fail. The schema, migrations and the rescue of a damaged file live in
:mod:`core.events_schema`; the ``events.jsonl`` export in :mod:`core.events_export`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.central import outbox as central_outbox
from core.events_backend import (
    ALERT_PENDING,
    ALERT_SKIPPED,
    AlertRow,
    EventBackend,
    EventStoreCorrupt,
    EventStoreError,
    IntervalRow,
    StateRow,
    TransitionRow,
)
from core.events_schema import is_corrupt, open_database, recover as recover_file, rollback_quietly, store_error

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
MAX_BUFFERED_HITS = 100_000

Hit = tuple[float, str, str, float | None]


class EventStore:
    """SQLite implementation of :class:`core.events_backend.EventBackend`. Thread-safe (one connection
    under a lock).

    A damaged file is moved aside and its readable rows copied into a fresh one (:attr:`recovered_from`
    names the saved file); with ``recover=False`` it raises :class:`EventStoreCorrupt` instead.
    """

    def __init__(self, path: Path | str, *, timeout_s: float = 2.0, recover: bool = True,
                 wall: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic,
                 central: bool = False):
        self.path = Path(path)
        self.central = central
        """Queue transitions, intervals and alerts for the central database (``central_outbox``), each in
        the transaction that writes it."""
        self.recovered_from: Path | None = None
        self._lock = threading.RLock()
        self._wall = wall
        self._mono = mono
        self._hits: list[Hit] = []
        self._touch: dict[int, float] = {}
        self._heartbeat: float | None = None
        self._last_flush = mono()
        self._timeout_s = timeout_s
        self._conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = open_database(self.path, timeout_s)
        except OSError as exc:
            raise store_error(self.path, exc) from None
        except sqlite3.Error as exc:
            if not is_corrupt(exc):
                raise store_error(self.path, exc) from None
            if not recover:
                raise EventStoreCorrupt(
                    f"{self.path}: the events database is damaged ({exc}). Move the file aside (it is kept) "
                    f"and start again; the console then copies every readable row into a new database."
                ) from None
            try:
                self._conn, self.recovered_from = recover_file(self.path, str(exc), timeout_s)
            except (sqlite3.Error, OSError) as exc2:
                raise store_error(self.path, exc2) from None

    # --- the connection, guarded: only EventStoreError leaves this class ----------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise EventStoreError(f"{self.path}: the events database is closed")
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. Any failure (BEGIN, a statement, COMMIT) rolls back and raises the
        declared store error; the database is then as it was before."""
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from None
            try:
                yield conn
            except sqlite3.Error as exc:
                rollback_quietly(conn)
                raise store_error(self.path, exc) from None
            except BaseException:
                rollback_quietly(conn)
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                rollback_quietly(conn)
                raise store_error(self.path, exc) from None

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self.conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from None

    def _flush_for_query(self) -> None:
        """Queries include buffered hits when they can be written; when not, they answer from the disk."""
        try:
            self.flush()
        except EventStoreError as exc:
            log.debug("query without the buffered rows: %s", exc)

    # --- buffered writes (hits, interval updates, heartbeat) -----------------------------------
    def log_hit(self, ts: float, spg_id: str, camera_id: str, similarity: float | None = None) -> None:
        with self._lock:
            self._hits.append((ts, spg_id, camera_id, similarity))
            if len(self._hits) > MAX_BUFFERED_HITS:  # writes failing for a long time: keep the newest
                del self._hits[: len(self._hits) - MAX_BUFFERED_HITS]

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
            hits, touch, hb = self._take_buffer()
            try:
                with self._tx() as c:
                    self._write_buffer(c, hits, touch, hb)
            except EventStoreError:
                self._restore_buffer(hits, touch, hb)
                raise

    def _take_buffer(self) -> tuple[list[Hit], dict[int, float], float | None]:
        hits, touch, hb = self._hits, self._touch, self._heartbeat
        self._hits, self._touch, self._heartbeat = [], {}, None
        return hits, touch, hb

    def _restore_buffer(self, hits: list[Hit], touch: dict[int, float], hb: float | None) -> None:
        """A write failed (locked file, full disk): keep the buffered rows for the next try (bounded)."""
        self._hits = (hits + self._hits)[-MAX_BUFFERED_HITS:]
        for iid, ls in touch.items():
            self._touch[iid] = max(ls, self._touch.get(iid, ls))
        if self._heartbeat is None:
            self._heartbeat = hb

    def _write_buffer(self, c: sqlite3.Connection, hits: list[Hit], touch: dict[int, float], hb: float | None) -> None:
        if hits:
            c.executemany("INSERT INTO hits (ts, spg_id, camera_id, similarity) VALUES (?, ?, ?, ?)", hits)
        for iid, ls in touch.items():
            c.execute("UPDATE intervals SET last_seen = MAX(last_seen, ?) WHERE id = ?", (ls, iid))
            c.execute("UPDATE spg_state SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE interval_id = ?",
                      (ls, iid))
            self._queue(central_outbox.queue_interval, c, iid)
        if hb is not None:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('heartbeat', ?)", (repr(hb),))

    # --- transitions (committed at once) -------------------------------------------------------
    def record_transition(self, t: Any, state: StateRow, interval: tuple[str, Any] | None,
                          alert: tuple[str, str, bytes | None, str] | None) -> tuple[int, int | None, int | None]:
        """Store one transition, the SPG's new state, an interval change and an alert in ONE transaction.

        ``interval``: ``("open", start)`` or ``("close", (interval_id, last_seen))`` or None.
        ``alert``: ``(kind, text, photo_jpeg, status)`` or None.
        Returns (transition id, interval id of the SPG now, alert id). Buffered hits go in first.
        """
        with self._lock:
            hits, touch, hb = self._take_buffer()
            try:
                with self._tx() as c:
                    self._write_buffer(c, hits, touch, hb)
                    tid, iid, aid = self._record(c, t, state, interval, alert)
                    self._queue(central_outbox.queue_transition, c, tid)
                    self._queue(central_outbox.queue_interval, c, self._changed_interval(c, t.spg_id, interval, iid))
                    self._queue(central_outbox.queue_alert, c, aid)
                    return tid, iid, aid
            except EventStoreError:
                self._restore_buffer(hits, touch, hb)
                raise

    def _queue(self, fn: Callable[[sqlite3.Connection, Any, float], None], c: sqlite3.Connection, row_id: Any) -> None:
        if self.central:
            fn(c, row_id, self._wall())

    @staticmethod
    def _changed_interval(c: sqlite3.Connection, spg_id: str, interval: tuple[str, Any] | None,
                          now_iid: int | None) -> int | None:
        """The interval a transition opened or closed (None when it touched none)."""
        if interval is None:
            return None
        if interval[0] == "open":
            return now_iid
        iid = interval[1][0]
        if iid is None:
            row = c.execute("SELECT id FROM intervals WHERE spg_id = ? AND closed = 1 ORDER BY id DESC LIMIT 1",
                            (spg_id,)).fetchone()
            iid = row[0] if row else None
        return int(iid) if iid is not None else None

    @staticmethod
    def _record(c: sqlite3.Connection, t: Any, state: StateRow, interval: tuple[str, Any] | None,
                alert: tuple[str, str, bytes | None, str] | None) -> tuple[int, int | None, int | None]:
        cur = c.execute(
            "INSERT INTO transitions (ts, spg_id, from_state, to_state, camera_id, last_seen, alert) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (t.timestamp, t.spg_id, _v(t.from_state), _v(t.to_state), t.camera_id, t.last_seen, int(bool(t.alert))),
        )
        tid = int(cur.lastrowid or 0)
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
                self._queue(central_outbox.queue_interval, c, interval_id)

    def open_interval(self, spg_id: str, start: float) -> int:
        """Start a presence interval for an SPG who is PRESENT (after :meth:`close_interval`)."""
        with self._tx() as c:
            iid = int(c.execute("INSERT INTO intervals (spg_id, start, last_seen) VALUES (?, ?, ?)",
                                (spg_id, start, start)).lastrowid or 0)
            c.execute("UPDATE spg_state SET interval_id = ? WHERE spg_id = ?", (iid, spg_id))
            self._queue(central_outbox.queue_interval, c, iid)
            return iid

    def load_states(self) -> list[StateRow]:
        rows = self._read("SELECT spg_id, state, since, last_seen, last_camera, interval_id FROM spg_state")
        return [StateRow(r[0], r[1], r[2], r[3], r[4] or "", r[5]) for r in rows]

    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- alerts / outbox -----------------------------------------------------------------------
    def add_alert(self, created: float, spg_id: str | None, kind: str, text: str, photo: bytes | None = None,
                  status: str = ALERT_PENDING) -> int:
        with self._tx() as c:
            aid = int(c.execute("INSERT INTO alerts (created, spg_id, kind, text, photo, status) "
                                "VALUES (?, ?, ?, ?, ?, ?)",
                                (created, spg_id, kind, text, photo, status)).lastrowid or 0)
            self._queue(central_outbox.queue_alert, c, aid)
            return aid

    _ALERT_COLS = "id, created, spg_id, kind, text, photo, status, attempts, next_attempt, last_error, sent_at"

    def pending_alerts(self) -> list[AlertRow]:
        rows = self._read(f"SELECT {self._ALERT_COLS} FROM alerts WHERE status = 'pending' ORDER BY id")
        return [AlertRow(*r) for r in rows]

    def alert(self, alert_id: int) -> AlertRow | None:
        rows = self._read(f"SELECT {self._ALERT_COLS} FROM alerts WHERE id = ?", (alert_id,))
        return AlertRow(*rows[0]) if rows else None

    def mark_alert_sent(self, alert_id: int, ts: float, message_id: int | None = None) -> None:
        with self._tx() as c:
            c.execute("UPDATE alerts SET status = 'sent', sent_at = ?, attempts = attempts + 1, message_id = ?, "
                      "last_error = NULL WHERE id = ?", (ts, message_id, alert_id))
            self._queue(central_outbox.queue_alert, c, alert_id)

    def mark_alert_retry(self, alert_id: int, next_attempt: float, error: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE alerts SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?",
                      (next_attempt, error, alert_id))

    def mark_alert_failed(self, alert_id: int, error: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE alerts SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
                      (error, alert_id))
            self._queue(central_outbox.queue_alert, c, alert_id)

    def alerts_between(self, start: float, end: float) -> list[AlertRow]:
        rows = self._read(f"SELECT {self._ALERT_COLS} FROM alerts WHERE created >= ? AND created < ? ORDER BY id",
                          (start, end))
        return [AlertRow(*r) for r in rows]

    # --- queries -------------------------------------------------------------------------------
    @staticmethod
    def _spg_filter(spg_ids: Sequence[str] | None) -> tuple[str, list[str]]:
        if not spg_ids:
            return "", []
        return f" AND spg_id IN ({', '.join('?' * len(spg_ids))})", list(spg_ids)

    def transitions_between(self, start: float, end: float,
                            spg_ids: Sequence[str] | None = None) -> list[TransitionRow]:
        self._flush_for_query()
        extra, args = self._spg_filter(spg_ids)
        rows = self._read("SELECT id, ts, spg_id, from_state, to_state, camera_id, last_seen, alert FROM transitions "
                          f"WHERE ts >= ? AND ts < ?{extra} ORDER BY ts, id", [start, end, *args])
        return [TransitionRow(r[0], r[1], r[2], r[3], r[4], r[5] or "", r[6], bool(r[7])) for r in rows]

    def intervals_between(self, start: float, end: float, spg_ids: Sequence[str] | None = None) -> list[IntervalRow]:
        """Presence intervals overlapping [start, end)."""
        self._flush_for_query()
        extra, args = self._spg_filter(spg_ids)
        rows = self._read("SELECT id, spg_id, start, last_seen, closed FROM intervals "
                          f"WHERE start < ? AND last_seen >= ?{extra} ORDER BY start", [end, start, *args])
        return [IntervalRow(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def hits_between(self, start: float, end: float, spg_ids: Sequence[str] | None = None) -> list[Hit]:
        self._flush_for_query()
        extra, args = self._spg_filter(spg_ids)
        rows = self._read(f"SELECT ts, spg_id, camera_id, similarity FROM hits WHERE ts >= ? AND ts < ?{extra} "
                          "ORDER BY ts", [start, end, *args])
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def prune_hits(self, older_than: float) -> int:
        """Delete hits older than ``older_than`` (wall); transitions, intervals and alerts are kept."""
        self.flush()
        with self._tx() as c:
            return int(c.execute("DELETE FROM hits WHERE ts < ?", (older_than,)).rowcount)

    def forget_face_photos(self, spg_id: str) -> int:
        """Drop the face photos stored with this SPG's alerts (biometric data); the alert texts stay."""
        with self._tx() as c:
            return int(c.execute("UPDATE alerts SET photo = NULL WHERE spg_id = ? AND photo IS NOT NULL",
                                 (spg_id,)).rowcount)

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: "ok" or what is wrong."""
        return str(self._read("PRAGMA integrity_check")[0][0])

    def forget_presence(self, spg_id: str, why: str = "SPG removed from the gallery before it was sent") -> int:
        """The SPG left the gallery: their alerts not yet sent are cancelled (status ``skipped``, face photo
        dropped), their open interval is closed and their presence state row goes, so nothing about them
        resumes after a restart. Attendance history (hits, transitions, intervals) stays. Returns how many
        alerts were cancelled."""
        with self._lock:
            self.flush()
            with self._tx() as c:
                skipped = [r[0] for r in c.execute("SELECT id FROM alerts WHERE spg_id = ? AND status = ?",
                                                   (spg_id, ALERT_PENDING))]
                open_ivs = [r[0] for r in c.execute("SELECT id FROM intervals WHERE spg_id = ? AND closed = 0",
                                                    (spg_id,))]
                n = c.execute("UPDATE alerts SET status = ?, photo = NULL, last_error = ? WHERE spg_id = ? AND "
                              "status = ?", (ALERT_SKIPPED, why, spg_id, ALERT_PENDING)).rowcount
                c.execute("UPDATE intervals SET closed = 1 WHERE spg_id = ? AND closed = 0", (spg_id,))
                for aid in skipped:
                    self._queue(central_outbox.queue_alert, c, aid)
                for iid in open_ivs:
                    self._queue(central_outbox.queue_interval, c, iid)
                c.execute("DELETE FROM spg_state WHERE spg_id = ?", (spg_id,))
                return int(n)

    # --- the outbox towards the central database (core.central.outbox.OutboxSource) ---------------------
    def outbox_instance(self) -> str:
        value = self.get_meta("central_instance")
        if not value:  # a file whose meta row was lost: a new token (its keys cannot clash with the old ones)
            import secrets

            value = secrets.token_hex(8)
            self.set_meta("central_instance", value)
        return value

    def outbox_batch(self, limit: int) -> list[central_outbox.OutboxRow]:
        with self._lock:
            try:
                return central_outbox.read_batch(self.conn, limit)
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from None

    def outbox_done(self, rows: list[central_outbox.OutboxRow]) -> None:
        with self._tx() as c:
            central_outbox.delete_done(c, rows)

    def outbox_waiting(self) -> int:
        return int(self._read("SELECT count(*) FROM central_outbox")[0][0])

    def close(self) -> None:
        """Write what is buffered and close. When that last write fails (read-only file, full disk) the file
        is still closed and the store error says what was not written."""
        with self._lock:
            if self._conn is None:
                return
            try:
                self.flush()
            except EventStoreError as exc:
                n = len(self._hits)
                raise type(exc)(f"{exc} ({n} sighting(s) of the last second were not written)") from None
            finally:
                try:
                    self._conn.close()
                except sqlite3.Error as exc:
                    log.debug("%s: close: %s", self.path, exc)
                self._conn = None


def _v(x: Any) -> str:
    return str(getattr(x, "value", x))


def as_backend(store: EventStore) -> EventBackend:
    """The store through the seam's type (mypy checks here that :class:`EventStore` implements it)."""
    return store
