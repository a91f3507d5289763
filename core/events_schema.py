"""The events database file: schema and migrations, opening it, rescuing a damaged one, naming its errors.

Tables (schema versioned with ``PRAGMA user_version`` and the :data:`MIGRATIONS` list):

* ``hits``         rate-limited sightings (the caller keeps at most one per SPG per camera per interval)
* ``transitions``  every state change of every SPG (kept forever)
* ``intervals``    presence intervals: start (confirmed arrival) .. end (last hit before ABSENT)
* ``alerts``       alerts and their delivery state: the persistent outbox
* ``spg_state``    the current state of every SPG, so presence resumes after a restart
* ``meta``         key/value (heartbeat, last daily summary, ...)
* ``central_outbox`` rows waiting to go up to the brand's central database, in order (v3)

A damaged file is moved aside (``events.db.corrupt-<time>``, never deleted) and every readable row is
copied into a fresh database (:func:`recover`). :func:`store_error` turns any ``sqlite3`` error into the
:class:`core.events_backend.EventStoreError` subclass that says what happened and what to do.
"""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

from core.events_backend import EventStoreCorrupt, EventStoreError, EventStoreFull, EventStoreLocked, EventStoreReadOnly

log = logging.getLogger(__name__)

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
    # v3: the outbox towards the central database (core.central.replicator), written in the same transaction
    # as the rows it carries. ``key`` names the local row ("t:<transition id>", "i:<interval id>",
    # "a:<alert id>"): a row that changes again (an interval growing, an alert delivered) replaces its
    # waiting entry and moves to the end. ``central_instance`` makes the keys unique per events.db at HQ.
    """
    CREATE TABLE IF NOT EXISTS central_outbox (
        id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, payload TEXT NOT NULL,
        queued REAL NOT NULL);
    INSERT OR IGNORE INTO meta (key, value) VALUES ('central_instance', lower(hex(randomblob(8))));
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
TABLES = ("meta", "hits", "transitions", "intervals", "alerts", "spg_state", "central_outbox")

_FULL, _READONLY, _CANTOPEN, _CORRUPT, _NOTADB, _BUSY, _LOCKED, _IOERR = 13, 8, 14, 11, 26, 5, 6, 10
NEARLY_FULL_BYTES = 1 << 20
"""An I/O error with less free space than this on the drive is a full disk."""


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_locked(exc: BaseException) -> bool:
    s = str(exc).lower()
    return _primary_code(exc) in (_BUSY, _LOCKED) or "locked" in s or "busy" in s


def is_corrupt(exc: BaseException) -> bool:
    s = str(exc).lower()
    return _primary_code(exc) in (_CORRUPT, _NOTADB) or "not a database" in s or "malformed" in s or "corrupt" in s


def is_full(exc: BaseException, path: Path | None = None) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if _primary_code(exc) == _FULL or "disk is full" in str(exc).lower():
        return True
    # Growing the -wal / -shm files on a full disk is reported as a plain I/O error.
    return path is not None and (_primary_code(exc) == _IOERR or "disk i/o error" in str(exc).lower()) \
        and _free_bytes(path) < NEARLY_FULL_BYTES


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path.parent).free
    except OSError:
        return NEARLY_FULL_BYTES


def is_read_only(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    s = str(exc).lower()
    return _primary_code(exc) in (_READONLY, _CANTOPEN) or "readonly" in s or "read-only" in s or \
        "unable to open database file" in s


def store_error(path: Path, exc: BaseException) -> EventStoreError:
    """The declared store error for a ``sqlite3`` (or file system) error: a sentence naming the file and
    what to do."""
    if isinstance(exc, EventStoreError):
        return exc
    if is_full(exc, path):
        return EventStoreFull(
            f"{path}: the disk is full, so the events database cannot be written. Free space on that drive "
            f"(old exports, footage, the Recycle Bin); monitoring goes on and what is waiting is written once "
            f"there is room.")
    if is_read_only(exc):
        return EventStoreReadOnly(
            f"{path}: the events database cannot be written (the file, its folder or the drive is read-only). "
            f"Make the data folder writable, or start with another data folder (--data-dir or SPG_DATA_DIR).")
    if is_locked(exc):
        return EventStoreLocked(
            f"{path}: the events database is locked by another program (another console on the same data "
            f"folder, a database viewer). Close it and retry.")
    if is_corrupt(exc):
        return EventStoreCorrupt(f"{path}: the events database is damaged ({exc}).")
    return EventStoreError(f"{path}: database error: {exc}")


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """End a failed transaction. After some errors (a full disk) SQLite has already rolled back, and
    ROLLBACK itself would fail with "no transaction is active", hiding the real error."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.debug("rollback after a failed transaction: %s", exc)


def connect(path: Path, timeout_s: float) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=timeout_s, check_same_thread=False, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    return conn


def open_database(path: Path, timeout_s: float) -> sqlite3.Connection:
    """Open (create) the file in WAL mode with ``synchronous=FULL``, check it and bring its schema up to date.
    Raises ``sqlite3.DatabaseError`` (a damaged file among them) or :class:`EventStoreError` (newer schema)."""
    conn = connect(path, timeout_s)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("%s: WAL journal not available (%s); using the default journal", path, mode)
        conn.execute("PRAGMA synchronous=FULL")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise EventStoreError(
            f"{path}: written by a newer version of the console (schema {version}, this one knows "
            f"{SCHEMA_VERSION}). Update the console or use another data folder.")
    for v in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in MIGRATIONS[v].split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(f"PRAGMA user_version={v + 1}")
            conn.execute("COMMIT")
        except BaseException:
            rollback_quietly(conn)
            raise
        log.info("%s: events schema migrated to v%d", path, v + 1)


def recover(path: Path, reason: str, timeout_s: float) -> tuple[sqlite3.Connection, Path]:
    """Move a damaged file aside, open a fresh one and copy every readable row: (connection, saved file)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            shutil.move(str(src), str(aside) + suffix)
    log.error("%s: the events database is damaged (%s); it was moved to %s and a new one created. "
              "Readable rows are copied over.", path, reason, aside)
    conn = open_database(path, timeout_s)
    copied = salvage(aside, conn)
    log.warning("%s: recovered %d rows from %s", path, copied, aside)
    return conn, aside


def salvage(old: Path, conn: sqlite3.Connection) -> int:
    copied = 0
    try:
        src = sqlite3.connect(f"file:{old}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return 0
    for table in TABLES:
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
                # meta: the old file's values win (its central_instance keeps HQ's keys the same)
                verb = "INSERT OR REPLACE" if table == "meta" else "INSERT OR IGNORE"
                conn.execute(f"{verb} INTO {table} ({', '.join(use)}) VALUES "
                             f"({', '.join('?' * len(use))})", row)
                copied += 1
        except sqlite3.DatabaseError:
            continue
    src.close()
    return copied
